"""Leased devices: erasure request, the vendor's certificate and its check, return to the lessor.

Requests and uploads are for an admin or a bulk operator (市町課 manages the leases); the
certificate is then checked by a security manager who did not upload it, so that no single
person can both claim and confirm that a device is clean.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date

from sqlalchemy import exists, select

from .. import files, states, validation as v
from ..actors import Actor
from ..audit.events import EventType
from ..audit.services import record_event
from ..roles import require_role, Role
from ..clock import iso, today_jst, utcnow
from ..db import row_id
from ..files import FileIntegrityError, record_integrity_failure
from ..destruction.services import refuse_initialisation, storage_destruction_of
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..extensions import db
from ..items.models import Item
from ..items.services import describe, get_item
from ..policy import services as policy
from ..states import Kind, State
from . import evidence
from .models import ErasureCertificate
from ..wareki import wareki_date

ERASURE_METHODS = {"clear": "Clear（上書き消去）", "purge": "Purge（暗号消去・完全消去）",
                   "destroy": "Destroy（物理破壊）"}
REQUEST_REASONS = {"lease_end": "リース満了", "replacement": "機器の更新・入替え", "failure": "故障による交換"}
RENEWAL_YEARS = 6  #: J-LIS standard cycle for 住基ネット equipment
FAILED_RESULTS = ("fail", "failed", "ng", "不合格", "失敗", "エラー", "error", "未完了")


def _device(code) -> Item:
    item = get_item(code)
    db.session.refresh(item)
    if Kind(item.kind) != Kind.DEVICE:
        raise Invalid(f"{describe(item)}はリース機器ではありません。", code="not_a_device")
    return item


def _may_manage(actor: Actor) -> None:
    require_role(actor, Role.ADMIN, Role.BULK_OPERATOR,
                 message="リース機器の消去依頼・証明書の登録・返却は、システム管理者または一括利用担当（市町課）が行います。")


def get_certificate(cert_id) -> ErasureCertificate:
    key = row_id(cert_id)
    cert = db.session.scalar(select(ErasureCertificate).where(ErasureCertificate.id == key)
                             .execution_options(populate_existing=True)) if key else None
    if cert is None:
        raise NotFound(f"消去証明書「{cert_id}」の登録はありません。", code="unknown_certificate")
    return cert


def certificates_of(item: Item) -> list[ErasureCertificate]:
    return list(db.session.scalars(select(ErasureCertificate).where(ErasureCertificate.item_id == item.id)
                                   .order_by(ErasureCertificate.id)))


def accepted_certificate(item: Item) -> ErasureCertificate | None:
    return db.session.scalar(select(ErasureCertificate).where(
        ErasureCertificate.item_id == item.id, ErasureCertificate.status == State.ACCEPTED.value)
        .order_by(ErasureCertificate.id.desc()).limit(1))




# --- actions ----------------------------------------------------------------------------------

def request_erasure(actor: Actor, code, reason: str | None = None, note: str | None = None) -> Item:
    """The lease ends or the device is replaced: the vendor is to erase it."""
    with db.transaction():
        _may_manage(actor)
        item = _device(code)
        errors = v.FieldErrors()
        reason = errors.check("reason", _request_reason, reason)
        note = errors.check("note", v.text, note, "備考", max_len=500, required=False, field="note", multiline=True)
        errors.raise_any()
        states.transition(item, State.ERASURE_REQUESTED, actor=actor, event=EventType.ERASURE_REQUESTED,
                          reason=REQUEST_REASONS[reason], note=note)
        return item


def _request_reason(reason) -> str:
    if reason in (None, ""):
        return "lease_end"
    if not isinstance(reason, str) or reason not in REQUEST_REASONS:  # 0 or [] is not "omitted"
        raise Invalid("消去依頼の理由は lease_end・replacement・failure のいずれかです。", field="reason")
    return reason


def _erasure_method(value) -> str:
    refuse_initialisation(value)
    method = unicodedata.normalize("NFKC", str(value or "")).strip().lower()
    if method not in ERASURE_METHODS:
        raise Invalid("消去方法（NIST SP 800-88）は clear・purge・destroy のいずれかを指定してください。",
                      code="invalid_method", field="method")
    return method


def _performed_on(value, item: Item) -> date:
    performed_on = v.a_date(value, "消去実施日", field="performed_on")
    if performed_on > today_jst():
        raise Invalid("消去実施日に未来の日付は指定できません。", field="performed_on")
    if item.lease_start and performed_on < item.lease_start:
        raise Invalid("消去実施日がリース開始日より前です。", field="performed_on")
    return performed_on


def _verification_result(value) -> str | None:
    result = v.text(value, "検証結果", max_len=200, required=False, field="verification_result")
    if result and result.strip().lower() in FAILED_RESULTS:
        raise Invalid("検証結果が不合格の消去証明書は受け付けられません。消去をやり直してもらってください。",
                      code="verification_failed", field="verification_result")
    return result


def submit_certificate(actor: Actor, code, data: dict, stream, filename) -> ErasureCertificate:
    """Registers the vendor's certificate (PDF and its fields) for a security manager to check."""
    with db.transaction() as session:
        _may_manage(actor)
        item = _device(code)
        if item.status != State.ERASURE_REQUESTED.value:
            raise Conflict(f"{describe(item)}は現在「{states.label(item.status)}」です。消去証明書は、"
                           "消去依頼中の機器にだけ登録できます。", code="invalid_transition",
                           current_state=item.status)
        pending = session.scalar(select(ErasureCertificate.id).where(
            ErasureCertificate.item_id == item.id, ErasureCertificate.status == State.SUBMITTED.value))
        if pending is not None:
            raise Conflict(f"{describe(item)}には確認待ちの消去証明書（第{pending}号）があります。"
                           "受理または差戻しの後に登録してください。", code="certificate_pending")
        # The level (`level`, formerly `method`); initialisation is refused by the
        # level or technique chosen, never by words found in the free-text fields.
        errors = v.FieldErrors()  # every refused field at once, each beside its field
        check = errors.check
        method = check("method", _erasure_method, data.get("level") or data.get("method"))
        performed_on = check("performed_on", _performed_on, data.get("performed_on"), item)
        found = evidence.evidence_for(item, data, method, performed_on, errors)
        fields = dict(
            certificate_no=check("certificate_no", v.text, data.get("certificate_no"), "証明書番号", max_len=100,
                                 field="certificate_no"),
            method=method,
            tool=check("tool", v.text, data.get("tool"), "消去ツール", max_len=200, field="tool"),
            tool_version=check("tool_version", v.text, data.get("tool_version"), "ツールのバージョン", max_len=100,
                               required=False, field="tool_version"),
            verification=check("verification", v.text, data.get("verification"), "検証方法", max_len=500,
                               field="verification"),
            verification_result=check("verification_result", _verification_result,
                                      data.get("verification_result")),
            performed_on=performed_on,
            operator=check("performed_by", v.text, data.get("performed_by") or data.get("operator"),
                           "作業者（業者側）", max_len=100, required=False, field="performed_by"),
            media_type=check("media_type", v.text, data.get("media_type"), "記憶媒体の種類", max_len=100,
                             required=False, field="media_type"),
        )
        checked = check("file", files.checked_pdf, stream, filename)
        errors.raise_any()
        fields["vendor"] = found.vendor
        stored = files.store_checked(checked, actor=actor)
        found.compare_pdf(item, stored)
        cert = ErasureCertificate(
            item=item, status=states.INITIAL[Kind.ERASURE_CERTIFICATE].value, file=stored,
            uploaded_by=actor.login,
            uploaded_by_id=actor.id, uploaded_at=utcnow(), **fields)
        found.apply(cert)
        session.add(cert)
        session.flush()
        record_event(EventType.ERASURE_CERTIFICATE_SUBMITTED, actor=actor, subject=item.code,
                     certificate=cert.id, vendor=cert.vendor, certificate_no=cert.certificate_no,
                     method=method, performed_on=performed_on.isoformat(), file_name=stored.original_name,
                     sha256=stored.sha256, **found.details())
        return cert


