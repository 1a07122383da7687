"""Reading the 使用伺い簿: the one rule of what an approval covers, the look-ups the access-log
review calls, the book's rows, and the exceptions.

**Covered** (the one rule, `covering` in Python and `_covering_sql` in SQL): a use covers a moment
on its terminal when it was approved (status approved or closed, with an approval time), the
approval was given at or before that moment, and the moment falls within the use's period — the
actual start and end once the end of use is recorded, else the approved plan.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased

from ..auth.models import Business, Department, User
from ..clock import jst_day_start_utc, to_utc_naive, utcnow
from ..extensions import db
from ..items.models import Item
from ..states import Kind, State
from .models import Terminal, TerminalUse, TerminalUseForm
from ..items.queries import sees_all
from ..wareki import wareki_datetime

COVERING_STATES = (State.APPROVED.value, State.CLOSED.value)
#: A use whose planned end passed this long ago without its end recorded is an exception.
CLOSE_GRACE = timedelta(hours=1)
#: The exceptions list looks back this far (an audit looks at the last year).
LOOKBACK = timedelta(days=366)


def _start(use):
    return use.started_at or use.starts_at


def _end(use):
    return use.ended_at or use.ends_at


def covering(use, at: datetime) -> bool:
    """Whether this use (a TerminalUse or a row with the same names) covers the moment `at`
    (naive UTC) on its terminal."""
    return (use.status in COVERING_STATES and use.approved_at is not None and use.approved_at <= at
            and _start(use) <= at <= _end(use))


def _covering_sql(at):
    return and_(TerminalUse.status.in_(COVERING_STATES), TerminalUse.approved_at.is_not(None),
                TerminalUse.approved_at <= at,
                func.coalesce(TerminalUse.started_at, TerminalUse.starts_at) <= at,
                func.coalesce(TerminalUse.ended_at, TerminalUse.ends_at) >= at)


# --- rows ---------------------------------------------------------------------------------------

_requester = aliased(User)
_approver = aliased(User)
_requester_dept = aliased(Department)
_terminal_dept = aliased(Department)

#: One row of the book, read without loading objects.
USE_COLUMNS = (
    TerminalUse.id, TerminalUse.status, TerminalUse.starts_at, TerminalUse.ends_at, TerminalUse.started_at,
    TerminalUse.ended_at, TerminalUse.requested_at, TerminalUse.approved_at, TerminalUse.decided_at,
    TerminalUse.no_camera_phone_usb, TerminalUse.refusal_reason, TerminalUse.purpose, TerminalUse.output_note,
    TerminalUse.closed_at, TerminalUse.user_id, TerminalUse.department_id,
    Terminal.id.label("terminal_id"), Terminal.code.label("terminal_code"), Terminal.location.label("terminal_location"),
    Terminal.department_id.label("terminal_department_id"), _terminal_dept.name.label("terminal_department_name"),
    _requester.login.label("user_login"), _requester.name.label("user_name"),
    _requester_dept.name.label("department_name"), _requester_dept.code.label("department_code"),
    Business.code.label("business_code"), Business.name.label("business_name"),
    _approver.login.label("approver_login"), _approver.name.label("approver_name"),
    TerminalUse.decided_by,
)


def _rows_query():
    approver_dept = aliased(Department)
    return (select(*USE_COLUMNS, approver_dept.name.label("approver_department_name"))
            .join(Terminal, Terminal.id == TerminalUse.terminal_id)
            .join(_terminal_dept, _terminal_dept.id == Terminal.department_id)
            .join(_requester, _requester.id == TerminalUse.user_id)
            .join(_requester_dept, _requester_dept.id == TerminalUse.department_id)
            .join(Business, Business.id == TerminalUse.business_id)
            .outerjoin(_approver, _approver.id == TerminalUse.decided_by_id)
            .outerjoin(approver_dept, approver_dept.id == _approver.department_id))


# --- for the access-log review ------------------------------------------------------------------

def _operator_condition(operator):
    if isinstance(operator, int) and not isinstance(operator, bool):
        return TerminalUse.user_id == operator
    return _requester.login == str(operator)


def approved_use_at(terminal_code: str, operator: int | str, at: datetime):
    """The approved use (a row of USE_COLUMNS) under which `operator` — a user id (int) or a
    login (str) — worked at terminal `terminal_code` at moment `at`, or None: an access outside
    any approved use is a finding. `at` is naive UTC or timezone-aware. See `covering`."""
    from .services import normalise_code

    if at.tzinfo is not None:
        at = to_utc_naive(at)
    return db.session.execute(
        _rows_query().where(Terminal.code == normalise_code(terminal_code), _operator_condition(operator),
                            _covering_sql(at))
        .order_by(TerminalUse.approved_at, TerminalUse.id).limit(1)).first()


def approved_uses_at(records: Iterable[tuple[str, int | str, datetime]]) -> list:
    """The bulk form of approved_use_at, for checking many access-log records at once.

    `records` is a sequence of (terminal_code, operator, at) exactly as approved_use_at takes
    them; the answer is a list of the same length and order holding, for each record, the covering
    approved use's row or None. It reads each terminal's approved uses over the span of the
    records' times in one statement per terminal (not one per record), then matches in memory, so
    a month of a department's log (thousands of records) costs a handful of statements. Operators
    given as logins and as ids may be mixed.
    """
    from .services import normalise_code

    records = [(normalise_code(t), op, to_utc_naive(at) if at.tzinfo is not None else at)
               for t, op, at in records]
    by_terminal: dict[str, list[int]] = defaultdict(list)
    for index, (terminal, _op, _at) in enumerate(records):
        by_terminal[terminal].append(index)
    answer: list = [None] * len(records)
    for terminal, indexes in by_terminal.items():
        times = [records[i][2] for i in indexes]
        low, high = min(times), max(times)
        uses = db.session.execute(
            _rows_query().where(Terminal.code == terminal, TerminalUse.status.in_(COVERING_STATES),
                                TerminalUse.approved_at.is_not(None),
                                func.coalesce(TerminalUse.started_at, TerminalUse.starts_at) <= high,
                                func.coalesce(TerminalUse.ended_at, TerminalUse.ends_at) >= low)
            .order_by(TerminalUse.approved_at, TerminalUse.id)).all()
        for i in indexes:
            _t, operator, at = records[i]
            by_id = isinstance(operator, int) and not isinstance(operator, bool)
            answer[i] = next((u for u in uses if (u.user_id == operator if by_id else u.user_login == str(operator))
                              and covering(u, at)), None)
    return answer


# --- the book -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class BookFilter:
    department_id: int | None = None  #: the terminal's department
    terminal_id: int | None = None
    status: str | None = None
    day_from: date | None = None
    day_to: date | None = None
    q: str | None = None  #: a person's name or login, a business name, or words of the purpose


def book_query(flt: BookFilter, actor):

    query = _rows_query()
    if not sees_all(actor):
        query = query.where(or_(TerminalUse.department_id == actor.department_id,
                                Terminal.department_id == actor.department_id,
                                TerminalUse.user_id == actor.id))
    if flt.department_id is not None:
        query = query.where(Terminal.department_id == flt.department_id)
    if flt.terminal_id is not None:
        query = query.where(TerminalUse.terminal_id == flt.terminal_id)
    if flt.status:
        query = query.where(TerminalUse.status == flt.status)
    if flt.day_from is not None:
        query = query.where(TerminalUse.starts_at >= jst_day_start_utc(flt.day_from))
    if flt.day_to is not None:
        query = query.where(TerminalUse.starts_at < jst_day_start_utc(flt.day_to + timedelta(days=1)))
    if flt.q:
        like = f"%{flt.q.replace('%', '').replace('_', '')}%"
        query = query.where(or_(_requester.name.like(like), _requester.login.like(like), Business.name.like(like),
                                TerminalUse.purpose.like(like)))
    return query.order_by(TerminalUse.starts_at, TerminalUse.id)


def book_rows(flt: BookFilter, actor, limit: int | None = None) -> list:
    query = book_query(flt, actor)
    return list(db.session.execute(query.limit(limit) if limit else query))


def forms_by_use(use_ids: Sequence[int]) -> dict[int, list[str]]:
    """The form codes registered under each use (出力帳票)."""
    found: dict[int, list[str]] = defaultdict(list)
    for chunk_start in range(0, len(use_ids), 500):
        chunk = list(use_ids[chunk_start:chunk_start + 500])
        rows = db.session.execute(select(TerminalUseForm.use_id, Item.code)
                                  .join(Item, Item.id == TerminalUseForm.item_id)
                                  .where(TerminalUseForm.use_id.in_(chunk)).order_by(Item.code))
        for use_id, code in rows:
            found[use_id].append(code)
    return found


# --- exceptions ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class TerminalException:
    category: str  #: unapproved_use / not_closed / uncovered_form
    department: str  #: the terminal's department, where the book is kept
    code: str  #: what the row names: 使用伺い 第N号, or a form's code
    title: str
    detail: str  #: Japanese


def _moment_end(as_of: date) -> datetime:
    return min(utcnow(), jst_day_start_utc(as_of + timedelta(days=1)))


def list_terminal_exceptions(as_of: date) -> list[TerminalException]:
    """Uses without approval, uses ended but not closed, and forms printed at a registered
    terminal at a time no approval covers, as of the end of `as_of` (or now), over LOOKBACK."""
    from .services import use_period_text

    end = _moment_end(as_of)
    since = end - LOOKBACK
    rows: list[TerminalException] = []
    base = _rows_query()

    # A use recorded without approval, or started before its approval.
    unapproved = base.where(TerminalUse.status == State.CLOSED.value, TerminalUse.ended_at >= since,
                            TerminalUse.started_at <= end,
                            or_(TerminalUse.approved_at.is_(None), TerminalUse.approved_at > TerminalUse.started_at))
    for u in db.session.execute(unapproved.order_by(TerminalUse.started_at)):
        why = ("承認のないまま使用されました" if u.approved_at is None
               else f"承認（{wareki_datetime(u.approved_at)}）より前に使用が始まりました")
        rows.append(TerminalException(
            "unapproved_use", u.terminal_department_name, f"使用伺い 第{u.id}号", f"端末 {u.terminal_code}",
            f"{why}（使用: {use_period_text(u)}、利用者: {u.user_name}（{u.department_name}）、"
            f"利用事務: {u.business_name}）"))

    # Approved, the planned end passed, the end of use not recorded.
    open_uses = base.where(TerminalUse.status == State.APPROVED.value, TerminalUse.ends_at < end - CLOSE_GRACE,
                           TerminalUse.ends_at >= since)
    for u in db.session.execute(open_uses.order_by(TerminalUse.ends_at)):
        rows.append(TerminalException(
            "not_closed", u.terminal_department_name, f"使用伺い 第{u.id}号", f"端末 {u.terminal_code}",
            f"使用予定の終了（{wareki_datetime(u.ends_at)}）を過ぎていますが、使用終了が記録されていません"
            f"（利用者: {u.user_name}（{u.department_name}））"))

    # Forms whose 出力端末 is a registered terminal, output when no approval covered it.
    covered = (select(TerminalUse.id).join(Terminal, Terminal.id == TerminalUse.terminal_id)
               .where(Terminal.code == func.upper(Item.terminal), _covering_sql(Item.output_at))
               .correlate(Item).exists())
    holder = aliased(User)
    forms = (select(Item.code, Item.title, Item.output_at, Item.terminal, Terminal.code.label("terminal_code"),
                    Department.name.label("department_name"), holder.name.label("holder_name"))
             .join(Terminal, Terminal.code == func.upper(Item.terminal))
             .join(Department, Department.id == Terminal.department_id)
             .join(holder, holder.id == Item.created_by_id, isouter=True)
             .where(Item.kind == Kind.FORM.value, Item.output_at.is_not(None), Item.output_at >= since,
                    Item.output_at <= end, ~covered)
             .order_by(Item.output_at, Item.code))
    for f in db.session.execute(forms):
        who = f"、出力者: {f.holder_name}" if f.holder_name else ""
        rows.append(TerminalException(
            "uncovered_form", f.department_name, f.code, f.title,
            f"端末 {f.terminal_code} で {wareki_datetime(f.output_at)} に出力されていますが、"
            f"その時間を含む承認済みの使用伺いがありません{who}"))
    return rows


# --- choices for a form's registration ---------------------------------------------------------

#: A form is registered soon after it is printed: the approvals offered reach back this far.
OUTPUT_CHOICE_DAYS = 31


def output_choices(actor) -> list[tuple[str, str]]:
    """(id, words) of the approved uses a person may name when registering a form: their own and
    their department's, most recent first."""

    if getattr(actor, "is_system", False) or actor.department_id is None:
        return []
    since = utcnow() - timedelta(days=OUTPUT_CHOICE_DAYS)
    rows = db.session.execute(
        _rows_query().where(TerminalUse.status.in_(COVERING_STATES), TerminalUse.approved_at.is_not(None),
                            TerminalUse.starts_at >= since,
                            or_(TerminalUse.user_id == actor.id, TerminalUse.department_id == actor.department_id))
        .order_by(TerminalUse.starts_at.desc(), TerminalUse.id.desc()).limit(100))
    return [(str(u.id), f"第{u.id}号 端末 {u.terminal_code} {wareki_datetime(u.started_at or u.starts_at)}～"
                        f" {u.user_name}（{u.business_name}）") for u in rows]
