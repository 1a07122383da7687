"""What the exceptions list (reports/queries.py) and the inbox read about people: items
所在確認待ち, users whose training has lapsed while they hold roles, and roles the rights review
left unconfirmed after its deadline."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import or_, select

from ..auth.models import RoleGrant, User
from ..extensions import db
from ..items.models import Item
from ..roles import role_label
from ..states import State
from ..wareki import wareki_date
from . import services


@dataclass(frozen=True)
class PeopleException:
    category: str  #: "custody_unconfirmed" | "training_expired" | "rights_unreviewed"
    department: str  #: the department's name
    code: str
    title: str
    detail: str


def _roles_text(user: User) -> str:
    return "、".join(role_label(r.value) for r in sorted(user.granted_roles))


def list_people_exceptions(as_of: date) -> list[PeopleException]:
    rows: list[PeopleException] = []
    for item in db.session.scalars(select(Item).where(Item.status == State.CUSTODY_UNCONFIRMED.value)
                                   .order_by(Item.code)):
        rows.append(PeopleException(
            "custody_unconfirmed", item.department.name, item.code, item.title,
            f"保管者の強制離任により所在確認待ち（引き受けた人: {item.holder.name}（{item.department.name}））"))

    # Users who hold roles that no longer count because their training lapsed (or was never recorded).
    lapsed = db.session.scalars(
        select(User).where(User.active.is_(True), User.id.in_(select(RoleGrant.user_id)),
                           or_(User.training_valid_until.is_(None), User.training_valid_until < as_of))
        .order_by(User.login))
    for user in lapsed:
        if user.training_valid_until is None:
            detail = "研修受講の記録がありません"
        else:
            days = (as_of - user.training_valid_until).days
            detail = (f"研修の有効期限 {wareki_date(user.training_valid_until)}（{days}日超過、"
                      f"最後の受講 {wareki_date(user.trained_on)}）")
        rows.append(PeopleException("training_expired", user.department.name, "",
                                    f"{user.name}（{user.department.name}）",
                                    f"{detail}。権限（{_roles_text(user)}）は無効です"))

    year = services.review_year(as_of)
    deadline = services.review_deadline(year)
    for row in services.unreviewed_after_deadline(as_of):
        rows.append(PeopleException(
            "rights_unreviewed", row.user.department.name, "", f"{row.user.name}（{row.user.department.name}）",
            f"「{role_label(row.role.value)}」が{year}年度の権限の棚卸の期限（{wareki_date(deadline)}）までに"
            "確認されていません"))
    return rows
