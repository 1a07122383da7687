"""Terminals and terminal-use approvals (使用伺い) over the API (docs/api.md, People and terminals)."""
from __future__ import annotations

from flask import request

from ..clock import iso
from ..terminals import queries, services
from ..terminals.forms import BOOK_STATES, book_filter
from ..terminals.models import Terminal, TerminalUse
from ..web import current_actor
from . import BOOLEAN, DATE_TIME, INTEGER, STRING, endpoint, json_body, nullable, ok, optional_json_body, record

PERSON = record({"login": STRING, "name": STRING, "department": STRING, "department_name": STRING})
STATUS = {"type": "string", "enum": [s.value for s in BOOK_STATES]}

TERMINAL_SCHEMA = record({
    "code": STRING, "name": nullable(STRING), "department": STRING, "department_name": STRING,
    "location": STRING, "device": nullable(STRING), "active": BOOLEAN})

USE_SCHEMA = record({
    "id": INTEGER, "status": STATUS, "terminal": STRING, "terminal_department": STRING,
    "user": PERSON, "department": STRING, "department_name": STRING,
    "business": STRING, "business_name": STRING, "purpose": nullable(STRING),
    "starts_at": DATE_TIME, "ends_at": DATE_TIME, "requested_at": DATE_TIME,
    "approved_at": nullable(DATE_TIME), "approver": nullable(PERSON), "decided_at": nullable(DATE_TIME),
    "no_camera_phone_usb": nullable(BOOLEAN), "refusal_reason": nullable(STRING),
    "started_at": nullable(DATE_TIME), "ended_at": nullable(DATE_TIME), "closed_at": nullable(DATE_TIME),
    "output_note": nullable(STRING), "forms": {"type": "array", "items": STRING},
    "without_approval": BOOLEAN})

MOMENT = {"type": "string", "format": "date-time",
          "description": "ISO 8601。オフセットなしは日本時間（例: 2026-12-04T10:30 または 2026-12-04T10:30+09:00）"}


def _person(user) -> dict | None:
    if user is None:
        return None
    return {"login": user.login, "name": user.name, "department": user.department.code,
            "department_name": user.department.name}


def terminal_json(terminal: Terminal) -> dict:
    return {"code": terminal.code, "name": terminal.name, "department": terminal.department.code,
            "department_name": terminal.department.name, "location": terminal.location,
            "device": terminal.device.code if terminal.device else None, "active": bool(terminal.active)}


def use_json(use: TerminalUse) -> dict:
    return {
        "id": use.id, "status": use.status, "terminal": use.terminal.code,
        "terminal_department": use.terminal.department.code, "user": _person(use.user),
        "department": use.department.code, "department_name": use.department.name,
        "business": use.business.code, "business_name": use.business.name, "purpose": use.purpose,
        "starts_at": iso(use.starts_at), "ends_at": iso(use.ends_at), "requested_at": iso(use.requested_at),
        "approved_at": iso(use.approved_at), "approver": _person(use.approver) if use.decided_at else None,
        "decided_at": iso(use.decided_at), "no_camera_phone_usb": use.no_camera_phone_usb,
        "refusal_reason": use.refusal_reason, "started_at": iso(use.started_at), "ended_at": iso(use.ended_at),
        "closed_at": iso(use.closed_at), "output_note": use.output_note, "forms": services.linked_forms(use),
        "without_approval": use.status == "closed" and use.approved_at is None,
    }


@endpoint("/terminals", "POST", summary="端末を登録する（システム管理者）",
          request={"type": "object", "required": ["code", "department", "location"], "properties": {
              "code": {"type": "string", "description": "端末番号（半角英数字と - _ .）"},
              "department": {"type": "string", "description": "所属コード"},
              "location": {"type": "string"}, "name": {"type": "string"},
              "device": {"type": "string", "description": "機器管理簿の管理番号（任意）"}}},
          response=TERMINAL_SCHEMA, status=201, errors=(400, 403, 409, 422))
def terminal_register():
    return ok(terminal_json(services.register_terminal(current_actor(), json_body())), 201)


@endpoint("/terminals", summary="端末の一覧",
          response=record({"terminals": {"type": "array", "items": TERMINAL_SCHEMA}}), errors=(403,))
def terminal_list():
    return ok({"terminals": [terminal_json(t) for t in services.list_terminals(current_actor())]})


@endpoint("/terminals/<terminal_code>", summary="端末", response=TERMINAL_SCHEMA, errors=(403, 404))
def terminal_get(terminal_code):
    services.list_terminals(current_actor())  # readers only
    return ok(terminal_json(services.get_terminal(terminal_code)))


