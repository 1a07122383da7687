"""Items over the API (docs/api.md, Items): register, list the ledger, one item with its events, scan."""
from __future__ import annotations

from flask import request

from ..audit.events import event_label
from ..clock import iso
from ..items import queries
from ..items.schemas import item_json
from ..items.services import get_visible_row, get_visible_with_events, register_item
from ..jsonout import loads_event_data
from ..labels.services import resolve_label
from ..states import ITEM_KINDS, states_of
from ..web import current_actor
from . import (BOOLEAN, DATE, DATE_TIME, INTEGER, STRING, endpoint, json_body, nullable, ok, query_int,
               record)

#: Fields of every kind are listed; a row carries its own kind's (and `business` when it has one).
KIND_FIELDS = ("business", "sheets", "contains_my_number", "terminal", "output_at", "media_type", "record_count",
               "recipient", "encrypted", "due_back", "provided_at", "returned_at", "device_type", "asset_tag",
               "model", "serial", "lessor", "lease_contract", "lease_start", "lease_end", "has_storage",
               "holds_my_number_data", "holds_juki_data")

ITEM_SCHEMA = record({
    "code": {"type": "string", "example": "F-2026-000123"},
    "kind": {"type": "string", "enum": [k.value for k in ITEM_KINDS]},
    "status": {"type": "string", "enum": sorted({s.value for k in ITEM_KINDS for s in states_of(k)})},
    "status_label": STRING, "title": STRING,
    "holder": record({"login": STRING, "name": STRING, "department": STRING, "department_name": STRING}),
    "location": nullable(STRING), "created_at": DATE_TIME, "created_by": STRING,
    "retention_until": nullable(DATE), "overdue": BOOLEAN,
    "label_url": STRING, "qr_payload": STRING, "qr_url": STRING,
    "business": record({"code": STRING, "name": STRING, "basis": STRING}),
    "sheets": nullable(INTEGER), "contains_my_number": nullable(BOOLEAN), "terminal": nullable(STRING),
    "output_at": nullable(DATE_TIME),
    "media_type": nullable(STRING), "record_count": nullable(INTEGER), "recipient": nullable(STRING),
    "encrypted": nullable(BOOLEAN), "due_back": nullable(DATE), "provided_at": nullable(DATE_TIME),
    "returned_at": nullable(DATE_TIME),
    "device_type": nullable(STRING), "asset_tag": nullable(STRING), "model": nullable(STRING),
    "serial": nullable(STRING), "lessor": nullable(STRING), "lease_contract": nullable(STRING),
    "lease_start": nullable(DATE), "lease_end": nullable(DATE), "has_storage": nullable(BOOLEAN),
    "holds_my_number_data": nullable(BOOLEAN), "holds_juki_data": nullable(BOOLEAN),
}, optional=KIND_FIELDS)

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
        "terminal_use": {"type": "integer", "description": "帳票を出力した端末の使用伺いの番号（任意。承認済みで出力日時を含むもの）"},
        "media_type": {"type": "string", "enum": ["CD-R", "DVD-R", "BD-R", "MO"]},
        "record_count": {"type": "integer"}, "recipient": {"type": "string"},
        "encrypted": {"type": "boolean"}, "due_back": {"type": "string", "format": "date"},
        "device_type": {"type": "string"}, "asset_tag": {"type": "string"}, "model": {"type": "string"},
        "serial": {"type": "string"}, "lessor": {"type": "string"}, "lease_contract": {"type": "string"},
        "lease_start": {"type": "string", "format": "date"}, "lease_end": {"type": "string", "format": "date"},
        "has_storage": {"type": "boolean"}, "holds_my_number_data": {"type": "boolean"},
        "holds_juki_data": {"type": "boolean"},
        "storage": {"type": "array", "description": "機器の記憶装置（消去証明書はこのシリアル番号ごとに確認します）",
                    "items": {"type": "object", "required": ["media_type", "serial"], "properties": {
                        "media_type": {"type": "string", "enum": ["HDD", "SSD", "NVMe", "eMMC"]},
                        "make": {"type": "string"}, "model": {"type": "string"}, "serial": {"type": "string"},
                        "capacity_gb": {"type": "integer"}}}},
    },
}

EVENT_SCHEMA = record({"seq": INTEGER, "type": STRING, "type_label": STRING, "at": DATE_TIME, "actor": STRING,
                       "subject": STRING, "data": {"type": "object"}, "hash": STRING})

LIST_QUERY = {
    "kind": {"type": "string", "enum": ["form", "medium", "device"]},
    "status": {"type": "string"}, "department": {"type": "string"}, "business": {"type": "string"},
    "holder": {"type": "string"}, "q": {"type": "string"},
    "from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"},
    "overdue": {"type": "boolean"}, "as_of": {"type": "string", "format": "date"},
    "sort": {"type": "string", "example": "-created"},
    "page": {"type": "integer", "minimum": 1, "maximum": 10**6},
    "per_page": {"type": "integer", "minimum": 1, "maximum": queries.MAX_PER_PAGE},
}


def event_json(event) -> dict:
    return {"seq": event.seq, "type": event.type, "type_label": event_label(event.type),
            "at": iso(event.at), "actor": event.actor, "subject": event.subject,
            "data": loads_event_data(event.data), "hash": event.hash}


@endpoint("/items", "POST", summary="帳票・媒体・機器を管理簿に登録する", request=REGISTER_SCHEMA,
          response=ITEM_SCHEMA, status=201, errors=(400, 403, 409, 422))
def items_create():
    item = register_item(current_actor(), json_body())
    return ok(item_json(item), 201)


@endpoint("/items", summary="管理簿の一覧（種別・状態・所属・期間・検索語・期限超過で絞り込み）",
          query=LIST_QUERY, errors=(422,),
          response=record({"items": {"type": "array", "items": ITEM_SCHEMA}, "total": INTEGER, "page": INTEGER,
                           "per_page": INTEGER}))
def items_list():
    filters = queries.parse_filters(request.args)
    page = query_int("page", 1, 10**6)
    per_page = query_int("per_page", queries.DEFAULT_PER_PAGE, queries.MAX_PER_PAGE)
    result = queries.ledger_page(filters, current_actor(), page=page, per_page=per_page)
    rows = result.rows if result.page == page else []  # past the last page: none, not the last
    as_of = filters.effective_as_of
    return ok({"items": [item_json(row, as_of=as_of) for row in rows], "total": result.total,
               "page": page, "per_page": per_page})


@endpoint("/items/<code>", summary="1件の登録内容と、その操作履歴（ハッシュ付き）",
          response=record({**ITEM_SCHEMA["properties"], "events": {"type": "array", "items": EVENT_SCHEMA}},
                         optional=KIND_FIELDS),
          errors=(403, 404))
def items_get(code: str):
    item, events = get_visible_with_events(current_actor(), code)
    data = item_json(item)
    data["events"] = [event_json(e) for e in events]
    return ok(data)


@endpoint("/scan/<path:payload>", summary="読み取ったラベルの内容（payload）から登録を開く。偽造ラベルは 404 と genuine: false",
          response=record({"genuine": {"type": "boolean", "enum": [True]}, "item": ITEM_SCHEMA}),
          errors=(403, 404))
def scan_resolve(payload: str):
    item = resolve_label(current_actor(), payload, find=get_visible_row)
    return ok({"genuine": True, "item": item_json(item)})
