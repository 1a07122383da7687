"""Pages of the destruction workflow: the batch list with its create form, the batch page, the
witness / cancel / certificate actions, the certificate download and the 廃棄記録書 PDF."""
from __future__ import annotations

import io

from flask import (Blueprint, current_app, flash, redirect, render_template, request, send_file,
                   url_for)
from flask_login import current_user

from ..auditlog.describe import register_vocabulary
from ..roles import Role
from ..errors import DomainError
from ..home.views import register_panel
from ..items.panels import register_item_panel
from ..documents.signing import sign_pdf
from ..clock import today_jst
from ..states import Kind, State
from ..web import act, flash_refusal, role_required
from ..contractors.services import list_contractors, register_exception_rule
from . import report, services, tasks
from .din import level_text
from .forms import DEFAULTS_TEXT, METHOD_CHOICES, level_choices, selected_codes

bp = Blueprint("destruction", __name__)

VIEWERS = (Role.REGISTRAR, Role.BULK_OPERATOR, Role.SECURITY_MANAGER, Role.AUDITOR, Role.ADMIN)
CREATORS = (Role.REGISTRAR, Role.BULK_OPERATOR, Role.SECURITY_MANAGER)
STATUS_FILTERS = (State.AWAITING_WITNESS.value, State.COMPLETED.value, State.CANCELLED.value)


def init_app(app) -> None:
    app.register_blueprint(bp)
    register_vocabulary("method", services.METHOD_LONG)
    register_vocabulary("material", services.MATERIAL_LABELS)
    tasks.register()
    register_item_panel("destruction/_item_panel.html", item_panel, order=60)
    register_panel("destruction/_dashboard_panel.html", dashboard_panel, order=40)
    register_exception_rule(services.late_pulping_certificates)

    @app.context_processor
    def destruction_helpers():
        return {"method_label": services.METHOD_LABELS.get,
                "din_text": level_text}


def _resolve(payload: str):
    return current_app.extensions["label_signer"].verify(payload)


@bp.route("/destructions")
@role_required(*VIEWERS)
def index():
    codes, forged = selected_codes(request.args, _resolve)
    if forged:
        services.note_forged_labels(current_user, forged)
        flash("読み取ったラベルは本システムが発行したものではありません（偽造または改変の疑い）。"
              "対象に加えていません。", "error")
    return _render_index(codes)


def _render_index(codes: list[str], values: dict | None = None, status: int = 200):
    status_filter = request.args.get("status") if request.args.get("status") in STATUS_FILTERS else None
    may_create = current_user.has_role(*CREATORS)
    selection = services.preview_selection(current_user, codes) if may_create else []
    return render_template(
        "destruction/index.html",
        batches=services.list_batches(current_user, status=status_filter),
        status_filter=status_filter, status_filters=STATUS_FILTERS,
        selection=selection,
        codes=codes, may_create=may_create, values=values or {},
        method_choices=METHOD_CHOICES, level_choices=level_choices(selection), defaults_text=DEFAULTS_TEXT,
        material_labels=services.MATERIAL_LABELS,
        contractors=[c for c in list_contractors() if {"pulping", "erasure"} & set(c.service_keys)]
        if may_create else []), status


@bp.route("/destructions", methods=["POST"])
@role_required(*CREATORS)
def create():
    form = request.form
    codes = [c for c in form.getlist("codes") if c]
    values = {k: form.get(k, "") for k in ("method", "din_level", "place", "planned_on", "contractor")}
    try:
        batch = services.create_batch(current_user, items=codes, method=values["method"],
                                      din_level=values["din_level"], place=values["place"],
                                      planned_on=values["planned_on"] or None,
                                      contractor=values["contractor"] or None)
    except DomainError as exc:
        flash_refusal(exc)
        return _render_index(list(dict.fromkeys(c.strip().upper()[:20] for c in codes))[:500], values,
                             exc.status)
    flash(f"廃棄「{batch.code}」を申請しました（{len(batch.entries)}件）。"
          "セキュリティ管理者（申請者以外）の立会いを受けてください。", "success")
    return redirect(url_for("destruction.batch", batch_id=batch.id))


