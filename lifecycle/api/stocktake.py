"""Stocktakes (棚卸) and their scans, for handheld scanners that post codes (docs/api.md, Stocktake)."""
from __future__ import annotations

from ..clock import iso
from ..items.schemas import item_json_of
from ..stocktake import services
from ..stocktake.models import Stocktake
from ..stocktake.queries import line_rows
from ..web import current_actor
from . import DATE, DATE_TIME, INTEGER, STRING, endpoint, json_body, nullable, ok, optional_json_body, record
from .items import ITEM_SCHEMA

PERSON = record({"login": STRING, "name": STRING, "department": STRING, "department_name": STRING})
KINDS = {"type": "array", "items": {"type": "string", "enum": ["form", "medium", "device"]}}
COUNTS = record({"expected": INTEGER, "confirmed": INTEGER, "remaining": INTEGER})
FULL_COUNTS = record({"expected": INTEGER, "confirmed": INTEGER, "remaining": INTEGER, "wrong_location": INTEGER,
                      "extra": INTEGER, "out_of_scope": INTEGER, "unknown": INTEGER, "forged": INTEGER,
                      "missing": INTEGER})
OUTCOME = {"type": "string", "enum": ["confirmed", "wrong_location", "found", "out_of_scope", "unknown", "forged",
                                      "duplicate"]}
HOLDER_MISMATCH = record({
    "name": {**STRING, "description": "台帳の保管者の名前（所属）"},
    "problem": {"type": "string", "enum": list(services.HOLDER_PROBLEMS)}, "problem_label": STRING})
SCAN_RESULT = record({"outcome": OUTCOME, "outcome_label": STRING,
                      "code": nullable({**STRING, "description": "読み取った人が表示できるものだけ"}),
                      "message": STRING, "scan": STRING, "counts": COUNTS,
                      "holder": {**HOLDER_MISMATCH, "description": "場所違いのうち、台帳の保管者がこの所属で保管を"
                                                                   "担当できない人であるとき"}},
                     optional=("counts", "holder"))

STOCKTAKE_SCHEMA = record({
    "id": INTEGER, "status": {"type": "string", "enum": ["open", "closed", "signed", "cancelled"]},
    "status_label": STRING,
    "department": STRING, "department_name": STRING, "kinds": KINDS, "location": nullable(STRING), "due": DATE,
    "planned_by": nullable(PERSON), "planned_at": DATE_TIME, "scanners": {"type": "array", "items": PERSON},
    "counts": FULL_COUNTS, "closed_by": nullable(PERSON), "closed_at": nullable(DATE_TIME),
    "signed_by": nullable(PERSON), "signed_at": nullable(DATE_TIME),
    "cancelled_by": nullable(PERSON), "cancelled_at": nullable(DATE_TIME), "cancel_reason": nullable(STRING),
    "head": nullable(record({"seq": INTEGER, "hash": STRING})),
    "missing": {"type": "array", "items": STRING, "description": "締めで所在不明となった管理番号"},
    "report_url": STRING})

PLAN_REQUEST = {"type": "object", "required": ["department", "kinds", "due"], "properties": {
    "department": {"type": "string", "description": "所属コード"}, "kinds": KINDS,
    "location": {"type": "string", "description": "棚卸の場所（保管場所。省略時は所属のすべて）"},
    "due": {"type": "string", "format": "date"},
    "scanners": {"type": "array", "items": {"type": "string"}, "description": "読取り担当のログインID"}}}

SCAN_REQUEST = {"type": "object", "properties": {
    "scan": {"type": "string", "description": "ラベルの URL、その内容、または管理番号"},
    "scans": {"type": "array", "items": {"type": "string"}, "maxItems": services.MAX_PASTED,
              "description": "オフラインで読み取った一覧（重複は1件として数える）"},
    "location": {"type": "string", "description": "読み取った場所（省略時は棚卸の場所）"}}}

LIST_RESULT = record({"results": {"type": "array", "items": SCAN_RESULT}, "counts": COUNTS})

REASON_REQUEST = {"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string",
                                                                                      "maxLength": 500}}}


def _person(user) -> dict | None:
    if user is None:
        return None
    return {"login": user.login, "name": user.name, "department": user.department.code,
            "department_name": user.department.name}


def stocktake_json(stocktake: Stocktake) -> dict:
    counts = services.counts(stocktake.id)
    return {
        "id": stocktake.id, "status": stocktake.status, "status_label": services.status_label(stocktake.status),
        "department": stocktake.department.code, "department_name": stocktake.department.name,
        "kinds": [k.value for k in stocktake.kind_list], "location": stocktake.location,
        "due": stocktake.due.isoformat(), "planned_by": _person(stocktake.planner),
        "planned_at": iso(stocktake.planned_at), "scanners": [_person(u) for u in stocktake.scanners],
        "counts": counts.to_full_json(), "closed_by": _person(stocktake.closer),
        "closed_at": iso(stocktake.closed_at), "signed_by": _person(stocktake.signer),
        "signed_at": iso(stocktake.signed_at), "cancelled_by": _person(stocktake.canceller),
        "cancelled_at": iso(stocktake.cancelled_at), "cancel_reason": stocktake.cancel_reason,
        "head": ({"seq": stocktake.closed_head_seq, "hash": stocktake.closed_head_hash}
                 if stocktake.closed_head_seq is not None else None),
        "missing": [row.code for row in line_rows(stocktake.id, outcome=services.MISSING)],
        "report_url": f"/reports/stocktake/{stocktake.id}.pdf"}


