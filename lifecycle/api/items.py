"""Items over the API (API.md "Items"): register, list the ledger, one item with its events, scan."""
from __future__ import annotations

import json

from flask import request
from sqlalchemy import select

from ..audit.events import event_label
from ..audit.services import events_for
from ..clock import iso
from ..errors import Invalid
from ..extensions import db
from ..items import queries
from ..items.models import Item
from ..items.schemas import item_json
from ..items.services import get_visible_item, register_item
from ..labels.services import resolve_label
from ..web import current_actor
from . import endpoint, json_body, ok

ITEM_SCHEMA = {
    "type": "object",
    "required": ["code", "kind", "status", "title", "holder", "created_at", "label_url", "qr_payload"],
    "properties": {
        "code": {"type": "string", "example": "F-2026-000123"},
        "kind": {"type": "string", "enum": ["form", "medium", "device"]},
        "status": {"type": "string"}, "status_label": {"type": "string"},
        "title": {"type": "string"},
        "holder": {"type": "object", "properties": {"login": {"type": "string"}, "name": {"type": "string"},
                                                    "department": {"type": "string"},
                                                    "department_name": {"type": "string"}}},
        "location": {"type": "string", "nullable": True},
        "created_at": {"type": "string", "format": "date-time"},
        "retention_until": {"type": "string", "format": "date", "nullable": True},
        "overdue": {"type": "boolean"},
        "label_url": {"type": "string"}, "qr_payload": {"type": "string"}, "qr_url": {"type": "string"},
    },
}

REGISTER_SCHEMA = {
    "type": "object", "required": ["kind", "title"],
    "properties": {
        "kind": {"type": "string", "enum": ["form", "medium", "device"]},
        "title": {"type": "string", "maxLength": 200},
        "business": {"type": "string", "description": "利用事務コード（帳票・媒体）"},
        "sheets": {"type": "integer", "minimum": 1, "maximum": 10000},
        "contains_my_number": {"type": "boolean"},
        "location": {"type": "string", "maxLength": 200},
        "terminal": {"type": "string"}, "output_at": {"type": "string", "format": "date-time"},
        "media_type": {"type": "string", "enum": ["CD-R", "DVD-R", "BD-R", "MO"]},
        "record_count": {"type": "integer"}, "recipient": {"type": "string"},
        "encrypted": {"type": "boolean"}, "due_back": {"type": "string", "format": "date"},
        "device_type": {"type": "string"}, "asset_tag": {"type": "string"}, "model": {"type": "string"},
        "serial": {"type": "string"}, "lessor": {"type": "string"}, "lease_contract": {"type": "string"},
        "lease_start": {"type": "string", "format": "date"}, "lease_end": {"type": "string", "format": "date"},
        "has_storage": {"type": "boolean"}, "holds_my_number_data": {"type": "boolean"},
    },
}

EVENT_SCHEMA = {"type": "object", "properties": {
    "seq": {"type": "integer"}, "type": {"type": "string"}, "type_label": {"type": "string"},
    "at": {"type": "string", "format": "date-time"}, "actor": {"type": "string"},
    "subject": {"type": "string"}, "data": {"type": "object"}, "hash": {"type": "string"}}}

LIST_QUERY = {
    "kind": {"type": "string", "enum": ["form", "medium", "device"]},
    "status": {"type": "string"}, "department": {"type": "string"}, "business": {"type": "string"},
    "holder": {"type": "string"}, "q": {"type": "string"},
    "from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"},
    "overdue": {"type": "boolean"}, "as_of": {"type": "string", "format": "date"},
    "sort": {"type": "string", "example": "-created"},
    "page": {"type": "integer", "minimum": 1}, "per_page": {"type": "integer", "minimum": 1, "maximum": 200},
}


def event_json(event) -> dict:
    try:
        data = json.loads(event.data)
    except ValueError:
        data = {}
    return {"seq": event.seq, "type": event.type, "type_label": event_label(event.type),
            "at": iso(event.at), "actor": event.actor, "subject": event.subject, "data": data,
            "hash": event.hash}


def _positive(name: str, default: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(f"{name} は整数で指定してください。", field=name) from None
    if value < 1 or value > maximum:
        raise Invalid(f"{name} は1から{maximum}までの整数で指定してください。", field=name)
    return value


@endpoint("/items", "POST", summary="帳票・媒体・機器を管理簿に登録する", request=REGISTER_SCHEMA,
          response=ITEM_SCHEMA, status=201, errors=(400, 403, 409, 422))
def items_create():
    item = register_item(current_actor(), json_body())
    return ok(item_json(item), 201)


@endpoint("/items", summary="管理簿の一覧（種別・状態・所属・期間・検索語・期限超過で絞り込み）",
          query=LIST_QUERY, errors=(422,),
          response={"type": "object", "properties": {"items": {"type": "array", "items": ITEM_SCHEMA},
                                                     "total": {"type": "integer"},
                                                     "page": {"type": "integer"},
                                                     "per_page": {"type": "integer"}}})
def items_list():
    filters = queries.parse_filters(request.args)
    page = _positive("page", 1, 10**6)
    per_page = _positive("per_page", queries.DEFAULT_PER_PAGE, queries.MAX_PER_PAGE)
    result = queries.ledger_page(filters, current_actor(), page=page, per_page=per_page)
    ids = [row.id for row in result.rows] if result.page == page else []
    by_id = {item.id: item for item in db.session.scalars(select(Item).where(Item.id.in_(ids)))} if ids else {}
    as_of = filters.effective_as_of
    return ok({"items": [item_json(by_id[i], as_of=as_of) for i in ids], "total": result.total,
               "page": page, "per_page": per_page})


@endpoint("/items/<code>", summary="1件の登録内容と、その操作履歴（ハッシュ付き）",
          response={**ITEM_SCHEMA, "properties": {**ITEM_SCHEMA["properties"],
                                                  "events": {"type": "array", "items": EVENT_SCHEMA}}},
          errors=(403, 404))
def items_get(code: str):
    item = get_visible_item(current_actor(), code)
    data = item_json(item)
    data["events"] = [event_json(e) for e in events_for(item.code)]
    return ok(data)


@endpoint("/scan/<path:payload>", summary="読み取ったラベルの内容（payload）から登録を開く。偽造ラベルは 404 と genuine: false",
          response={"type": "object", "properties": {"genuine": {"type": "boolean"}, "item": ITEM_SCHEMA}},
          errors=(403, 404))
def scan_resolve(payload: str):
    item = resolve_label(current_actor(), payload)
    return ok({"genuine": True, "item": item_json(item)})
