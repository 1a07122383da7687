"""People (docs/api.md, People and terminals): training records, 異動 and leaving, the second
admin's approval of a bulk_operator grant, the yearly rights review, and 所在確認待ち items."""
from __future__ import annotations

from .. import validation as v
from ..auth import services as auth
from ..auth.models import TrainingRecord, User
from ..roles import require_role, Role
from ..clock import iso
from ..items.schemas import item_json_of
from ..people import services
from ..people.models import GrantRequest, RoleConfirmation
from ..web import current_actor
from . import BOOLEAN, DATE, DATE_TIME, INTEGER, STRING, endpoint, json_body, nullable, ok, optional_json_body, record
from .custody import TRANSFER_SCHEMA, transfer_json
from .items import ITEM_SCHEMA

ROLE = {"type": "string", "enum": [r.value for r in Role]}

TRAINING_SCHEMA = record({"id": INTEGER, "completed_on": DATE, "course": STRING, "confirmed_by": STRING,
                          "recorded_at": DATE_TIME, "withdrawn_at": nullable(DATE_TIME)})

PERSON_SCHEMA = record({
    "login": STRING, "name": STRING, "department": STRING, "department_name": STRING, "active": BOOLEAN,
    "roles": {"type": "array", "items": ROLE, "description": "付与されている権限"},
    "effective_roles": {"type": "array", "items": ROLE, "description": "研修が有効な間だけ有効な権限"},
    "trained_on": nullable(DATE), "training_valid_until": nullable(DATE),
    "training": {"type": "array", "items": TRAINING_SCHEMA}})


def _training_json(record_: TrainingRecord) -> dict:
    return {"id": record_.id, "completed_on": record_.completed_on.isoformat(), "course": record_.course,
            "confirmed_by": record_.confirmed_by, "recorded_at": iso(record_.recorded_at),
            "withdrawn_at": iso(record_.withdrawn_at)}


def person_json(user: User) -> dict:
    return {"login": user.login, "name": user.name, "department": user.department.code,
            "department_name": user.department.name, "active": bool(user.active),
            "roles": sorted(r.value for r in user.granted_roles),
            "effective_roles": sorted(r.value for r in user.effective_roles),
            "trained_on": user.trained_on.isoformat() if user.trained_on else None,
            "training_valid_until": user.training_valid_until.isoformat() if user.training_valid_until else None,
            "training": [_training_json(r) for r in auth.training_records(user)]}


def _admin():
    actor = current_actor()
    require_role(actor, Role.ADMIN, message="この操作はシステム管理者のみが行えます。")
    return actor


@endpoint("/users/<login>", summary="利用者の所属・権限・研修受講記録（システム管理者）", response=PERSON_SCHEMA,
          errors=(401, 403, 404))
def person_get(login: str):
    _admin()
    return ok(person_json(auth.get_user(login)))


TRAINING_REQUEST = {"type": "object", "required": ["completed_on"], "properties": {
    "completed_on": DATE, "course": {"type": "string", "maxLength": 200, "description": "省略時は既定の研修名"}}}


@endpoint("/users/<login>/training", "POST", summary="研修受講を記録する（確認したシステム管理者の名で）",
          request=TRAINING_REQUEST, response=PERSON_SCHEMA, status=201, errors=(400, 401, 403, 404, 422))
def training_create(login: str):
    body = json_body()
    auth.record_training(current_actor(), login, body.get("completed_on"), body.get("course"))
    return ok(person_json(auth.get_user(login)), 201)


LEAVE_REQUEST = {"type": "object", "required": ["effective_on"], "properties": {
    "effective_on": DATE, "reason": {"type": "string", "maxLength": 500, "description": "force のときは必須"},
    "force": {"type": "boolean", "description": "保管中の物を所属のセキュリティ管理者の所在確認待ちにして離任させる"}}}


@endpoint("/users/<login>/leave", "POST", summary="退職・担当替え（保管中の物・受領待ちの引継ぎがあれば 409 holds_items）",
          request=LEAVE_REQUEST, response=PERSON_SCHEMA, errors=(400, 401, 403, 404, 409, 422))
def person_leave(login: str):
    body = json_body()
    force = v.boolean(body.get("force", False), "force", field="force")
    user = services.leave(current_actor(), login, body.get("effective_on"), body.get("reason"), force=force)
    return ok(person_json(user))


DEPARTMENT_REQUEST = {"type": "object", "required": ["department", "effective_on"], "properties": {
    "department": {"type": "string", "description": "異動先の所属コード"}, "effective_on": DATE,
    "reason": {"type": "string", "maxLength": 500}}}


@endpoint("/users/<login>/department", "POST", summary="異動（保管中の物・受領待ちの引継ぎがあれば 409 holds_items）",
          request=DEPARTMENT_REQUEST, response=PERSON_SCHEMA, errors=(400, 401, 403, 404, 409, 422))
def person_transfer(login: str):
    body = json_body()
    user = services.change_department(current_actor(), login, body.get("department"), body.get("effective_on"),
                                      body.get("reason"))
    return ok(person_json(user))


HAND_OFF_REQUEST = {"type": "object", "required": ["to"], "properties": {
    "to": {"type": "string", "description": "引継ぎ先のログインID"}, "note": {"type": "string", "maxLength": 500}}}