@endpoint("/stocktakes", "POST", summary="棚卸を計画する（その所属のセキュリティ管理者、市町課はすべての所属）",
          request=PLAN_REQUEST, response=STOCKTAKE_SCHEMA, status=201, errors=(400, 403, 422))
def stocktake_create():
    body = json_body()
    stocktake = services.plan_stocktake(current_actor(), body)
    return ok(stocktake_json(stocktake), 201)


@endpoint("/stocktakes", summary="棚卸の一覧（監査担当・システム管理者はすべて、ほかは自分の所属と担当のもの）",
          response=record({"stocktakes": {"type": "array", "items": STOCKTAKE_SCHEMA}}), errors=())
def stocktake_list():
    return ok({"stocktakes": [stocktake_json(s) for s in services.list_stocktakes(current_actor(), limit=50)]})


@endpoint("/stocktakes/<int:stocktake_id>", summary="棚卸の内容と件数", response=STOCKTAKE_SCHEMA,
          errors=(403, 404))
def stocktake_get(stocktake_id: int):
    return ok(stocktake_json(services.get_visible_stocktake(current_actor(), stocktake_id)))


@endpoint("/stocktakes/<int:stocktake_id>/scans", "POST",
          summary="読み取る（scan: 1件、scans: 貼り付けた一覧）。同じラベルは1件として数える",
          request=SCAN_REQUEST, response={"oneOf": [SCAN_RESULT, LIST_RESULT]}, errors=(400, 403, 404, 409, 422))
def stocktake_scan(stocktake_id: int):
    body, actor = json_body(), current_actor()
    if "scans" in body:
        results, counts = services.record_scans(actor, stocktake_id, body.get("scans"), location=body.get("location"))
        return ok({"results": [r.to_json() for r in results], "counts": counts.to_json()})
    result = services.record_scan(actor, stocktake_id, body.get("scan"), location=body.get("location"))
    return ok(result.to_json())


@endpoint("/stocktakes/<int:stocktake_id>/location-corrections", "POST",
          summary="場所違いの保管場所を、読み取った場所に訂正する（読取り担当の確認）",
          request={"type": "object", "required": ["code"], "properties": {
              "code": {"type": "string"}, "location": {"type": "string", "description": "省略時は読み取った場所"}}},
          response=ITEM_SCHEMA, errors=(400, 403, 404, 409, 422))
def stocktake_correct_location(stocktake_id: int):
    body = json_body()
    line = services.correct_location(current_actor(), stocktake_id, body.get("code"), body.get("location"))
    return ok(item_json_of(line.item.code))


@endpoint("/stocktakes/<int:stocktake_id>/holder-corrections", "POST",
          summary="保管者が場所違い（退職・異動・権限なし）のものを、読み取った人自身が保管者として引き受ける",
          request={"type": "object", "required": ["code"], "properties": {"code": {"type": "string"}}},
          response=ITEM_SCHEMA, errors=(400, 403, 404, 409, 422))
def stocktake_correct_holder(stocktake_id: int):
    body = json_body()
    line = services.correct_holder(current_actor(), stocktake_id, body.get("code"))
    return ok(item_json_of(line.item.code))


@endpoint("/stocktakes/<int:stocktake_id>/cancel", "POST",
          summary="締める前の棚卸を中止する（理由は必須。台帳のものは変わらず、読み取った記録は残る）",
          request=REASON_REQUEST, response=STOCKTAKE_SCHEMA, errors=(400, 403, 404, 409, 422))
def stocktake_cancel(stocktake_id: int):
    body = json_body()
    return ok(stocktake_json(services.cancel_stocktake(current_actor(), stocktake_id, body.get("reason"))))


@endpoint("/stocktakes/<int:stocktake_id>/close", "POST",
          summary="棚卸を締める。読み取られなかった対象は所在不明になる", response=STOCKTAKE_SCHEMA,
          errors=(403, 404, 409))
def stocktake_close(stocktake_id: int):
    stocktake, _missing = services.close_stocktake(current_actor(), stocktake_id)
    return ok(stocktake_json(stocktake))


@endpoint("/stocktakes/<int:stocktake_id>/sign", "POST", summary="棚卸の結果を確認する（電子的な確認・署名）",
          request={"type": "object", "properties": {"comment": {"type": "string", "maxLength": 500}}},
          response=STOCKTAKE_SCHEMA, errors=(400, 403, 404, 409, 422), body_optional=True)
def stocktake_sign(stocktake_id: int):
    body = optional_json_body()
    return ok(stocktake_json(services.sign_stocktake(current_actor(), stocktake_id, body.get("comment"))))


@endpoint("/items/<code>/found", "POST", summary="所在不明だったものの発見を記録する（元の状態に戻る）",
          request=REASON_REQUEST, response=ITEM_SCHEMA, errors=(400, 403, 404, 409, 422))
def item_found(code: str):
    body = json_body()
    return ok(item_json_of(services.mark_found(current_actor(), code, body.get("reason")).code))


@endpoint("/items/<code>/write-off", "POST",
          summary="所在不明のものを亡失処理する（棚卸を締めた人以外のセキュリティ管理者）",
          request=REASON_REQUEST, response=ITEM_SCHEMA, errors=(400, 403, 404, 409, 422))
def item_write_off(code: str):
    body = json_body()
    return ok(item_json_of(services.write_off(current_actor(), code, body.get("reason")).code))
