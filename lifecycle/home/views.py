from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from flask import Blueprint, render_template
from flask_login import current_user, login_required

bp = Blueprint("home", __name__)


@dataclass(frozen=True)
class Panel:
    """A dashboard panel: `provide(user)` returns the template context, or None to hide it."""
    template: str
    provide: Callable
    order: int = 50


PANELS: list[Panel] = []


def register_panel(template: str, provide: Callable, order: int = 50) -> None:
    if not any(p.template == template for p in PANELS):
        PANELS.append(Panel(template, provide, order))
        PANELS.sort(key=lambda p: p.order)


def init_app(app) -> None:
    app.register_blueprint(bp)


@bp.route("/")
@login_required
def dashboard():
    panels = []
    for panel in PANELS:
        context = panel.provide(current_user)
        if context is not None:
            panels.append((panel.template, context))
    return render_template("home/dashboard.html", panels=panels)
