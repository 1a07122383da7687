from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user, login_required

from ..panels import Panels

bp = Blueprint("home", __name__)
DASHBOARD = Panels()


def register_panel(template: str, provide, order: int = 50) -> None:
    """`provide(user)` returns the template context, or None to hide the panel."""
    DASHBOARD.register(template, provide, order)


def init_app(app) -> None:
    app.register_blueprint(bp)


@bp.route("/")
@login_required
def dashboard():
    return render_template("home/dashboard.html", panels=DASHBOARD.shown(current_user))
