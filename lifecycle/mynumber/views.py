"""Pages for 個人番号 copies and the purge runs, the purge job and the `lifecycle purge` command."""
from __future__ import annotations

import unicodedata
from datetime import datetime

import click
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.cli import with_appcontext
from flask_login import current_user

from .. import durations, validation as v
from ..auditlog.describe import person, register_vocabulary
from ..actors import SCHEDULER, CLI as CLI_ACTOR
from ..roles import Role
from ..clock import to_utc_naive, utcnow
from ..errors import DomainError, Gone, Invalid
from ..home.views import register_panel
from ..policy import services as policy
from ..jobs import register_job
from ..web import role_required, show_refusal
from ..wareki import wareki_datetime
from . import services, tasks
from .forms import CopyForm, PurgeForm, RevealForm, RunForm
from .keystore import KeyStore

bp = Blueprint("mynumber", __name__)
TRIGGER_LABELS = {SCHEDULER.login: "自動（スケジューラ）", CLI_ACTOR.login: "コマンド（lifecycle purge）"}


def init_app(app) -> None:
    app.register_blueprint(bp)
    register_vocabulary("rule", services.RULES)
    tasks.register()
    app.extensions["mynumber_keystore"] = KeyStore(app.instance_path)
    register_job(services.JOB, services.JOB_LABEL, services.scheduled_purge,
                 interval=lambda config: int(config["PURGE_INTERVAL_SECONDS"]))
    register_panel("mynumber/_panel_purge_alert.html", _purge_alert_panel, order=5)
    register_panel("mynumber/_panel_copies.html", _copies_panel, order=60)
    app.cli.add_command(purge_command)


@bp.app_template_filter("mynumber_countdown")
def _countdown(value: datetime) -> str:
    return services.countdown(value)


@bp.app_template_filter("mynumber_count")
def _count(value: int) -> str:
    return services.count_text(value)


@bp.app_template_filter("mynumber_rule")
def _rule(value: str) -> str:
    return services.rule_label(value)


@bp.app_template_filter("mynumber_trigger")
def _trigger(value: str) -> str:
    return TRIGGER_LABELS.get(value) or person(value)  # a person's early purge: 名前（所属）


def _purge_alert_panel(user):
    if not user.has_role(Role.ADMIN, Role.AUDITOR, Role.SECURITY_MANAGER):
        return None
    health = services.purge_health()
    return {"health": health} if health.alert else None


def _copies_panel(user):
    if not user.has_role(Role.BULK_OPERATOR, Role.SECURITY_MANAGER):
        return None
    _rows, total = services.list_copies(user, per_page=1)
    return {"total": total}


def _field_error(form, exc: DomainError) -> None:
    target = getattr(form, getattr(exc, "field", None) or "", None)
    if target is not None and hasattr(target, "errors"):
        target.errors = [exc.message]
    else:
        flash(exc.message, "error")


def _page(page_arg) -> int:
    try:
        return max(1, min(int(page_arg or 1), 10**6))
    except ValueError:
        return 1


@bp.route("/my-number-copies", methods=["GET", "POST"])
@role_required(*services.VIEWERS)
def index():
    form = CopyForm()
    status = 200
    if request.method == "POST" and form.validate_on_submit():
        try:
            copy = services.record_copy(current_user, {
                "my_number": form.my_number.data, "provided_to": form.provided_to.data,
                "reason": form.reason.data, "retain_amount": form.retain_amount.data,
                "retain_unit": form.retain_unit.data})
        except Invalid as exc:
            show_refusal(form, exc)
            status = 422
        else:
            flash(f"個人番号（{copy.masked}）を暗号化して一時保存しました。"
                  f"{wareki_datetime(copy.purge_after)}に自動的に消去されます。", "success")
            return redirect(url_for("mynumber.copy", copy_id=copy.id))
    form.my_number.data = ""  # what was typed is never sent back, not even after a refusal
    page = _page(request.args.get("page"))
    rows, total = services.list_copies(current_user, page=page, per_page=50)
    return render_template("mynumber/index.html", form=form, rows=rows, total=total, page=page,
                           per_page=50, deletions=services.list_deletions(current_user),
                           may_record=current_user.has_role(Role.BULK_OPERATOR),
                           default_period=durations.text(policy.get("mynumber.default_minutes")),
                           max_period=durations.text(policy.get("mynumber.max_minutes"))), status


