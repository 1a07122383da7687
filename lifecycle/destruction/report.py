"""廃棄記録書 (per batch): data for the pure renderer; devices/report.py builds the 消去証明受領記録 the same way.

The stored certificate is re-hashed every time a record is printed, so a paper record can never
vouch for a file that has changed since upload; a mismatch is printed as a warning and audited.
"""
from __future__ import annotations

from .. import files, states
from ..actors import Actor
from ..auditlog.describe import person, person_name
from ..audit.events import EventType
from ..documents.proofs import attach, proof_section
from ..audit.services import events_for, record_event
from ..auth.models import User
from ..extensions import db
from ..documents.imprint import imprint_for
from ..documents.render import DestructionItem, DestructionRecord, render_destruction_pdf
from ..states import KIND_LABELS, Kind, State
from .din import level_text
from ..files import StoredFile
from .services import METHOD_LONG, get_visible_batch


def shown_person(user: User | None, login: str | None = None) -> str:
    """名前（所属）; a recorded login (a system actor, an account since removed) in words too."""
    if user is not None:
        return person_name(user)
    return person(login) if login else "—"


def certificate_integrity(stored: StoredFile | None) -> tuple[files.Integrity | None, str, bool | None]:
    if stored is None:
        return None, "", None
    integrity = files.check_integrity(stored)
    return integrity, integrity.message, integrity.ok


def audit_printed(actor: Actor, subject: str, report: str, stored: StoredFile | None, integrity) -> None:
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
    integrity, sentence, ok = certificate_integrity(stored)
    if stored is None and batch.certificate_required and batch.status != State.CANCELLED.value:
        sentence, ok = "委託業者の証明書が未受領です（証明書未受領）。", None
    proofs, attachment = proof_section(_batch_events(batch))
    if batch.status == State.CANCELLED.value:
        witness = f"（取消し: {batch.cancel_reason}）"
    else:
        witness = shown_person(batch.witness) if batch.witness else "（立会い待ち）"
    record = DestructionRecord(
        batch_id=batch.code,
        method=METHOD_LONG[batch.method],
        place=batch.place,
        performer=shown_person(batch.creator, batch.created_by),
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
    audit_printed(actor, batch.audit_subject, "destruction", stored, integrity)
    return f"destruction-{batch.code}.pdf", pdf
