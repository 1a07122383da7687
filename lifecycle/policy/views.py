"""The admin page of the retention and destruction policies (保存期間ポリシー)."""
from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from .. import durations
from ..roles import Role
from ..errors import DomainError, Invalid
from ..extensions import db
from ..web import flash_refusal, role_required
from . import services
from .models import PolicySetting

#: Its own blueprint (the admin one is registered before domain packages are imported); the
#: URL sits with the other admin pages and admin/_tabs.html links it by this endpoint name.
bp = Blueprint("policy", __name__)


def init_app(app) -> None:
    app.register_blueprint(bp)


def _value_text(policy, value) -> str:
    if isinstance(policy.default, bool):
        return "有効" if value else "無効"
    if policy.is_period:
        return durations.text(value)
    return f"{value}{policy.unit}"


@dataclass(frozen=True)
class Refused:
    """A row's change refused: the page shows the values typed and the message beside them."""
    key: str
    value: str
    unit: str | None
    message: str


@bp.route("/admin/policies", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def policies():
    form = FlaskForm()  # the CSRF token only; each row posts its key and value
    status, refused = 200, None
    if request.method == "POST":
        key = request.form.get("key", "")
        if form.validate():
            try:
                value = services.set_policy(current_user, key, request.form.get("value", ""),
                                            unit=request.form.get("unit"))
            except Invalid as exc:
                # One value (and its unit) per row: its message beside it, the value typed kept.
                refused = Refused(key, request.form.get("value", ""), request.form.get("unit"), exc.message)
                if key not in services.POLICIES:
                    flash(exc.message, "error")
                else:
                    flash(f"入力内容を確認してください（{services.POLICIES[key].label}）。", "error")
                status = exc.status
            except DomainError as exc:
                flash_refusal(exc)
                status = exc.status
            else:
                policy = services.POLICIES[key]
                flash(f"「{policy.label}」を{_value_text(policy, value)}に変更しました。", "success")
                return redirect(url_for("policy.policies"))
        else:
            flash("フォームの有効期限が切れました。もう一度操作してください。", "error")
            status = 400
    rows = []
    values = services.all_values()
    settings = {policy.key: db.session.get(PolicySetting, policy.key) for policy, _value in values}
    for policy, value in values:
        setting = settings[policy.key]
        mine = refused if refused is not None and refused.key == policy.key else None
        period = durations.split(value) if policy.is_period else None
        if mine and period:
            period = (mine.value, mine.unit or period[1])
        rows.append({"policy": policy, "value": mine.value if mine else value,
                     "text": _value_text(policy, value),
                     "default": _value_text(policy, policy.default), "setting": setting,
                     "updated_by": setting.updated_by if setting else "",
                     "is_bool": isinstance(policy.default, bool),
                     "period": period, "error": mine.message if mine else None,
                     "is_int": isinstance(policy.default, int) and not isinstance(policy.default, bool)})
    return render_template("admin/policies.html", rows=rows, form=form,
                           period_units=durations.UNIT_CHOICES), status
