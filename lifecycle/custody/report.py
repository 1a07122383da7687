"""The custody report (保管履歴報告書) of one item: the query that gathers it and its JSON form.

The holders table is derived from the registration and the accepted hand-offs (the transfers
table), the event list from the audit log itself (every event whose subject is the item code),
so each printed hash can later be looked up and the chain verified from it.
"""
from __future__ import annotations

import json
from datetime import date, datetime

from sqlalchemy import select

from .. import states
from ..actors import Actor
from ..auditlog.describe import Names, details_text, load_names, names_for_events
from ..audit.events import EventType, event_label
from ..documents.proofs import attach, proof_section
from ..audit.models import AuditEvent
from ..audit.services import events_for, head, record_event
from ..clock import iso
from ..extensions import db
from ..items.schemas import qr_url
from ..items.services import get_visible_row
from ..documents.imprint import imprint_for
from ..documents.render import CustodyEvent, CustodyReport, Holder, render_custody_pdf
from ..states import FINAL, KIND_LABELS, Kind, State
from ..wareki import wareki_date
from .models import Transfer

EXCEPTION_NAMES = {"overdue_medium": "返却期限超過", "retention_expired": "保存期限超過"}


def _day(value) -> str:
    if not value:
        return ""
    try:
        return wareki_date(date.fromisoformat(str(value)))
    except ValueError:
        return str(value)


def summarise(type_: str, data: dict, names: Names) -> str:
    """One Japanese sentence for an event, from what it recorded (describe.details_text for the
    events without a sentence of their own)."""
    note = f"　備考: {data['note']}" if data.get("note") else ""
    reason = f"（理由: {data['reason']}）" if data.get("reason") else ""
    # The department recorded with the hand-off, not the person's department today.
    giver = names.person_in(data.get("giver"), data.get("giver_department"))
    receiver = names.person_in(data.get("receiver"), data.get("receiver_department"))
    number = f"引継ぎ第{data.get('transfer')}号" if data.get("transfer") else "引継ぎ"
    if type_ == EventType.ITEM_REGISTERED:
        text = f"登録。保管者 {names.person_in(data.get('holder'), data.get('department'))}"
        if data.get("retention_until"):
            text += f"、保存期限 {_day(data['retention_until'])}"
        return text
    if type_ == EventType.TRANSFER_REQUESTED:
        return f"{number}: {giver} から {receiver} へ引継ぎ（受領待ち）{note}"
    if type_ == EventType.TRANSFER_ACCEPTED:
        text = f"{number}を受領。保管者 {giver} → {receiver}"
        if data.get("location_after"):
            text += f"、保管場所「{data['location_after']}」"
        return text
    if type_ == EventType.TRANSFER_REJECTED:
        return f"{number}を {receiver} が差戻し{reason}。保管者は {giver} のまま"
    if type_ == EventType.TRANSFER_CANCELLED:
        return f"{number}を {giver} が取消し{reason}"
    if type_ == EventType.MEDIUM_PROVIDED:
        return f"提供先「{data.get('recipient', '')}」へ提供。返却予定日 {_day(data.get('due_back'))}"
    if type_ == EventType.MEDIUM_RETURNED:
        late = f"（{data['days_late']}日超過）" if data.get("days_late") else ""
        return (f"提供先「{data.get('recipient', '')}」から返却{late}。"
                f"保存期限 {_day(data.get('retention_until'))}")
    if type_ == EventType.EXCEPTION_RECORDED:
        return (f"{EXCEPTION_NAMES.get(data.get('kind'), data.get('kind'))}を記録"
                f"（期限 {_day(data.get('deadline'))}、{data.get('days_over', '')}日超過）")
    if type_ == EventType.EXCEPTION_RESOLVED:
        return f"{EXCEPTION_NAMES.get(data.get('kind'), data.get('kind'))}の解消（{states.label(data.get('status'))}）"
    return details_text(type_, data, names)[:300]


def _holders(item, events: list[AuditEvent]) -> list[Holder]:
    accepted = list(db.session.scalars(
        select(Transfer).where(Transfer.item_id == item.id, Transfer.status == State.ACCEPTED.value)
        .order_by(Transfer.resolved_at, Transfer.id)))
    if accepted:
        first = accepted[0]
        current = [first.giver.name, first.giver_department.name, item.created_at]
    else:
        current = [item.holder_name, item.department_name, item.created_at]
    holders: list[Holder] = []
    for transfer in accepted:
        holders.append(Holder(current[0], current[1], current[2], transfer.resolved_at))
        current = [transfer.receiver.name, transfer.receiver_department.name, transfer.resolved_at]
    until = None
    if item.status in FINAL:  # a destroyed item has no holder any more
        for event in reversed(events):
            if json.loads(event.data).get("to") == item.status:
                until = event.at
                break
    holders.append(Holder(current[0], current[1], current[2], until))
    return holders


