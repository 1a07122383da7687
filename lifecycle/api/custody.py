"""Hand-offs, provision and return of bulk media, custody reports (docs/api.md, Hand-offs and bulk media)."""
from __future__ import annotations

from ..roles import require_role, Role
from ..clock import iso
from ..custody import report, services
from ..custody.models import Transfer
from ..items.schemas import item_json_of
from ..web import current_actor
from . import (
    BOOLEAN,
    DATE,
    DATE_TIME,
    INTEGER,
    STRING,
    endpoint,
    json_body,
    nullable,
    ok,
    optional_json_body,
    record,
)
from .items import ITEM_SCHEMA

PARTY_SCHEMA = record({"login": STRING, "name": STRING, "department": STRING, "department_name": STRING})

#: The item of a hand-off for one who may no longer see the item itself (services.shows_item).
HANDED_ITEM_SCHEMA = record({"code": STRING, "kind": ITEM_SCHEMA["properties"]["kind"], "title": STRING})

TRANSFER_SCHEMA = record({
    "id": INTEGER, "status": {"type": "string", "enum": ["pending", "accepted", "rejected", "cancelled"]},
    "giver": PARTY_SCHEMA, "receiver": PARTY_SCHEMA, "note": nullable(STRING), "reason": nullable(STRING),
    "requested_at": DATE_TIME, "resolved_at": nullable(DATE_TIME),
    "item": {"oneOf": [ITEM_SCHEMA, HANDED_ITEM_SCHEMA],
             "description": "対象の現在の内容。対象を表示できない人（他の所属に移った後の引継ぎ元など）には"
                            "管理番号・種別・件名のみ"}})

TRANSFER_REQUEST = {"type": "object", "required": ["to"], "properties": {
    "to": {"type": "string", "description": "引継ぎ先のログインID"},
    "note": {"type": "string", "maxLength": 500}}}

ACCEPT_REQUEST = {"type": "object", "properties": {
    "location": {"type": "string", "description": "新しい保管場所（変わる場合のみ）"}}}

REASON_REQUEST = {"type": "object", "properties": {"reason": {"type": "string", "maxLength": 500}}}

#: The pages insist on a reason; the API keeps its first-round contract, where it is optional.
REJECT_REQUEST = {"type": "object", "properties": {
    "reason": {"type": "string", "maxLength": 500, "description": "差戻しの理由（画面では必須。API では省略可）"}}}

PROVIDE_REQUEST = {"type": "object", "properties": {
    "recipient": {"type": "string", "description": "省略時は登録された提供先"},
    "due_back": {"type": "string", "format": "date", "description": "省略時は登録された返却予定日"}}}


def _party(user, department) -> dict:
    return {"login": user.login, "name": user.name, "department": department.code,
            "department_name": department.name}


def transfer_json(transfer: Transfer, actor) -> dict:
    item = transfer.item
    return {"id": transfer.id, "status": transfer.status,
            "giver": _party(transfer.giver, transfer.giver_department),
            "receiver": _party(transfer.receiver, transfer.receiver_department),
            "note": transfer.note, "reason": transfer.reason,
            "requested_at": iso(transfer.requested_at), "resolved_at": iso(transfer.resolved_at),
            "item": item_json_of(item.code) if services.shows_item(actor, transfer)
            else {"code": item.code, "kind": item.kind, "title": item.title}}


@endpoint("/items/<code>/transfers", "POST", summary="保管者が引き継ぐ（受領されるまで引継ぎ中）",
          request=TRANSFER_REQUEST, response=TRANSFER_SCHEMA, status=201, errors=(400, 403, 404, 409, 422))
def transfer_create(code: str):
    body = json_body()
    actor = current_actor()
    transfer = services.request_transfer(actor, code, body.get("to"), body.get("note"))
    return ok(transfer_json(transfer, actor), 201)


@endpoint("/transfers/<int:transfer_id>", summary="引継ぎの内容（引継ぎ元・引継ぎ先・対象を表示できる人）",
          response=TRANSFER_SCHEMA, errors=(403, 404))
def transfer_get(transfer_id: int):
    actor = current_actor()
    return ok(transfer_json(services.get_transfer(actor, transfer_id), actor))


@endpoint("/transfers/<int:transfer_id>/accept", "POST", summary="受領する（引継ぎ先のみ）。保管者と所属が変わる",
          request=ACCEPT_REQUEST, response=TRANSFER_SCHEMA, errors=(400, 403, 404, 409, 422), body_optional=True)
