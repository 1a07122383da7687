"""Inbox tasks of findings: the department's security manager answers (plan, then action); a
security manager other than the one who answered confirms on site."""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select

from ..auth.models import Department, User
from ..extensions import db
from ..notifications.tasks import Task, counted, path, register_task_provider
from ..roles import Role
from ..states import State
from ..wareki import wareki_date
from .models import Finding


def _to_answer(user: User):
    if not user.has_role(Role.SECURITY_MANAGER):
        return None
    return (Finding.department_id == user.department_id,
            Finding.status.in_((State.RECORDED.value, State.PLANNED.value)))


def _to_confirm(user: User):
    """Reported actions this manager did not answer for (services.confirm_problem's rule)."""
    if not user.has_role(Role.SECURITY_MANAGER):
        return None
    return (Finding.status == State.ACTION_REPORTED.value,
            func.coalesce(Finding.planned_by, "") != user.login,
            func.coalesce(Finding.reported_by, "") != user.login)


def _tasks(kind: str, conditions, words) -> Iterable[Task]:
    if conditions is None:
        return
    rows = db.session.execute(select(Finding.id, Finding.status, Finding.due_on, Department.name.label("department"))
                              .join(Department, Department.id == Finding.department_id)
                              .where(*conditions).order_by(Finding.due_on, Finding.id).limit(200))
    for row in rows:
        yield Task(kind, words(row), path("findings.show", finding_id=row.id))


def findings_to_answer(user: User) -> Iterable[Task]:
    return _tasks("finding_to_answer", _to_answer(user), lambda row: (
        f"指摘事項 第{row.id}号（{row.department}、改善期限 {wareki_date(row.due_on)}）の"
        + ("改善計画の提出を待っています。" if row.status == State.RECORDED.value
           else "措置の完了報告を待っています。")))


def findings_to_confirm(user: User) -> Iterable[Task]:
    return _tasks("finding_to_confirm", _to_confirm(user), lambda row: (
        f"指摘事項 第{row.id}号（{row.department}）の措置が報告されました。現地確認を待っています。"))


def register() -> None:
    register_task_provider("finding_to_answer", findings_to_answer,
                           count=lambda user: counted(Finding, _to_answer(user)))
    register_task_provider("finding_to_confirm", findings_to_confirm,
                           count=lambda user: counted(Finding, _to_confirm(user)))