def _check_decider(actor: Actor, cert: ErasureCertificate) -> None:
    require_role(actor, Role.SECURITY_MANAGER, message="消去証明書の確認はセキュリティ管理者が行います。")
    if cert.uploaded_by_id == actor.id:
        raise Forbidden("消去証明書を登録した本人は、その証明書を確認できません（職務の分離）。"
                        "別のセキュリティ管理者に確認を依頼してください。", code="separation_of_duties")


def accept_certificate(actor: Actor, cert_id) -> ErasureCertificate:
    """A security manager other than the uploader accepts: the device becomes erasure_certified.
    The file is re-hashed first; a changed file is refused and the finding audited."""
    try:
        with db.transaction():
            cert = get_certificate(cert_id)
            _check_decider(actor, cert)
            item = cert.item
            db.session.refresh(item)
            evidence.require_level(item, cert.method)
            uncovered = evidence.uncovered_media(item, cert)
            # What the validator was shown is recorded with the acceptance.
            states.transition(cert, State.ACCEPTED, actor=actor,
                              event=EventType.ERASURE_CERTIFICATE_ACCEPTED, device=item.code,
                              media=[m.serial for m in cert.media],
                              serials_missing_from_pdf=evidence.loads(cert.serials_missing_from_pdf),
                              serials_unknown_to_device=evidence.loads(cert.serials_unknown_to_device),
                              media_not_yet_covered=[m.serial for m in uncovered])
            integrity = files.check_integrity(cert.file)
            if not integrity.ok:
                raise _Tampered(cert, integrity)
            if not uncovered:  # certified only when every medium of the device is covered
                states.transition(item, State.ERASURE_CERTIFIED, actor=actor,
                                  event=EventType.ERASURE_CERTIFICATE_ACCEPTED, certificate=cert.id,
                                  certificate_no=cert.certificate_no, sha256=cert.file.sha256)
            cert.decided_by = actor.login
            cert.decided_by_id = actor.id
            cert.decided_at = utcnow()
            return cert
    except _Tampered as exc:
        record_integrity_failure(actor, exc.cert.file, exc.integrity, subject=exc.cert.item.code,
                                 context="erasure_certificate_accept")
        raise FileIntegrityError(exc.integrity.message + "受理できません。証明書を再提出してもらってください。") from None


