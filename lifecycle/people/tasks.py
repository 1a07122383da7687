"""What people's work asks of people: a bulk_operator grant waiting for a second admin, the
department's rights review once its month has come, and items of a forced leaver to confirm."""
from __future__ import annotations

from collections.abc import Iterable

from ..auth.models import User
from ..clock import today_jst
from ..notifications.tasks import Task, counted, path, register_task_provider
from ..roles import ROLE_LABELS, Role
from ..states import State
from ..items.models import Item
from ..wareki import wareki_date
from . import services


def grants_to_approve(user: User) -> Iterable[Task]:
    for request in services.grant_requests_to_approve(user):
        yield Task("grant_to_approve",
                   f"「{request.user.name}（{request.user.department.name}）」さんへの"
                   f"「{ROLE_LABELS[Role(request.role)]}」の付与（承認依頼 No.{request.id}）の承認を待っています。",
                   path("people.grant_requests"))


def rights_review_due(user: User) -> Iterable[Task]:
    """From the first day of the review month, while roles of the manager's department are undecided."""
    if not user.has_role(Role.SECURITY_MANAGER):
        return
    year = services.review_year()
    if today_jst() < services.review_start(year):
        return
    due = [row for row in services.due_rows(user.department, year) if row.user.id != user.id]
    if due:
        deadline = services.review_deadline(year)
        late = "が過ぎています" if today_jst() > deadline else f"は{wareki_date(deadline)}です"
        yield Task("rights_review_due",
                   f"{user.department.name}の権限の棚卸（{year}年度）で、未確認の権限が{len(due)}件あります。"
                   f"確認の期限{late}。", path("people.rights_review", department=user.department.code))


def _to_confirm(user: User):
    return (Item.status == State.CUSTODY_UNCONFIRMED.value, Item.holder_id == user.id)


def custody_to_confirm(user: User) -> Iterable[Task]:
    for item in services.unconfirmed_items(user):
        yield Task("custody_to_confirm",
                   f"管理番号 {item.code} は保管者の強制離任によりあなたが引き受けました。所在を確認して保管してください。",
                   path("people.unconfirmed"))


def count_custody_to_confirm(user: User):
    return counted(Item, _to_confirm(user))


def register() -> None:
    register_task_provider("grant_to_approve", grants_to_approve)
    register_task_provider("rights_review_due", rights_review_due)
    register_task_provider("custody_to_confirm", custody_to_confirm, count=count_custody_to_confirm)