def _copy_page(copy_id: int, *, revealed: str | None = None, reveal_form=None, purge_form=None,
               status: int = 200):
    try:
        copy = services.get_copy(current_user, copy_id)
    except Gone:
        return _purged_page(copy_id)
    return render_template("mynumber/copy.html", copy=copy, revealed=revealed,
                           reveal_form=reveal_form or RevealForm(formdata=None),
                           purge_form=purge_form or PurgeForm(formdata=None),
                           may_reveal=current_user.has_role(Role.SECURITY_MANAGER),
                           may_purge=current_user.has_role(Role.BULK_OPERATOR, Role.SECURITY_MANAGER),
                           now=utcnow()), status


def _purged_page(copy_id: int):
    deletion = services.get_deletion(current_user, copy_id)
    return render_template("mynumber/purged.html", deletion=deletion), 410


@bp.route("/my-number-copies/<int:copy_id>")
@role_required(*services.VIEWERS)
def copy(copy_id: int):
    return _copy_page(copy_id)


@bp.route("/my-number-copies/<int:copy_id>/reveal", methods=["POST"])
@role_required(Role.SECURITY_MANAGER)
def reveal(copy_id: int):
    form = RevealForm()
    if not form.validate_on_submit():
        return _copy_page(copy_id, reveal_form=form, status=400)
    try:
        number = services.reveal_copy(current_user, copy_id, form.reason.data)
    except Gone:
        return _purged_page(copy_id)
    except Invalid as exc:
        _field_error(form, exc)
        return _copy_page(copy_id, reveal_form=form, status=422)
    # Shown in this response only: no redirect, nothing in the URL, and Cache-Control: no-store.
    grouped = " ".join(number[i:i + 4] for i in range(0, 12, 4))
    return _copy_page(copy_id, revealed=grouped, reveal_form=RevealForm(formdata=None))


@bp.route("/my-number-copies/<int:copy_id>/purge", methods=["POST"])
@role_required(Role.BULK_OPERATOR, Role.SECURITY_MANAGER)
def purge(copy_id: int):
    form = PurgeForm()
    if not form.validate_on_submit():
        return _copy_page(copy_id, purge_form=form, status=400)
    try:
        deletion = services.purge_copy(current_user, copy_id, form.reason.data)
    except Gone:
        return _purged_page(copy_id)
    except Invalid as exc:
        _field_error(form, exc)
        return _copy_page(copy_id, purge_form=form, status=422)
    flash(f"個人番号の一時保存 第{deletion.copy_id}号を消去しました（早期消去）。", "success")
    return redirect(url_for("mynumber.index"))


@bp.route("/admin/purge-runs")
@role_required(Role.ADMIN, Role.AUDITOR)
def purge_runs():
    return render_template("mynumber/purge_runs.html", health=services.purge_health(),
                           runs=services.recent_runs(current_user), form=RunForm(formdata=None),
                           may_run=current_user.has_role(Role.ADMIN))


@bp.route("/admin/purge-runs/run", methods=["POST"])
@role_required(Role.ADMIN)
def purge_run_now():
    if RunForm().validate_on_submit():
        try:
            result, _run = services.run_purge(current_user, rule="manual")
        except DomainError as exc:
            flash(exc.message, "error")
        except Exception:  # already logged and recorded as a failed run
            flash("自動消去の実行に失敗しました。実行状況を確認してください。", "error")
        else:
            flash(f"自動消去を実行しました（消去 {result.purged} 件）。", "success")
    return redirect(url_for("mynumber.purge_runs"))


def _parse_as_of(_ctx, _param, value):
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", value).strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter("ISO 8601 の日時で指定してください（例: 2026-11-30T09:00:00+09:00。"
                                 "時差を省くと日本時間）。") from None
    try:
        v.a_date(moment.date(), "基準日時")  # 0001-01-01 or 9999-12-31 would overflow the UTC shift
    except DomainError as exc:
        raise click.BadParameter(exc.message) from None
    return to_utc_naive(moment)


@click.command("purge")
@click.option("--as-of", "as_of", callback=_parse_as_of, metavar="TIMESTAMP",
              help="purge every copy due by this time (default: now); an earlier time still purges what is due now")
@with_appcontext
def purge_command(as_of):
    """Runs the 個人番号 purge now and prints `purged N`."""
    try:
        result, _run = services.run_purge(CLI_ACTOR, as_of=as_of, rule="manual")
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    except Exception as exc:
        raise click.ClickException(f"消去に失敗しました（{type(exc).__name__}）。実行状況に記録しました。") from None
    click.echo(f"purged {result.purged}")
