"""What stocktakes ask of people (the inbox, every page's header): an open stocktake one is to
scan or planned, and, for a security manager, a department whose next stocktake is due."""
from __future__ import annotations

from typing import Iterable

from ..auth.models import User
from ..notifications.tasks import Task, path
from ..roles import Role
from ..wareki import wareki_date
from . import queries, services


def stocktake_tasks(user: User) -> Iterable[Task]:
    if not user.has_role(*services.SCAN_ROLES):
        return
    for row in queries.open_stocktakes_for(user.id, user.department_id):
        late = "（実施期限を過ぎています）" if row.due < services.today_jst() else ""
        yield Task("stocktake_due", f"棚卸 第{row.id}号（{row.department}）の読み取りが割り当てられています。"
                                    f"実施期限: {wareki_date(row.due)}{late}。",
                   path("stocktake.show", stocktake_id=row.id))
    if not user.has_role(Role.SECURITY_MANAGER):
        return
    for due in services.departments_due():
        if not services.may_manage(user, due.department.id) or due.open_ids:
            continue
        if due.department.id != user.department_id and not due.overdue:
            continue  # the 市町課's manager is told of other departments only once they are late
        yield Task("stocktake_due", f"{due.department.name}の{due.text}。棚卸を計画してください。",
                   path("stocktake.index"))
