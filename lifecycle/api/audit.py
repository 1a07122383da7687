from flask import current_app, request

from .. import crypto
from ..audit import merkle
from ..audit.checkpoints import (
    checkpoint_json,
    list_checkpoints,
    sign_checkpoint,
    verify_log,
)
from ..roles import require_role, Role
from ..web import current_actor
from . import DATE_TIME, INTEGER, STRING, endpoint, nullable, ok, record

VERIFY_SCHEMA = {"oneOf": [
    record({"ok": {"type": "boolean", "enum": [True]}, "events": INTEGER, "head": STRING}),
    record({"ok": {"type": "boolean", "enum": [False]}, "events": INTEGER, "broken_at": nullable(INTEGER),
            "reason": STRING}),
]}


@endpoint("/audit/verify", summary="監査ログのハッシュチェーンを検証する（監査担当・システム管理者）",
          response=VERIFY_SCHEMA, errors=(401, 403))
def audit_verify():
    actor = current_actor()
    require_role(actor, Role.AUDITOR, Role.ADMIN)
    return ok(verify_log(actor).to_json())


ME_SCHEMA = record({"login": STRING, "name": STRING, "department": STRING,
                    "roles": {"type": "array", "items": {"type": "string", "enum": [r.value for r in Role]}}})


@endpoint("/me", summary="トークンの利用者と有効な権限", response=ME_SCHEMA, errors=(401,))
def me():
    user = current_actor()
    return ok({"login": user.login, "name": user.name, "department": user.department.code,
               "roles": sorted(r.value for r in user.effective_roles)})


CHECKPOINT_SCHEMA = record({"id": INTEGER, "seq": INTEGER, "head": STRING,
                            "created_at": STRING,  # naive UTC, microseconds: the signed text
                            "created_at_jst": DATE_TIME, "tree_size": INTEGER, "root": STRING,
                            "key_id": STRING, "signature": STRING})


@endpoint("/audit/checkpoints", summary="署名付き確認点の一覧（監査担当・システム管理者）",
          response=record({"checkpoints": {"type": "array", "items": CHECKPOINT_SCHEMA}, "public_key": STRING}),
          errors=(401, 403))
def audit_checkpoints():


    require_role(current_actor(), Role.AUDITOR, Role.ADMIN)
    return ok({"checkpoints": [checkpoint_json(c) for c in list_checkpoints()],
               "public_key": crypto.public_key_pem(current_app.instance_path).decode()})


@endpoint("/audit/checkpoints", "POST", summary="現在の末尾ハッシュに署名して確認点を作る",
          response=CHECKPOINT_SCHEMA, status=201, errors=(401, 403))
def audit_sign_checkpoint():

    actor = current_actor()
    require_role(actor, Role.AUDITOR, Role.ADMIN)
    return ok(checkpoint_json(sign_checkpoint(actor)), 201)


HEX = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
HEX_LIST = {"type": "array", "items": HEX}
SIZE = {"type": "integer", "minimum": 1}


@endpoint("/audit/tree", summary="監査ログの Merkle 木（RFC 9162）の大きさと根ハッシュ（監査担当・システム管理者）",
          response=record({"tree_size": INTEGER, "root": HEX}), errors=(401, 403))
def audit_tree():
    require_role(current_actor(), Role.AUDITOR, Role.ADMIN)
    return ok(merkle.tree_json())


@endpoint("/audit/proof/inclusion", summary="記録が監査ログの Merkle 木に含まれることの証明（監査担当・システム管理者）",
          response=record({"leaf_index": INTEGER, "tree_size": INTEGER, "leaf_hash": HEX,
                           "audit_path": HEX_LIST, "root": HEX}),
          query={"seq": {**SIZE, "description": "記録の連番（必須）"},
                 "tree_size": {**SIZE, "description": "木の大きさ（省略時: 現在の記録数）"}},
          errors=(401, 403, 422))
def audit_inclusion_proof():
    require_role(current_actor(), Role.AUDITOR, Role.ADMIN)
    return ok(merkle.inclusion_json(request.args.get("seq"), request.args.get("tree_size")))


@endpoint("/audit/proof/consistency",
          summary="前の木を後の木が書き換えずに延長したことの証明（監査担当・システム管理者）",
          response=record({"first": INTEGER, "second": INTEGER, "first_root": HEX, "second_root": HEX,
                           "proof": HEX_LIST}),
          query={"first": {**SIZE, "description": "前の木の大きさ（必須）"},
                 "second": {**SIZE, "description": "後の木の大きさ（省略時: 現在の記録数）"}},
          errors=(401, 403, 422))
def audit_consistency_proof():
    require_role(current_actor(), Role.AUDITOR, Role.ADMIN)
    return ok(merkle.consistency_json(request.args.get("first"), request.args.get("second")))
