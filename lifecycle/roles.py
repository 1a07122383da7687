from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from .errors import Forbidden

if TYPE_CHECKING:
    from .actors import Actor


class Role(StrEnum):
    REGISTRAR = "registrar"
    BULK_OPERATOR = "bulk_operator"
    SECURITY_MANAGER = "security_manager"
    AUDITOR = "auditor"
    ADMIN = "admin"


ROLE_LABELS = {
    Role.REGISTRAR: "登録担当",
    Role.BULK_OPERATOR: "一括利用担当",
    Role.SECURITY_MANAGER: "セキュリティ管理者",
    Role.AUDITOR: "監査担当",
    Role.ADMIN: "システム管理者",
}


def role_label(value: str) -> str:
    try:
        return ROLE_LABELS[Role(value)]
    except ValueError:
        return value


def require_role(actor: Actor, *roles: Role, message: str | None = None) -> None:
    if not actor.has_role(*roles):  # system actors (CLI, scheduler) pass: actors.py
        names = "・".join(ROLE_LABELS[r] for r in roles)
        raise Forbidden(message or f"この操作には「{names}」の権限が必要です。")