class _Tampered(Exception):
    def __init__(self, cert, integrity):
        super().__init__("tampered")
        self.cert, self.integrity = cert, integrity


def reject_certificate(actor: Actor, cert_id, reason) -> ErasureCertificate:
    """Sent back with a reason; the device stays erasure_requested for a corrected certificate."""
    with db.transaction():
        cert = get_certificate(cert_id)
        _check_decider(actor, cert)
        reason = v.text(reason, "差戻しの理由", max_len=500, field="reason", multiline=True)
        states.transition(cert, State.REJECTED, actor=actor, event=EventType.ERASURE_CERTIFICATE_REJECTED,
                          device=cert.item.code, reason=reason)
        record_event(EventType.ERASURE_CERTIFICATE_REJECTED, actor=actor, subject=cert.item.code,
                     certificate=cert.id, reason=reason)
        cert.decided_by = actor.login
        cert.decided_by_id = actor.id
        cert.decided_at = utcnow()
        cert.reject_reason = reason
        return cert


def return_to_lessor(actor: Actor, code, contractor=None) -> Item:
    """Only from erasure_certified; with the policy switch on, also only after a witnessed
    physical destruction of the device's storage."""
    with db.transaction():
        _may_manage(actor)
        item = _device(code)
        if item.status != State.ERASURE_CERTIFIED.value:
            extra = ("消去証明書がセキュリティ管理者に受理されるまで、リース会社へは返却できません。"
                     if item.status in (State.IN_SERVICE.value, State.ERASURE_REQUESTED.value) else "")
            raise states.InvalidTransition(
                states.refusal_message(Kind.DEVICE, item.code, item.status, State.RETURNED_TO_LESSOR) + extra,
                current_state=item.status)
        destruction = storage_destruction_of(item) if item.has_storage else None
        if evidence.storage_destruction_required() and item.has_storage and destruction is None:
            raise Conflict(f"{describe(item)}は、記憶装置の物理的な破壊（職員の立会い）が記録されていないため返却できません"
                           "（総務省ガイドライン 令和2年、保存期間ポリシーで必須に設定されています）。"
                           "破砕の廃棄に含めて立会いを受けてください。", code="storage_destruction_required")
        cert = accepted_certificate(item)
        lessor = evidence.lessor_for_return(item, contractor)
        states.transition(item, State.RETURNED_TO_LESSOR, actor=actor, event=EventType.DEVICE_RETURNED,
                          lessor=lessor.name, contractor=lessor.id, certificate=cert.id if cert else None,
                          storage_destruction=destruction.code if destruction else None)
        return item


