"""Pages of the custody chain: the hand-off inbox, the hand-off and media sections of the item
page, the dashboard panels, the custody report, the daily exceptions job and its CLI command."""
from __future__ import annotations

import click
from flask import Blueprint, Response, flash, g, jsonify, redirect, render_template, request, url_for
from flask.cli import AppGroup
from flask_login import current_user

from ..auditlog.describe import register_vocabulary
from .. import states, validation as v
from ..actors import CLI as CLI_ACTOR
from ..roles import Role
from ..clock import today_jst
from ..errors import DomainError, Invalid
from ..home.views import register_panel
from ..items.panels import register_item_panel
from ..items.queries import row_overdue
from ..items.services import register_visibility_rule
from ..items.views import show as item_page
from ..documents.signing import sign_pdf
from ..jobs import register_job
from ..states import Kind, State
from ..web import flash_refusal, role_required, safe_next, show_refusal, submit
from ..wareki import wareki_date
from . import report, services, tasks
from .forms import AcceptForm, ProvideForm, ReasonForm, RejectForm, ReturnForm, TransferForm

bp = Blueprint("custody", __name__)


def init_app(app) -> None:
    app.register_blueprint(bp)
    register_vocabulary("exception", services.EXCEPTION_KINDS)
    tasks.register()
    register_visibility_rule(services.is_pending_receiver)
    register_panel("custody/_panel_handoffs.html", _handoffs_panel, order=10)
    register_panel("custody/_panel_overdue.html", _overdue_panel, order=20)
    register_item_panel("custody/_item_transfer.html", _transfer_section, order=20)
    register_item_panel("custody/_item_medium.html", _medium_section, order=30)
    register_item_panel("custody/_item_report.html", _report_section, order=90)
    register_job(services.JOB, services.JOB_LABEL, services.scheduled_scan,
                 interval=lambda config: int(config.get("EXCEPTION_SCAN_INTERVAL_SECONDS", 86400)))
    app.cli.add_command(exceptions_group)


def _back(default: str) -> str:
    """Where the form came from (the dashboard, the inbox or the item page)."""
    return safe_next(request.form.get("next"), default)


def _transfer_line(transfer) -> str:
    return f"{transfer.item.code}「{transfer.item.title}」"


# --- dashboard and item-page sections -------------------------------------------------------

def _handoffs_panel(user):
    if not services.may_hold(user):
        return None
    return {"incoming": services.incoming_transfers(user, limit=20),
            "outgoing": services.outgoing_transfers(user, limit=20)}


def _overdue_panel(user):
    if not (user.effective_roles and (user.department.is_system_owner or user.has_role(Role.AUDITOR))):
        return None
    summary = services.overdue_summary()
    return {"summary": summary, "media": services.overdue_media(summary.as_of, limit=10)}


def _receiver_choices(user) -> dict:
    groups: dict[str, list[tuple[str, str]]] = {}
    for receiver in services.eligible_receivers(user):
        groups.setdefault(receiver.department_name, []).append(
            (receiver.login, f"{receiver.name}（{receiver.department_name}）"))  # 名前（所属）, as everywhere
    return groups


def _transfer_section(item, user):
    if item.kind == Kind.DEVICE or not getattr(user, "is_authenticated", False):
        return None
    if item.status == State.IN_TRANSFER:
        transfer = services.pending_transfer(item)
        if transfer is None:
            return None
        refused = g.get("refused_reject")
        return {"item": item, "transfer": transfer, "is_receiver": transfer.receiver_id == user.id,
                "is_giver": transfer.giver_id == user.id, "accept_form": AcceptForm(formdata=None),
                "reason_form": ReasonForm(formdata=None),
                "reject_form": refused[1] if refused and refused[0] == transfer.id else RejectForm(formdata=None),
                "form": None}
    if item.holder_id != user.id or not services.may_hold(user) or not states.can(item.kind, item.status, State.IN_TRANSFER):
        return None
    return {"item": item, "transfer": None,
            "receivers": _receiver_choices(user),
            "form": g.get("refused_transfer_form") or TransferForm(formdata=None)}


def _medium_section(item, user):
    if item.kind != Kind.MEDIUM or not user.has_role(Role.BULK_OPERATOR) \
            or not user.department.is_system_owner:
        return None
    if states.can(item.kind, item.status, State.PROVIDED):
        form = ProvideForm(formdata=None, recipient=item.recipient)
        return {"item": item, "mode": "provide", "form": form, "today": today_jst()}
    if item.status == State.PROVIDED:
        return {"item": item, "mode": "return", "form": ReturnForm(formdata=None),
                "overdue": row_overdue(item, today_jst()), "today": today_jst()}
    return None


def _report_section(item, user):
    return {"item": item}


# --- pages and actions ----------------------------------------------------------------------

@bp.route("/custody")
@role_required(*services.CUSTODY_ROLES)
def inbox(status: int = 200, refused: tuple[int, RejectForm] | None = None):
    """`refused`: a hand-off whose sending back was refused, with its form (reason and error)."""
    return render_template("custody/inbox.html",
                           incoming=services.incoming_transfers(current_user),
                           outgoing=services.outgoing_transfers(current_user),
                           recent=services.recent_transfers(current_user),
                           accept_form=AcceptForm(formdata=None), reason_form=ReasonForm(formdata=None),
                           refused=refused), status


