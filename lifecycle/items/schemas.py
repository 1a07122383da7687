"""The JSON shape of an item (docs/api.md, Items), shared by every endpoint that returns one."""
from __future__ import annotations

from datetime import date

from flask import current_app

from .. import states
from ..clock import iso, today_jst
from .queries import item_row, row_overdue


def label_payload(code: str) -> str:
    return current_app.extensions["label_signer"].payload(code)


def qr_url(code: str) -> str:
    return f"{current_app.config['BASE_URL'].rstrip('/')}/s/{label_payload(code)}"


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def item_json_of(code: str) -> dict:
    """The JSON of an item just changed: its ledger row, read after the write."""
    return item_json(item_row(code))


def item_json(item, *, as_of: date | None = None) -> dict:
    """`item`: a ledger row (queries.LEDGER_COLUMNS)."""
    kind = states.Kind(item.kind)
    base = current_app.config["BASE_URL"].rstrip("/")
    payload = label_payload(item.code)
    data = {
        "code": item.code,
        "kind": kind.value,
        "status": item.status,
        "status_label": states.label(item.status),
        "title": item.title,
        "holder": {"login": item.holder_login, "name": item.holder_name,
                   "department": item.department_code, "department_name": item.department_name},
        "location": item.location,
        "created_at": iso(item.created_at),
        "created_by": item.created_by,
        "retention_until": _day(item.retention_until),
        "overdue": row_overdue(item, as_of or today_jst()),
        "label_url": f"{base}/labels/{item.code}.pdf",
        "qr_payload": payload,
        "qr_url": f"{base}/s/{payload}",
    }
    if item.business_code is not None:
        data["business"] = {"code": item.business_code, "name": item.business_name,
                            "basis": item.business_basis}
    if kind == states.Kind.FORM:
        data.update(sheets=item.sheets, contains_my_number=item.contains_my_number,
                    terminal=item.terminal, output_at=iso(item.output_at))
    elif kind == states.Kind.MEDIUM:
        data.update(media_type=item.media_type, record_count=item.record_count,
                    recipient=item.recipient, encrypted=item.encrypted, due_back=_day(item.due_back),
                    provided_at=iso(item.provided_at), returned_at=iso(item.returned_at))
    else:
        data.update(device_type=item.device_type, asset_tag=item.asset_tag, model=item.model,
                    serial=item.serial, lessor=item.lessor, lease_contract=item.lease_contract,
                    lease_start=_day(item.lease_start), lease_end=_day(item.lease_end),
                    has_storage=item.has_storage, holds_my_number_data=item.holds_my_number_data,
                    holds_juki_data=item.holds_juki_data)
    return data