def certificate_bytes(actor: Actor, cert_id) -> tuple[ErasureCertificate, bytes]:
    """For download by those who answer for it; re-hashed first, a changed file is refused."""
    cert = get_certificate(cert_id)
    if not actor.is_system and not (actor.has_role(Role.SECURITY_MANAGER, Role.AUDITOR, Role.ADMIN)
                                        or cert.uploaded_by_id == actor.id):
        raise Forbidden("消去証明書のファイルを閲覧できるのは、セキュリティ管理者・監査担当・システム管理者"
                        "と、登録した本人です。")
    data, integrity = files.read_verified(cert.file)
    if data is None:
        record_integrity_failure(actor, cert.file, integrity, subject=cert.item.code, context="download")
        raise FileIntegrityError(integrity.message)
    return cert, data


# --- lease overview ---------------------------------------------------------------------------

def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


@dataclass(frozen=True)
class Lease:
    item: Item
    renewal_due: date | None  #: 更新予定: lease start + six years
    days_to_end: int | None  #: negative once the lease has ended
    years: int  #: in service, whole years and months
    months: int
    near_end: bool  #: within the warning window and not yet returned
    ended_unerased: bool  #: past its lease end without an accepted certificate

    @property
    def in_service_text(self) -> str:
        return f"{self.years}年{self.months}か月"


def lease_of(item: Item, as_of: date, *, warning_days: int | None = None,
             certified: bool | None = None) -> Lease:
    warning_days = policy.get("device.lease_warning_days") if warning_days is None else warning_days
    if certified is None:
        certified = accepted_certificate(item) is not None
    start, end = item.lease_start, item.lease_end
    months = 0
    if start and as_of >= start:
        months = (as_of.year - start.year) * 12 + as_of.month - start.month - (as_of.day < start.day)
    days = (end - as_of).days if end else None
    active = item.status != State.RETURNED_TO_LESSOR.value
    return Lease(item=item, renewal_due=add_years(start, RENEWAL_YEARS) if start else None,
                 days_to_end=days, years=months // 12, months=months % 12,
                 near_end=active and days is not None and 0 <= days <= warning_days,
                 ended_unerased=active and days is not None and days < 0 and not certified)


def list_devices(as_of: date | None = None) -> list[Lease]:
    as_of = as_of or today_jst()
    warning_days = policy.get("device.lease_warning_days")
    certified_ids = set(db.session.scalars(select(ErasureCertificate.item_id).where(
        ErasureCertificate.status == State.ACCEPTED.value)))
    items = db.session.scalars(select(Item).where(Item.kind == Kind.DEVICE)
                               .order_by(Item.lease_end, Item.code))
    return [lease_of(i, as_of, warning_days=warning_days, certified=i.id in certified_ids) for i in items]