@bp.route("/custody/items/<code>/transfer", methods=["POST"])
@role_required(*services.CUSTODY_ROLES)
def request_transfer(code: str):
    form = TransferForm()
    back = _back(url_for("items.show", code=code))
    if not form.validate_on_submit():
        flash("フォームの送信内容を確認できませんでした。ページを読み込み直してください。", "error")
        return redirect(back)
    try:
        transfer = services.request_transfer(current_user, code, form.to.data, form.note.data)
    except Invalid as exc:
        # The item page again, with the receiver and the note as typed and each refusal beside its
        # field; g carries the form to the hand-off section for this one response only.
        show_refusal(form, exc)
        g.refused_transfer_form = form
        return item_page(code), 422
    except DomainError as exc:
        flash_refusal(exc)
        return redirect(back)
    flash(f"{_transfer_line(transfer)}を「{transfer.receiver.name}」さん（{transfer.receiver_department.name}）"
          "へ引き継ぎました。受領されるまでは、引き続きあなたが保管責任者です。", "success")
    return redirect(back)


def _resolve(transfer_id: int, action, form_cls, message: str, **fields):
    form = form_cls()
    back = _back(url_for("custody.inbox"))
    if not form.validate_on_submit():
        flash("フォームの送信内容を確認できませんでした。ページを読み込み直してください。", "error")
        return redirect(back)
    try:
        transfer = action(current_user, transfer_id, **{k: getattr(form, f).data for k, f in fields.items()})
    except DomainError as exc:
        flash_refusal(exc)
        return redirect(back)
    flash(message.format(item=_transfer_line(transfer), giver=transfer.giver.name,
                         receiver=transfer.receiver.name), "success")
    return redirect(back)


@bp.route("/custody/transfers/<int:transfer_id>/accept", methods=["POST"])
@role_required(*services.CUSTODY_ROLES)
def accept(transfer_id: int):
    return _resolve(transfer_id, services.accept_transfer, AcceptForm,
                    "{item}を受領しました。保管者はあなたになりました。", location="location")


@bp.route("/custody/transfers/<int:transfer_id>/reject", methods=["POST"])
@role_required(*services.CUSTODY_ROLES)
def reject(transfer_id: int):
    form = RejectForm()
    back = _back(url_for("custody.inbox"))

    def again(status: int):
        """A reason refused (none given…): the page the form was on, the message beside the field."""
        if status == 422:
            if back == url_for("custody.inbox"):
                return inbox(status, (transfer_id, form))
            code = services.get_transfer(current_user, transfer_id).item.code
            if back == url_for("items.show", code=code):
                g.refused_reject = (transfer_id, form)
                return item_page(code), status
        return redirect(back)

    return submit(form, lambda: services.reject_transfer(current_user, transfer_id, form.reason.data),
                  lambda transfer: f"{_transfer_line(transfer)}の引継ぎを差し戻しました。"
                                   f"保管者は「{transfer.giver.name}」さんのままです。",
                  back, again)


@bp.route("/custody/transfers/<int:transfer_id>/cancel", methods=["POST"])
@role_required(*services.CUSTODY_ROLES)
def cancel(transfer_id: int):
    return _resolve(transfer_id, services.cancel_transfer, ReasonForm,
                    "{item}の引継ぎを取り消しました。", reason="reason")


@bp.route("/custody/items/<code>/provide", methods=["POST"])
@role_required(Role.BULK_OPERATOR)
def provide(code: str):
    form = ProvideForm()
    back = _back(url_for("items.show", code=code))
    if form.validate_on_submit():
        try:
            item = services.provide_medium(current_user, code, form.recipient.data, form.due_back.data)
        except DomainError as exc:
            flash_refusal(exc)
        else:
            flash(f"媒体 {item.code} を「{item.recipient}」へ提供しました。"
                  f"返却予定日は{wareki_date(item.due_back)}です。", "success")
    return redirect(back)


@bp.route("/custody/items/<code>/return", methods=["POST"])
@role_required(Role.BULK_OPERATOR)
def return_(code: str):
    back = _back(url_for("items.show", code=code))
    if ReturnForm().validate_on_submit():
        try:
            item = services.return_medium(current_user, code)
        except DomainError as exc:
            flash_refusal(exc)
        else:
            flash(f"媒体 {item.code} の返却を記録しました。保存期限（廃棄の期限）は"
                  f"{wareki_date(item.retention_until)}です。", "success")
    return redirect(back)


@bp.route("/reports/custody/<code>.pdf")
@role_required(*Role)
def report_pdf(code: str):
    pdf = sign_pdf(report.custody_pdf(current_user, code))
    name = code.replace('"', "")[:20]
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="custody-{name}.pdf"'})


@bp.route("/reports/custody/<code>.json")
@role_required(*Role)
def report_json(code: str):
    response = jsonify(report.custody_json(current_user, code))
    name = code.replace('"', "")[:20]
    response.headers["Content-Disposition"] = f'attachment; filename="custody-{name}.json"'
    return response


# --- command line ---------------------------------------------------------------------------

exceptions_group = AppGroup("exceptions", help="返却期限・保存期限の超過（custody exceptions）.")


def _parse_day(_ctx, _param, value):
    try:
        return v.a_date(value, "基準日", required=False)
    except DomainError as exc:
        raise click.BadParameter(exc.message) from None


@exceptions_group.command("scan")
@click.option("--as-of", "as_of", callback=_parse_day, metavar="DATE",
              help="the day to judge by (default: today in Japan)")
def exceptions_scan(as_of):
    """Records overdue media and items past their retention deadline, as the daily job does."""
    try:
        result = services.scan_exceptions(CLI_ACTOR, as_of)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"recorded {result.recorded} resolved {result.resolved} open {result.open} "
               f"as of {result.as_of.isoformat()}")