@bp.route("/destructions/<int:batch_id>")
@role_required(*VIEWERS)
def batch(batch_id: int):
    found = services.get_visible_batch(current_user, batch_id)
    user = current_user
    return render_template(
        "destruction/batch.html", batch=found, material_labels=services.MATERIAL_LABELS,
        method_long=services.METHOD_LONG,
        can_witness=services.may_witness(user, found),
        witness_warnings=services.witness_warnings(found, today_jst()),
        creator_is_security=(found.status == State.AWAITING_WITNESS.value and found.created_by_id == user.id
                             and user.has_role(Role.SECURITY_MANAGER)),
        can_cancel=services.may_cancel(user, found),
        can_attach=services.may_attach(user, found),
        can_accept_certificate=(found.certificate_to_accept and user.has_role(Role.SECURITY_MANAGER)
                                and found.certificate.uploaded_by_id != user.id),
        can_download=services.may_download_certificate(user, found),
        max_mb=current_app.config["UPLOAD_MAX_BYTES"] // (1024 * 1024))


def _action(batch_id: int, do, success: str):
    return act(do, lambda done: success.format(code=done.code), url_for("destruction.batch", batch_id=batch_id))


@bp.route("/destructions/<int:batch_id>/witness", methods=["POST"])
@role_required(Role.SECURITY_MANAGER)
def witness(batch_id: int):
    try:
        done = services.witness_batch(current_user, batch_id)
    except DomainError as exc:
        flash_refusal(exc)
    else:
        if done.method == "pulp":
            flash(f"廃棄「{done.code}」の立会いを記録しました。対象は溶解証明書の受理を待っています（溶解証明待ち）。",
                  "success")
        else:
            flash(f"廃棄「{done.code}」の立会いを記録しました。対象はすべて廃棄済みになりました。", "success")
        for warning in services.witness_warnings(done, today_jst()):  # allowed, but said
            flash(warning, "warning")
    return redirect(url_for("destruction.batch", batch_id=batch_id))


@bp.route("/destructions/<int:batch_id>/cancel", methods=["POST"])
@role_required(*VIEWERS)
def cancel(batch_id: int):
    return _action(batch_id, lambda: services.cancel_batch(current_user, batch_id, request.form.get("reason")),
                   "廃棄「{code}」を取り消しました。対象は保管中に戻りました。")


@bp.route("/destructions/<int:batch_id>/certificate", methods=["POST"])
@role_required(*VIEWERS)
def certificate(batch_id: int):
    upload = request.files.get("file")
    return _action(batch_id, lambda: services.attach_certificate(
        current_user, batch_id, upload.stream if upload and upload.filename else None,
        upload.filename if upload else None), "廃棄「{code}」に証明書を添付しました。")


@bp.route("/destructions/<int:batch_id>/certificate/accept", methods=["POST"])
@role_required(Role.SECURITY_MANAGER)
def accept_certificate(batch_id: int):
    return _action(batch_id, lambda: services.accept_pulping_certificate(current_user, batch_id),
                   "廃棄「{code}」の溶解証明書を受理しました。対象はすべて廃棄済みになりました。")


@bp.route("/destructions/<int:batch_id>/certificate")
@role_required(*VIEWERS)
def certificate_file(batch_id: int):
    found, data = services.certificate_bytes(current_user, batch_id)
    return send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True,
                     download_name=found.certificate.original_name)


@bp.route("/reports/destruction/<int:batch_id>.pdf")
@role_required(*VIEWERS)
def report_pdf(batch_id: int):
    name, pdf = report.destruction_pdf(current_user, batch_id)
    return send_file(io.BytesIO(sign_pdf(pdf)), mimetype="application/pdf", download_name=name)


# --- sections on other pages ------------------------------------------------------------------

def item_panel(item, user):
    """The item page: the batches the item was in, and a way into a new batch."""
    batches = services.batches_of(item)
    eligible = False
    if user.has_role(*CREATORS):
        eligible = services.selection_row(user, item, batches).problem is None
    if not batches and not eligible:
        return None
    return {"batches": batches, "eligible": eligible, "item": item,
            "is_device": Kind(item.kind) == Kind.DEVICE}


def dashboard_panel(user):
    """Security managers see what awaits their witness; creators see their open batches. Both
    see the 溶解 whose certificate is late (an exception): the creator attaches it, a security
    manager accepts it."""
    if user.has_role(Role.SECURITY_MANAGER):
        waiting = [b for b in services.list_batches(user, status=State.AWAITING_WITNESS.value)
                   if b.created_by_id != user.id]
        late = [b for b in services.late_pulping_batches(today_jst()) if services.may_view(user, b)]
        return {"title": "立会い待ちの廃棄", "batches": waiting[:10], "count": len(waiting),
                "empty": "立会い待ちの廃棄はありません。", "late": late[:10], "late_count": len(late)}
    if user.has_role(*CREATORS):
        mine = [b for b in services.list_batches(user, status=State.AWAITING_WITNESS.value)
                if b.created_by_id == user.id]
        late = services.late_pulping_batches(today_jst(), created_by_id=user.id)
        if not mine and not late:
            return None
        return {"title": "申請中の廃棄（立会い待ち）", "batches": mine[:10], "count": len(mine),
                "empty": "立会い待ちの申請はありません。",
                "late": late[:10], "late_count": len(late)}
    return None

