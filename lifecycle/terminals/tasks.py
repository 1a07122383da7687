"""The inbox task of the approving security manager: 使用伺い waiting for a decision."""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from ..auth.models import Department, User
from ..extensions import db
from ..notifications.tasks import Task, counted, path, register_task_provider
from ..roles import Role
from ..states import State
from ..wareki import wareki_datetime
from .models import Terminal, TerminalUse


def _waiting(user: User):
    """Requests of the manager's department's terminals, not their own (they may not decide those)."""
    if not user.has_role(Role.SECURITY_MANAGER):
        return None
    mine = select(Terminal.id).where(Terminal.department_id == user.department_id).scalar_subquery()
    return (TerminalUse.status == State.REQUESTED.value, TerminalUse.terminal_id.in_(mine),
            TerminalUse.user_id != user.id)


def uses_to_approve(user: User) -> Iterable[Task]:
    conditions = _waiting(user)
    if conditions is None:
        return
    rows = db.session.execute(
        select(TerminalUse.id, TerminalUse.starts_at, Terminal.code, User.name, Department.name.label("department"))
        .join(Terminal, Terminal.id == TerminalUse.terminal_id).join(User, User.id == TerminalUse.user_id)
        .join(Department, Department.id == TerminalUse.department_id)
        .where(*conditions).order_by(TerminalUse.starts_at, TerminalUse.id).limit(200))
    for use in rows:
        yield Task("terminal_use_to_approve",
                   f"端末 {use.code} の使用伺い 第{use.id}号（{use.name}（{use.department}）、"
                   f"{wareki_datetime(use.starts_at)} から）の承認を待っています。",
                   path("terminals.use", use_id=use.id))


def count_uses_to_approve(user: User):
    return counted(TerminalUse, _waiting(user))


def register() -> None:
    register_task_provider("terminal_use_to_approve", uses_to_approve, count=count_uses_to_approve)