@endpoint("/terminals/<terminal_code>/device", "POST", summary="端末に機器管理簿の機器を結び付ける（空で解除）",
          request={"type": "object", "properties": {"device": nullable({"type": "string"})}},
          response=TERMINAL_SCHEMA, errors=(400, 403, 404, 409, 422))
def terminal_device(terminal_code):
    terminal = services.link_device(current_actor(), terminal_code, json_body().get("device"))
    return ok(terminal_json(services.get_terminal(terminal.code)))


@endpoint("/terminals/<terminal_code>/active", "POST", summary="端末の使用停止・再開（システム管理者）",
          request={"type": "object", "required": ["active", "reason"], "properties": {
              "active": {"type": "boolean", "description": "false で使用停止（新しい使用伺いを受け付けない）"},
              "reason": {"type": "string"}}},
          response=TERMINAL_SCHEMA, errors=(400, 403, 404, 409, 422))
def terminal_active(terminal_code):
    terminal = services.set_active(current_actor(), terminal_code, json_body())
    return ok(terminal_json(services.get_terminal(terminal.code)))


@endpoint("/terminal-uses", "POST", summary="端末の使用を伺い出る（使用伺い）",
          request={"type": "object", "required": ["terminal", "business", "starts_at", "ends_at"], "properties": {
              "terminal": {"type": "string", "description": "端末番号"},
              "business": {"type": "string", "description": "利用事務コード"},
              "starts_at": MOMENT, "ends_at": MOMENT, "purpose": {"type": "string"}}},
          response=USE_SCHEMA, status=201, errors=(400, 403, 422))
def terminal_use_request():
    return ok(use_json(services.request_use(current_actor(), json_body())), 201)


@endpoint("/terminal-uses", summary="使用伺い簿（検索）",
          query={"department": STRING, "terminal": STRING, "status": STATUS,
                 "from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"},
                 "q": STRING},
          response=record({"uses": {"type": "array", "items": USE_SCHEMA}, "total": INTEGER}), errors=(403, 404, 422))
def terminal_use_list():
    actor = current_actor()
    services.list_terminals(actor)  # readers only
    found = services.get_terminal(request.args["terminal"]) if request.args.get("terminal") else None
    rows = queries.book_rows(book_filter(request.args, terminal_id=found.id if found else None), actor, 1000)
    uses = [services.get_use(row.id) for row in rows]
    return ok({"uses": [use_json(u) for u in uses], "total": len(uses)})


@endpoint("/terminal-uses/<use_id>", summary="使用伺い", response=USE_SCHEMA, errors=(403, 404))
def terminal_use_get(use_id):
    return ok(use_json(services.get_visible_use(current_actor(), use_id)))


@endpoint("/terminal-uses/<use_id>/approve", "POST",
          summary="使用を承認する（端末の所属のセキュリティ管理者。伺い出た本人は不可）",
          request={"type": "object", "required": ["no_camera_phone_usb"], "properties": {
              "no_camera_phone_usb": {"type": "boolean",
                                      "description": "カメラ・スマートフォン・USBメモリ等の持込みがないことを確認した"}}},
          response=USE_SCHEMA, errors=(400, 403, 404, 409, 422))
def terminal_use_approve(use_id):
    return ok(use_json(services.approve_use(current_actor(), use_id, json_body())))


@endpoint("/terminal-uses/<use_id>/refuse", "POST", summary="使用伺いを却下する",
          request={"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}},
          response=USE_SCHEMA, errors=(400, 403, 404, 409, 422))
def terminal_use_refuse(use_id):
    return ok(use_json(services.refuse_use(current_actor(), use_id, json_body())))


@endpoint("/terminal-uses/<use_id>/close", "POST",
          summary="使用終了を記録する（本人。承認のない使用もこれで記録する）",
          request={"type": "object", "properties": {"started_at": MOMENT, "ended_at": MOMENT,
                                                    "output_note": {"type": "string"}}},
          body_optional=True, response=USE_SCHEMA, errors=(400, 403, 404, 409, 422))
def terminal_use_close(use_id):
    return ok(use_json(services.close_use(current_actor(), use_id, optional_json_body())))


@endpoint("/terminal-uses/<use_id>/cancel", "POST", summary="使用伺いを取り消す（本人）",
          request={"type": "object", "properties": {"reason": {"type": "string"}}},
          body_optional=True, response=USE_SCHEMA, errors=(400, 403, 404, 409, 422))
def terminal_use_cancel(use_id):
    return ok(use_json(services.cancel_use(current_actor(), use_id, optional_json_body())))
