from ..audit.events import EventType
from ..audit.services import record_event, verify_chain
from ..auth.roles import Role
from ..auth.services import require_role
from ..extensions import db
from ..web import current_actor
from . import endpoint, ok

VERIFY_SCHEMA = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"}, "events": {"type": "integer"},
                   "head": {"type": "string"}, "broken_at": {"type": "integer", "nullable": True},
                   "reason": {"type": "string", "nullable": True}},
    "required": ["ok"],
}


@endpoint("/audit/verify", summary="監査ログのハッシュチェーンを検証する（監査担当・システム管理者）",
          response=VERIFY_SCHEMA, errors=(401, 403))
def audit_verify():
    actor = current_actor()
    require_role(actor, Role.AUDITOR, Role.ADMIN)
    result = verify_chain()
    with db.transaction():
        record_event(EventType.AUDIT_VERIFIED, actor=actor, ok=result.ok, events=result.events,
                     broken_at=result.broken_at)
    return ok(result.to_json())


ME_SCHEMA = {"type": "object", "properties": {
    "login": {"type": "string"}, "name": {"type": "string"}, "department": {"type": "string"},
    "roles": {"type": "array", "items": {"type": "string"}}}}


@endpoint("/me", summary="トークンの利用者と有効な権限", response=ME_SCHEMA, errors=(401,))
def me():
    user = current_actor()
    return ok({"login": user.login, "name": user.name, "department": user.department.code,
               "roles": sorted(r.value for r in user.effective_roles)})