def _fields(item) -> list[tuple[str, object]]:
    kind = Kind(item.kind)
    fields: list[tuple[str, object]] = [("種別", KIND_LABELS[kind]), ("状態", states.label(item.status))]
    if item.business_code is not None:
        fields.append(("利用事務", f"{item.business_name}（{item.business_basis}）"))
    fields += [("保管者", f"{item.holder_name}（{item.department_name}）"), ("所属", item.department_name),
               ("保管場所", item.location or ""), ("登録日時", item.created_at),
               ("登録者", load_names([item.created_by]).person(item.created_by))]
    if kind == Kind.FORM:
        fields += [("出力日時", item.output_at), ("出力端末", item.terminal or ""),
                   ("枚数", f"{item.sheets}枚" if item.sheets else ""),
                   ("個人番号の記載", "あり" if item.contains_my_number else "なし"),
                   ("保存期限", item.retention_until)]
    elif kind == Kind.MEDIUM:
        fields += [("媒体の種類", item.media_type), ("件数", f"{item.record_count:,}件" if item.record_count else ""),
                   ("提供先", item.recipient or ""), ("暗号化", "あり" if item.encrypted else "なし"),
                   ("返却予定日", item.due_back), ("提供日時", item.provided_at),
                   ("返却日時", item.returned_at), ("保存期限", item.retention_until)]
    else:
        fields += [("機器種別", item.device_type), ("資産番号", item.asset_tag), ("型式", item.model),
                   ("製造番号", item.serial), ("リース会社", item.lessor),
                   ("リース契約番号", item.lease_contract),
                   ("リース期間", f"{wareki_date(item.lease_start)}〜{wareki_date(item.lease_end)}")]
    return fields


def _printer(actor: Actor) -> str:
    return actor.name


def _build(actor: Actor, code: str, fmt: str) -> tuple[object, CustodyReport, list[str]]:
    item = get_visible_row(actor, code)
    with db.transaction():
        record_event(EventType.REPORT_GENERATED, actor=actor, subject=f"report:custody:{item.code}",
                     report="custody", item=item.code, format=fmt)
    events = events_for(item.code)
    datas = [json.loads(e.data) for e in events]
    names = names_for_events(events, datas)
    rows = [CustodyEvent(seq=e.seq, at=e.at, label=event_label(e.type), actor=names.person(e.actor),
                         summary=summarise(e.type, d, names), hash=e.hash)
            for e, d in zip(events, datas)]
    seq, head_hash = head()
    imprint = imprint_for(actor, printed_by=_printer(actor))
    proofs, attachment = proof_section((e.seq, e.hash) for e in events)
    report = CustodyReport(code=item.code, title=item.title, fields=_fields(item),
                           holders=_holders(item, events), events=rows, head_seq=seq,
                           head_hash=head_hash, qr_data=qr_url(item.code), imprint=imprint, proofs=proofs)
    return item, report, [e.type for e in events], attachment


def build_custody_report(actor: Actor, code: str) -> CustodyReport:
    """Gathers the report of one item for `actor` (same visibility as the item page) and records
    that it was pulled; the head printed on it therefore includes that very event."""
    return _build(actor, code, "pdf")[1]


def custody_pdf(actor: Actor, code: str) -> bytes:
    """The report as an unsigned PDF with its events' inclusion proofs attached in full."""
    _item, report, _types, attachment = _build(actor, code, "pdf")
    return attach(render_custody_pdf(report), attachment)


def _json_value(value):
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def custody_json(actor: Actor, code: str) -> dict:
    """The same content as the PDF, for auditors' own tools."""
    item, report, types, attachment = _build(actor, code, "json")
    return {
        "code": report.code,
        "kind": item.kind,
        "status": item.status,
        "title": report.title,
        "fields": [{"label": label, "value": _json_value(value)} for label, value in report.fields],
        "holders": [{"name": h.name, "department": h.department, "since": _json_value(h.since),
                     "until": _json_value(h.until)} for h in report.holders],
        "events": [{"seq": e.seq, "type": t, "type_label": e.label, "at": iso(e.at), "actor": e.actor,
                    "summary": e.summary, "hash": e.hash} for e, t in zip(report.events, types)],
        "head": {"seq": report.head_seq, "hash": report.head_hash},
        "qr_url": report.qr_data,
        "printed_at": iso(report.imprint.printed_at),
        "printed_by": report.imprint.printed_by,
        "checkpoint": None if report.imprint.checkpoint is None else {
            "seq": report.imprint.checkpoint.seq, "head": report.imprint.checkpoint.head,
            "signed_at": iso(report.imprint.checkpoint.signed_at),
            "signature_ok": report.imprint.checkpoint.signature_ok},
        "proofs": attachment,
    }
