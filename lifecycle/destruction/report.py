"""廃棄記録書 (per batch) and 消去証明受領記録 (per device): data for the pure renderer.

The stored certificate is re-hashed every time a record is printed, so a paper record can never
vouch for a file that has changed since upload; a mismatch is printed as a warning and audited.
"""
from __future__ import annotations

from .. import states
from ..actors import Actor
from ..audit.describe import person, person_name
from ..audit.events import EventType
from ..audit.evidence import attach, proof_section
from ..audit.services import events_for, record_event
from ..auth.models import User
from ..devices.services import ERASURE_METHODS, accepted_certificate
from ..errors import Conflict, Forbidden
from ..extensions import db
from ..items.services import get_visible_item
from ..reports.imprint import imprint_for
from ..reports.render import DestructionItem, DestructionRecord, render_destruction_pdf
from ..roles import Role
from ..states import KIND_LABELS, Kind, State
from ..wareki import wareki_date
from . import files
from .din import level_text
from .models import StoredFile
from .services import METHOD_LONG, get_visible_batch, storage_destruction_of


def _person(user: User | None, login: str | None = None) -> str:
    """名前（所属）; a recorded login (a system actor, an account since removed) in words too."""
    if user is not None:
        return person_name(user)
    return person(login) if login else "—"


def _integrity(stored: StoredFile | None) -> tuple[files.Integrity | None, str, bool | None]:
    if stored is None:
        return None, "", None
    integrity = files.check_integrity(stored)
    return integrity, integrity.message, integrity.ok


def _audit(actor: Actor, subject: str, report: str, stored: StoredFile | None, integrity) -> None:
    with db.transaction():
        if integrity is not None and not integrity.ok:
            record_event(EventType.FILE_INTEGRITY_FAILED, actor=actor, subject=subject, file_id=stored.id,
                         file_name=stored.original_name, expected=stored.sha256,
                         actual=integrity.actual or "missing", context=report)
        record_event(EventType.REPORT_GENERATED, actor=actor, subject=subject, report=report,
                     integrity_ok=None if integrity is None else integrity.ok)


#: The items' own events that belong to a destruction, beside the batch's.
_ITEM_DESTRUCTION_EVENTS = frozenset({EventType.DESTRUCTION_REQUESTED.value, EventType.DESTRUCTION_WITNESSED.value,
                                      EventType.DESTRUCTION_CANCELLED.value, EventType.ITEM_DESTROYED.value})


def _batch_events(batch) -> list[tuple[int, str]]:
    """(seq, hash) of the batch's audit events and of its items' destruction events."""
    events = [(e.seq, e.hash) for e in events_for(batch.audit_subject)]
    for item in batch.items:
        events += [(e.seq, e.hash) for e in events_for(item.code) if e.type in _ITEM_DESTRUCTION_EVENTS]
    return events


def destruction_pdf(actor: Actor, batch_id) -> tuple[str, bytes]:
    """(file name, PDF) of one batch's 廃棄記録書."""
    batch = get_visible_batch(actor, batch_id)
    stored = batch.certificate
    integrity, sentence, ok = _integrity(stored)
    if stored is None and batch.certificate_required and batch.status != State.CANCELLED.value:
        sentence, ok = "委託業者の証明書が未受領です（証明書未受領）。", None
    proofs, attachment = proof_section(_batch_events(batch))
    if batch.status == State.CANCELLED.value:
        witness = f"（取消し: {batch.cancel_reason}）"
    else:
        witness = _person(batch.witness) if batch.witness else "（立会い待ち）"
    record = DestructionRecord(
        batch_id=batch.code,
        method=METHOD_LONG[batch.method],
        place=batch.place,
        performer=_person(batch.creator, batch.created_by),
        witness=witness,
        status=states.label(batch.status),
        items=[DestructionItem(i.code, KIND_LABELS[Kind(i.kind)], i.title, i.department.name)
               for i in batch.items],
        imprint=imprint_for(actor),
        din_level=f"{batch.din_level}（{level_text(batch.din_level)}）",
        planned_on=batch.planned_on,
        performed_at=batch.witnessed_at,
        certificate_name=stored.original_name if stored else None,
        certificate_sha256=stored.sha256 if stored else None,
        integrity=sentence,
        integrity_ok=ok,
        extra=[("申請日時", batch.created_at)],
        proofs=proofs,
    )
    pdf = attach(render_destruction_pdf(record), attachment)
    _audit(actor, batch.audit_subject, "destruction", stored, integrity)
    return f"destruction-{batch.code}.pdf", pdf


def erasure_pdf(actor: Actor, code) -> tuple[str, bytes]:
    """(file name, PDF) of a device's 消去証明受領記録, from its accepted certificate."""

    if not actor.has_role(Role.SECURITY_MANAGER, Role.AUDITOR, Role.ADMIN, Role.BULK_OPERATOR):
        raise Forbidden("消去証明受領記録を出力できるのは、セキュリティ管理者・監査担当・システム管理者・一括利用担当です。")
    item = get_visible_item(actor, code)
    if Kind(item.kind) != Kind.DEVICE:
        raise Conflict(f"「{item.code}」はリース機器ではありません。", code="not_a_device")
    cert = accepted_certificate(item)
    if cert is None:
        raise Conflict(f"機器「{item.code}」には受理された消去証明書がありません。", code="no_accepted_certificate")
    integrity, sentence, ok = _integrity(cert.file)
    destruction = storage_destruction_of(item)
    extra = [
        ("機器", f"{item.device_type or ''} {item.model or ''}（製造番号 {item.serial or '—'}、資産番号 {item.asset_tag or '—'}）"),
        ("リース会社", f"{item.lessor or '—'}（契約 {item.lease_contract or '—'}）"),
        ("リース期間", f"{_day(item.lease_start)}～{_day(item.lease_end)}"),
        ("記憶媒体の種類", cert.media_type or "—"),
        ("消去ツール", f"{cert.tool} {cert.tool_version or ''}".strip()),
        ("検証方法・結果", f"{cert.verification}　結果: {cert.verification_result or '（記載なし）'}"),
        ("消去業者・証明書番号", f"{cert.vendor}　第 {cert.certificate_no} 号"),
        ("業者側の作業者", cert.operator or "—"),
        ("証明書の登録", _person(cert.uploader, cert.uploaded_by)),
        ("記憶装置の物理破壊", f"廃棄 {destruction.code}（立会い済み）" if destruction else "記録なし"),
        ("機器の状態", states.label(item.status)),
    ]
    record = DestructionRecord(
        batch_id=f"{item.code} / 証明書 第{cert.id}号",
        method=ERASURE_METHODS.get(cert.method, cert.method),
        place=cert.vendor,
        performer=f"{cert.vendor}" + (f"（{cert.operator}）" if cert.operator else ""),
        witness=_person(cert.decider, cert.decided_by) + "（証明書の確認・受理）",
        status=states.label(cert.status),
        items=[DestructionItem(item.code, KIND_LABELS[Kind.DEVICE], item.title, item.department.name)],
        imprint=imprint_for(actor),
        erasure=True,
        din_level=None,
        planned_on=None,
        performed_at=cert.performed_on,  # the vendor certifies a day, not an hour
        certificate_name=cert.file.original_name,
        certificate_sha256=cert.file.sha256,
        integrity=sentence,
        integrity_ok=ok,
        extra=[("受理日時", cert.decided_at), *extra],
    )
    pdf = render_destruction_pdf(record)
    _audit(actor, item.code, "erasure", cert.file, integrity)
    return f"erasure-{item.code}.pdf", pdf


def _day(value) -> str:
    return wareki_date(value) if value else "—"
