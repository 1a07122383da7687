"""Pages for leased devices: the lease overview (/devices), a device's erasure section (also
shown on the item page), and the actions of the erasure workflow."""
from __future__ import annotations

import io
from datetime import date

from flask import (
    Blueprint,
    current_app,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user

from ..auditlog.describe import register_vocabulary
from .. import validation as v
from ..clock import today_jst
from ..destruction.services import storage_destruction_of
from ..errors import Invalid
from ..home.views import register_panel
from ..items.panels import register_item_panel
from ..documents.signing import sign_pdf
from ..items.services import get_visible_item
from ..policy import services as policy
from ..roles import Role
from ..states import Kind, State
from ..web import act, role_required, submit
from ..contractors.services import list_contractors
from . import evidence, report, services, tasks
from .forms import CertificateForm, CertificateRejectForm, ErasureRequestForm
from ..items import storage

bp = Blueprint("devices", __name__)

VIEWERS = (Role.ADMIN, Role.BULK_OPERATOR, Role.SECURITY_MANAGER, Role.AUDITOR)
MANAGERS = (Role.ADMIN, Role.BULK_OPERATOR)


def init_app(app) -> None:
    app.register_blueprint(bp)
    register_vocabulary("method", services.ERASURE_METHODS)
    tasks.register()
    register_item_panel("devices/_item_panel.html", item_panel, order=55)
    register_panel("devices/_dashboard_panel.html", dashboard_panel, order=45)


def _as_of() -> date:
    return v.a_date(request.args.get("as_of"), "基準日", required=False, field="as_of") or today_jst()


@bp.route("/devices")
@role_required(*VIEWERS)
def index():
    as_of = _as_of()
    leases = services.list_devices(as_of)
    return render_template("devices/index.html", leases=leases, as_of=as_of,
                           exceptions=services.list_device_exceptions(as_of),
                           pending=services.pending_certificates(),
                           warning_days=policy.get("device.lease_warning_days"),
                           renewal_years=services.RENEWAL_YEARS)


def _forms(media, refused: dict) -> dict:
    """The section's forms, empty (the certificate's media all ticked), except the one refused
    (with its values and errors)."""
    request_form = refused.get("request_form") or ErasureRequestForm(formdata=None)
    request_form.reason.choices = list(services.REQUEST_REASONS.items())
    certificate_form = refused.get("certificate_form")
    if certificate_form is None:
        certificate_form = CertificateForm(formdata=None)
        certificate_form.media.data = [m.serial for m in media]
    certificate_form.contractor.choices = [(str(c.id), c.name) for c in list_contractors(service="erasure")]
    certificate_form.method.choices = list(services.ERASURE_METHODS.items())
    certificate_form.method_used.choices = list(evidence.METHODS_USED.items())
    certificate_form.media.choices = [(m.serial, f"{m.media_type} {m.serial}") for m in media]
    return {"request_form": request_form, "certificate_form": certificate_form,
            "reject_form": refused.get("reject_form") or CertificateRejectForm(formdata=None)}


def section(item, user, **refused) -> dict:
    """Everything the device's erasure section shows and which actions the user may take;
    `refused`: a form of the section refused, shown again as typed with its errors."""
    status = item.status
    manager = user.has_role(*MANAGERS)
    security = user.has_role(Role.SECURITY_MANAGER)
    certificates = services.certificates_of(item)
    pending = next((c for c in certificates if c.status == State.SUBMITTED.value), None)
    media = storage.media_of(item)
    return {
        "item": item,
        "lease": services.lease_of(item, today_jst()),
        "certificates": certificates,
        "pending": pending,
        "warnings": services.device_warnings(item),
        "storage_destruction": storage_destruction_of(item),
        "required": evidence.storage_destruction_required(),
        "can_request": manager and status == State.IN_SERVICE.value,
        "can_upload": manager and status == State.ERASURE_REQUESTED.value and pending is None,
        "can_decide": security and pending is not None and pending.uploaded_by_id != user.id,
        "decider_is_uploader": security and pending is not None and pending.uploaded_by_id == user.id,
        "can_return": manager and status == State.ERASURE_CERTIFIED.value,
        "can_download": user.has_role(Role.SECURITY_MANAGER, Role.AUDITOR, Role.ADMIN),
        "user_id": user.id,
        "methods": services.ERASURE_METHODS,
        "max_mb": current_app.config["UPLOAD_MAX_BYTES"] // (1024 * 1024),
        "today": today_jst(),
        "media": media,
        "minimum_level": evidence.minimum_level(item),
        "levels": evidence.LEVEL_LABELS,
        "methods_used": evidence.METHODS_USED,
        "lessors": list_contractors(service="leasing"),
        "loads": evidence.loads,
        **_forms(media, refused),
    }


def item_panel(item, user):
    if Kind(item.kind) != Kind.DEVICE:
        return None
    return section(item, user)


@bp.route("/devices/<code>")
@role_required(*VIEWERS)
def device(code: str, status: int = 200, **refused):
    item = get_visible_item(current_user, code)
    if Kind(item.kind) != Kind.DEVICE:
        raise Invalid(f"「{item.code}」はリース機器ではありません。")
    return render_template("devices/device.html", item=item, panel=section(item, current_user, **refused)), status


def _act(code: str, do, success: str):
    return act(do, success, url_for("devices.device", code=code))


def _submit(code: str, form, name: str, do, success: str):
    """One form of the section; refused, the device's page again with that form as typed and each
    error beside its field (a file has to be chosen again: no browser lets a page refill it)."""
    return submit(form, do, success, url_for("devices.device", code=code),
                  lambda status: device(code, status, **{name: form}))


@bp.route("/devices/<code>/erasure-request", methods=["POST"])
@role_required(*MANAGERS)
def erasure_request(code: str):
    form = ErasureRequestForm()
    return _submit(code, form, "request_form",
                   lambda: services.request_erasure(current_user, code, form.reason.data, form.note.data),
                   "消去を依頼しました。業者の消去証明書を受け取ったら登録してください。")


@bp.route("/devices/<code>/certificates", methods=["POST"])
@role_required(*MANAGERS)
def upload(code: str):
    form = CertificateForm()
    return _submit(code, form, "certificate_form",
                   lambda: services.submit_certificate(current_user, code, form.service_data(), *form.upload()),
                   "消去証明書を登録しました。登録者以外のセキュリティ管理者が確認します。")


def _cert_action(cert_id: int, do, success: str):
    cert = services.get_certificate(cert_id)
    return _act(cert.item.code, do, success)


@bp.route("/devices/certificates/<int:cert_id>/accept", methods=["POST"])
@role_required(Role.SECURITY_MANAGER)
def accept(cert_id: int):
    return _cert_action(cert_id, lambda: services.accept_certificate(current_user, cert_id),
                        "消去証明書を受理しました。リース会社へ返却できます。")


@bp.route("/devices/certificates/<int:cert_id>/reject", methods=["POST"])
@role_required(Role.SECURITY_MANAGER)
def reject(cert_id: int):
    form = CertificateRejectForm()
    code = services.get_certificate(cert_id).item.code
    return _submit(code, form, "reject_form",
                   lambda: services.reject_certificate(current_user, cert_id, form.reason.data),
                   "消去証明書を差し戻しました。")


@bp.route("/devices/<code>/return", methods=["POST"])
@role_required(*MANAGERS)
def return_to_lessor(code: str):
    return _act(code, lambda: services.return_to_lessor(current_user, code, request.form.get("contractor") or None),
                "リース会社への返却を記録しました。")


@bp.route("/devices/certificates/<int:cert_id>/file")
@role_required(*VIEWERS)
def certificate_file(cert_id: int):
    cert, data = services.certificate_bytes(current_user, cert_id)
    return send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True,
                     download_name=cert.file.original_name)


@bp.route("/reports/erasure/<code>.pdf")
@role_required(*VIEWERS)
def report_pdf(code: str):
    name, pdf = report.erasure_pdf(current_user, code)
    return send_file(io.BytesIO(sign_pdf(pdf)), mimetype="application/pdf", download_name=name)


def dashboard_panel(user):
    """Leases ending soon or ended without a certificate, and certificates awaiting a check."""
    if not user.has_role(*MANAGERS, Role.SECURITY_MANAGER):
        return None
    today = today_jst()
    leases = services.list_devices(today)
    near = [lease for lease in leases if lease.near_end]
    ended = services.list_device_exceptions(today)
    pending = [c for c in services.pending_certificates() if c.uploaded_by_id != user.id] \
        if user.has_role(Role.SECURITY_MANAGER) else []
    if not (near or ended or pending):
        return None
    return {"near": len(near), "ended": len(ended), "pending": pending[:10], "pending_count": len(pending)}
