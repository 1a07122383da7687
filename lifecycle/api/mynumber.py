"""個人番号 temporary copies (docs/api.md, 個人番号 temporary copies)."""
from __future__ import annotations

from ..roles import require_role, Role
from ..clock import iso
from ..mynumber import services
from ..mynumber.models import MyNumberCopy
from ..web import current_actor
from . import (
    BOOLEAN,
    DATE_TIME,
    INTEGER,
    STRING,
    endpoint,
    json_body,
    nullable,
    ok,
    query_int,
    record,
)

COPY_SCHEMA = record({
    "id": INTEGER, "status": STRING, "masked": {"type": "string", "example": "********9018"},
    "provided_to": STRING, "reason": STRING, "retain_minutes": INTEGER, "recorded_by": STRING,
    "created_at": DATE_TIME, "purge_after": DATE_TIME})

RECORD_REQUEST = {"type": "object", "required": ["my_number", "provided_to", "reason"], "properties": {
    "my_number": {"type": "string", "description": "12桁（全角数字・空白・ハイフン可）"},
    "provided_to": {"type": "string"}, "reason": {"type": "string"},
    "retain_minutes": {"type": "integer", "minimum": 1,
                       "description": "省略時はポリシーの既定値。ポリシーの上限を超えると 422"}}}

REASON_REQUEST = {"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}}

GONE = 410


def copy_json(copy: MyNumberCopy) -> dict:
    return {"id": copy.id, "status": copy.status, "masked": copy.masked,
            "provided_to": copy.provided_to, "reason": copy.reason,
            "retain_minutes": copy.retain_minutes, "recorded_by": copy.recorded_by,
            "created_at": iso(copy.created_at), "purge_after": iso(copy.purge_after)}


@endpoint("/my-number-copies", "POST", summary="個人番号を暗号化して一時保存する（一括利用担当）",
          request=RECORD_REQUEST, response=COPY_SCHEMA, status=201, errors=(400, 403, 422))
def my_number_copy_create():
    copy = services.record_copy(current_actor(), json_body())
    return ok(copy_json(copy), 201)


@endpoint("/my-number-copies", summary="一時保存中の個人番号の一覧（下4桁のみ）",
          response=record({"copies": {"type": "array", "items": COPY_SCHEMA}, "total": INTEGER}),
          query={"page": {"type": "integer", "minimum": 1, "maximum": 10**6},
                 "per_page": {"type": "integer", "minimum": 1, "maximum": 200}}, errors=(403, 422))
def my_number_copy_list():
    rows, total = services.list_copies(current_actor(), page=query_int("page", 1, 10**6),
                                       per_page=query_int("per_page", 50, 200))
    return ok({"copies": [copy_json(c) for c in rows], "total": total})


@endpoint("/my-number-copies/<int:copy_id>", summary="一時保存の内容（下4桁のみ）。消去後は 410 と purged_at",
          response=COPY_SCHEMA, errors=(403, 404, GONE))
def my_number_copy_get(copy_id: int):
    return ok(copy_json(services.get_copy(current_actor(), copy_id)))


@endpoint("/my-number-copies/<int:copy_id>/reveal", "POST",
          summary="再送のため個人番号を表示する（セキュリティ管理者・理由必須・監査ログに記録）",
          request=REASON_REQUEST,
          response=record({"my_number": {"type": "string", "pattern": "^[0-9]{12}$"}}),
          errors=(400, 403, 404, GONE, 422))
def my_number_copy_reveal(copy_id: int):
    body = json_body()
    number = services.reveal_copy(current_actor(), copy_id, body.get("reason"))
    return ok({"my_number": number})


@endpoint("/my-number-copies/<int:copy_id>/purge", "POST",
          summary="消去予定を待たずに消去する（一括利用担当・セキュリティ管理者・理由必須）",
          request=REASON_REQUEST,
          response=record({"id": INTEGER, "status": {"type": "string", "enum": ["purged"]}, "rule": STRING,
                           "purged_at": DATE_TIME}),
          errors=(400, 403, 404, GONE, 422))
def my_number_copy_purge(copy_id: int):
    body = json_body()
    deletion = services.purge_copy(current_actor(), copy_id, body.get("reason"))
    return ok({"id": deletion.copy_id, "status": "purged", "rule": deletion.rule,
               "purged_at": iso(deletion.purged_at)})


@endpoint("/my-number-copies/purge-health", summary="自動消去の実行状況（システム管理者・監査担当）",
          response=record({"status": {"type": "string", "enum": ["ok", "never", "failed", "stale", "overdue"]},
                           "alert": BOOLEAN, "message": STRING, "interval_seconds": INTEGER,
                           "last_run_at": nullable(DATE_TIME), "last_run_status": nullable(STRING),
                           "last_success_at": nullable(DATE_TIME), "next_run_at": nullable(DATE_TIME),
                           "live_copies": INTEGER, "overdue_copies": INTEGER}), errors=(403,))
def my_number_purge_health():

    require_role(current_actor(), Role.ADMIN, Role.AUDITOR,
                 message="自動消去の実行状況は、システム管理者と監査担当が確認できます。")
    return ok(services.purge_health().to_json())