@endpoint("/users/<login>/hand-off", "POST", summary="異動・退職する人の保管中の物をまとめて一人に引き継ぐ（受領は一件ずつ）",
          request=HAND_OFF_REQUEST, response=record({"transfers": {"type": "array", "items": TRANSFER_SCHEMA}}),
          status=201, errors=(400, 401, 403, 404, 409, 422))
def person_hand_off(login: str):
    body = json_body()
    actor = current_actor()
    transfers = services.hand_off_all(actor, login, body.get("to"), body.get("note"))
    return ok({"transfers": [transfer_json(t, actor) for t in transfers]}, 201)


GRANT_REQUEST_SCHEMA = record({
    "id": INTEGER, "login": STRING, "role": ROLE,
    "status": {"type": "string", "enum": ["pending", "approved", "refused", "cancelled"]},
    "reason": nullable(STRING), "requested_by": STRING, "requested_at": DATE_TIME,
    "decided_by": nullable(STRING), "decided_at": nullable(DATE_TIME), "decision_reason": nullable(STRING)})


def grant_request_json(request: GrantRequest) -> dict:
    return {"id": request.id, "login": request.user.login, "role": Role(request.role).value,
            "status": request.status, "reason": request.reason, "requested_by": request.requested_by,
            "requested_at": iso(request.requested_at), "decided_by": request.decided_by,
            "decided_at": iso(request.decided_at), "decision_reason": request.decision_reason}


GRANT_REQUEST_REQUEST = {"type": "object", "required": ["role"], "properties": {
    "role": ROLE, "reason": {"type": "string", "maxLength": 500}}}


@endpoint("/users/<login>/grant-requests", "POST",
          summary="別のシステム管理者の承認が必要な権限（一括利用担当）の付与を依頼する",
          request=GRANT_REQUEST_REQUEST, response=GRANT_REQUEST_SCHEMA, status=201,
          errors=(400, 401, 403, 404, 409, 422))
def grant_request_create(login: str):
    body = json_body()
    request = services.request_grant(current_actor(), login, body.get("role"), body.get("reason"))
    return ok(grant_request_json(request), 201)


@endpoint("/grant-requests/<int:request_id>/approve", "POST",
          summary="権限付与を承認する（依頼者・本人以外のシステム管理者。依頼者は 403 separation_of_duties）",
          response=GRANT_REQUEST_SCHEMA, errors=(401, 403, 404, 409, 422))
def grant_request_approve(request_id: int):
    return ok(grant_request_json(services.approve_grant(current_actor(), request_id)))


REFUSE_REQUEST = {"type": "object", "properties": {
    "reason": {"type": "string", "maxLength": 500, "description": "却下のときは必須（依頼者の取下げは省略可）"}}}


@endpoint("/grant-requests/<int:request_id>/refuse", "POST",
          summary="権限付与の依頼を却下する（依頼者自身なら取下げ）", request=REFUSE_REQUEST,
          response=GRANT_REQUEST_SCHEMA, errors=(400, 401, 403, 404, 409, 422), body_optional=True)
def grant_request_refuse(request_id: int):
    body = optional_json_body()
    return ok(grant_request_json(services.refuse_grant(current_actor(), request_id, body.get("reason"))))


DECISION_SCHEMA = record({"id": INTEGER, "fiscal_year": INTEGER, "login": STRING, "role": ROLE,
                          "department": STRING, "decision": {"type": "string", "enum": ["confirmed", "revoked"]},
                          "decided_by": STRING, "decided_at": DATE_TIME, "reason": nullable(STRING)})

DECISION_REQUEST = {"type": "object", "required": ["login", "role", "decision"], "properties": {
    "login": STRING, "role": ROLE, "decision": {"type": "string", "enum": ["confirmed", "revoked"]},
    "reason": {"type": "string", "maxLength": 500, "description": "取消しのときは必須"}}}


def decision_json(c: RoleConfirmation) -> dict:
    return {"id": c.id, "fiscal_year": c.fiscal_year, "login": c.user.login, "role": Role(c.role).value,
            "department": c.department.code, "decision": c.decision, "decided_by": c.decided_by,
            "decided_at": iso(c.decided_at), "reason": c.reason}


@endpoint("/rights-review/decisions", "POST",
          summary="権限の棚卸: 所属のセキュリティ管理者が一人の一つの権限を継続確認または取消しする",
          request=DECISION_REQUEST, response=DECISION_SCHEMA, status=201, errors=(400, 401, 403, 404, 409, 422))
def rights_review_decide():
    body = json_body()
    confirmation = services.decide_role(current_actor(), body.get("login"), body.get("role"),
                                        body.get("decision"), body.get("reason"))
    return ok(decision_json(confirmation), 201)


CONFIRM_REQUEST = {"type": "object", "properties": {
    "location": {"type": "string", "maxLength": 200, "description": "確認した保管場所（変わる場合）"},
    "note": {"type": "string", "maxLength": 500}}}


@endpoint("/items/<code>/confirm-custody", "POST",
          summary="所在確認待ちの物の所在を確認して保管する（引き受けたセキュリティ管理者）",
          request=CONFIRM_REQUEST, response=ITEM_SCHEMA, errors=(400, 401, 403, 404, 409, 422), body_optional=True)
def item_confirm_custody(code: str):
    body = optional_json_body()
    item = services.confirm_custody(current_actor(), code, body.get("location"), body.get("note"))
    return ok(item_json_of(item.code))
