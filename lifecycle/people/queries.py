"""What the exceptions list (reports/queries.py) and the inbox read about people: items
所在確認待ち, users whose training has lapsed while they hold roles, and roles the rights review
left unconfirmed after its deadline."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import or_, select

from ..auth.models import Department, RoleGrant, TrainingRecord, User
from ..extensions import db
from ..items.models import Item
from ..notifications.tasks import TRAINING_WARNING_DAYS as INBOX_WARNING_DAYS
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


#: Days before a training's last valid day from which the home page warns, as the inbox does.
TRAINING_WARNING_DAYS = INBOX_WARNING_DAYS


def training_expiring(as_of: date, department_id: int | None = None) -> list[User]:
    """Active users holding roles whose training ends within TRAINING_WARNING_DAYS of `as_of`, or
    has ended (or was never recorded): soonest first. Optionally one department's."""
    from datetime import timedelta

    query = (select(User).where(User.active.is_(True), User.id.in_(select(RoleGrant.user_id)),
                                or_(User.training_valid_until.is_(None),
                                    User.training_valid_until <= as_of + timedelta(days=TRAINING_WARNING_DAYS)))
             .order_by(User.training_valid_until.is_not(None), User.training_valid_until, User.login))
    if department_id is not None:
        query = query.where(User.department_id == department_id)
    return list(db.session.scalars(query))


# --- 研修受講状況 (the per-department training report for the council) ------------------------------

@dataclass(frozen=True)
class TrainingRow:
    """One active person: this 年度's attendance and whether his roles count today."""
    department_code: str
    department: str
    name: str
    roles: str
    attended: tuple[tuple[date, str], ...]  #: (date, course) of this 年度's records
    latest: date | None
    valid_until: date | None
    current: bool

    @property
    def status(self) -> str:
        if self.latest is None:
            return "未受講（記録なし）"
        if not self.current:
            return "期限切れ（権限は無効）"
        return "有効"


def training_rows(year: int, as_of: date, department_code: str | None = None) -> list[TrainingRow]:
    """Every active person by department, with the training records of the 年度 `year`."""

    start, end = date(year, 4, 1), date(year + 1, 3, 31)
    query = (select(User).join(Department, Department.id == User.department_id).where(User.active.is_(True))
             .order_by(Department.is_system_owner.desc(), Department.code, User.login))
    if department_code:
        query = query.where(Department.code == department_code)
    users = list(db.session.scalars(query))
    records: dict[int, list[tuple[date, str]]] = {}
    for record in db.session.scalars(select(TrainingRecord).where(
            TrainingRecord.withdrawn_at.is_(None), TrainingRecord.completed_on >= start,
            TrainingRecord.completed_on <= end).order_by(TrainingRecord.completed_on)):
        records.setdefault(record.user_id, []).append((record.completed_on, record.course))
    return [TrainingRow(u.department.code, u.department.name, u.name, _roles_text(u) or "なし",
                        tuple(records.get(u.id, ())), u.trained_on, u.training_valid_until,
                        u.training_current(as_of)) for u in users]