@dataclass(frozen=True)
class DeviceException:
    item: Item
    department: str
    days_past: int
    detail: str  #: Japanese, for the exceptions report


def list_device_exceptions(as_of: date) -> list[DeviceException]:
    """Devices past their lease end that have no accepted erasure certificate (例外一覧)."""

    has_accepted = exists().where(ErasureCertificate.item_id == Item.id,
                                  ErasureCertificate.status == State.ACCEPTED.value)
    items = db.session.scalars(select(Item).where(
        Item.kind == Kind.DEVICE, Item.lease_end < as_of, Item.status != State.RETURNED_TO_LESSOR.value,
        ~has_accepted).order_by(Item.lease_end, Item.code))
    rows = []
    for item in items:
        days = (as_of - item.lease_end).days
        rows.append(DeviceException(item, item.department.name, days,
                                    f"リース満了 {wareki_date(item.lease_end)}（{days}日経過）、"
                                    f"状態: {states.label(item.status)}、リース会社: {item.lessor or '—'}"))
    return rows


@dataclass(frozen=True)
class DeviceWarning:
    level: str  #: "warning" or "error"
    message: str


def device_warnings(item: Item) -> list[DeviceWarning]:
    """What the device page must say about the 総務省 guideline before the device goes back."""
    if Kind(item.kind) != Kind.DEVICE or item.status == State.RETURNED_TO_LESSOR.value:
        return []
    if not item.has_storage or storage_destruction_of(item) is not None:
        return []
    if evidence.storage_destruction_required():
        return [DeviceWarning("error", "返却の前に、記憶装置を職員の立会いのもとで物理的に破壊（破砕）する必要があります"
                                       "（ポリシーで必須に設定されています）。破砕の廃棄に含めて立会いを受けてください。")]
    if item.holds_my_number_data:
        return [DeviceWarning("warning", "この機器はマイナンバー利用事務系のデータを保持していました。総務省ガイドライン"
                                         "（令和2年）は、記憶装置を職員の立会いのもとで物理的に破壊することを求めていますが、"
                                         "立会いによる破壊の記録がありません。")]
    return []


def certificate_json(cert: ErasureCertificate) -> dict:

    return {
        "id": cert.id, "device": cert.item.code, "status": cert.status,
        "status_label": states.label(cert.status), "vendor": cert.vendor,
        "certificate_no": cert.certificate_no, "method": cert.method, "tool": cert.tool,
        "tool_version": cert.tool_version, "verification": cert.verification,
        "verification_result": cert.verification_result, "performed_on": cert.performed_on.isoformat(),
        "operator": cert.operator, "media_type": cert.media_type, "file_name": cert.file.original_name,
        "sha256": cert.file.sha256, "size": cert.file.size, "uploaded_by": cert.uploaded_by,
        "uploaded_at": iso(cert.uploaded_at), "decided_by": cert.decided_by,
        "decided_at": iso(cert.decided_at), "reject_reason": cert.reject_reason,
        "contractor": None if cert.contractor is None else {"id": cert.contractor.id, "name": cert.contractor.name},
        "level": cert.method, "method_used": cert.method_used, "performed_by": cert.operator,
        "performed_by_title": cert.operator_title, "performed_by_organisation": cert.operator_organisation,
        "destination": cert.destination, "media": [m.serial for m in cert.media],
        "serials_missing_from_pdf": evidence.loads(cert.serials_missing_from_pdf),
        "serials_unknown_to_device": evidence.loads(cert.serials_unknown_to_device),
    }


def pending_certificates() -> list[ErasureCertificate]:
    """Certificates submitted and waiting for a security manager's check."""
    return list(db.session.scalars(select(ErasureCertificate).where(
        ErasureCertificate.status == State.SUBMITTED.value).order_by(ErasureCertificate.id)))