def transfer_accept(transfer_id: int):
    body, actor = optional_json_body(), current_actor()
    return ok(transfer_json(services.accept_transfer(actor, transfer_id, location=body.get("location")), actor))


@endpoint("/transfers/<int:transfer_id>/reject", "POST",
          summary="差し戻す（引継ぎ先のみ）。引継ぎ元の保管に戻る",
          request=REJECT_REQUEST, response=TRANSFER_SCHEMA, errors=(400, 403, 404, 409, 422), body_optional=True)
def transfer_reject(transfer_id: int):
    body, actor = optional_json_body(), current_actor()
    return ok(transfer_json(services.reject_transfer(actor, transfer_id, body.get("reason"), reason_required=False),
                            actor))


@endpoint("/transfers/<int:transfer_id>/cancel", "POST", summary="引継ぎを取り消す（引継ぎ元のみ、受領前）",
          request=REASON_REQUEST, response=TRANSFER_SCHEMA, errors=(400, 403, 404, 409, 422), body_optional=True)
def transfer_cancel(transfer_id: int):
    body, actor = optional_json_body(), current_actor()
    return ok(transfer_json(services.cancel_transfer(actor, transfer_id, body.get("reason")), actor))


@endpoint("/items/<code>/provide", "POST", summary="媒体を提供先に提供する（一括利用担当）",
          request=PROVIDE_REQUEST, response=ITEM_SCHEMA, errors=(400, 403, 404, 409, 422), body_optional=True)
def medium_provide(code: str):
    body = optional_json_body()
    item = services.provide_medium(current_actor(), code, body.get("recipient"), body.get("due_back"))
    return ok(item_json_of(item.code))


@endpoint("/items/<code>/return", "POST", summary="提供した媒体の返却を記録する（一括利用担当）。保存期限が決まる",
          response=ITEM_SCHEMA, errors=(403, 404, 409))
def medium_return(code: str):
    return ok(item_json_of(services.return_medium(current_actor(), code).code))


@endpoint("/items/<code>/custody", summary="保管履歴報告書の内容（保管者の履歴・全記録とハッシュ・現在の先頭）",
          response=record({
              "code": STRING, "kind": {"type": "string", "enum": ["form", "medium", "device"]}, "status": STRING,
              "title": STRING,
              "fields": {"type": "array", "items": record({"label": STRING, "value": {}})},
              "holders": {"type": "array", "items": record({"name": STRING, "department": STRING,
                                                            # a date or a date-time
                                                            "since": nullable(STRING), "until": nullable(STRING)})},
              "events": {"type": "array", "items": record({"seq": INTEGER, "type": STRING, "type_label": STRING,
                                                           "at": DATE_TIME, "actor": STRING, "summary": STRING,
                                                           "hash": STRING})},
              "head": record({"seq": INTEGER, "hash": STRING}), "qr_url": STRING, "printed_at": DATE_TIME,
              "printed_by": STRING,
              "checkpoint": nullable(record({"seq": INTEGER, "head": STRING, "signed_at": DATE_TIME,
                                             "signature_ok": BOOLEAN})),
              # the events' inclusion proofs against the latest signed checkpoint (docs/api.md)
              "proofs": nullable({"type": "object"})}), errors=(403, 404))
def item_custody(code: str):
    return ok(report.custody_json(current_actor(), code))


@endpoint("/custody/exceptions", summary="未解消の例外（返却期限超過・保存期限超過）",
          response=record({"exceptions": {"type": "array", "items": record({
              "id": INTEGER, "kind": STRING, "kind_label": STRING, "item": STRING, "department": STRING,
              "detected_on": DATE, "deadline": nullable(DATE)})}}), errors=(403,))
def custody_exceptions():

    require_role(current_actor(), Role.AUDITOR, Role.ADMIN, Role.SECURITY_MANAGER, Role.BULK_OPERATOR,
                 message="例外の一覧は、監査担当・システム管理者・セキュリティ管理者・一括利用担当が確認できます。")
    rows = services.list_open_exceptions()
    return ok({"exceptions": [{
        "id": e.id, "kind": e.kind, "kind_label": services.exception_label(e.kind),
        "item": e.item.code, "department": e.item.department.code,
        "detected_on": e.detected_on.isoformat(),
        "deadline": e.deadline.isoformat() if e.deadline else None} for e in rows]})
