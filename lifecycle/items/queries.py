"""The ledger (管理簿) search: filters, a sort whitelist, pagination and visibility by department.

`ledger_query(filters, user)` returns a plain Core select of LEDGER_COLUMNS, so the page, the API
listing and the PDF/CSV reports share one definition of "what is in the ledger" and the reports
can stream it (`iter_ledger`) instead of loading 100,000 ORM objects.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Iterator, Mapping

from sqlalchemy import Select, and_, bindparam, false, func, literal_column, or_, select
from sqlalchemy.orm import aliased

from .. import validation as v
from ..audit.services import events_for
from ..auth.models import Business, Department, User
from ..clock import jst_day_start_utc, today_jst
from ..errors import Invalid
from ..extensions import db
from ..roles import Role
from ..states import FINAL, ITEM_KINDS, Kind, State, states_of
from .models import Item

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200
#: Counting every match of a free-text search means reading every title; past this many the
#: page says "1,000件以上" instead: nobody pages through more, they narrow the search.
COUNT_CAP = 1000

_holder = aliased(User, name="holder_user")

#: An item as a row: the one read model of an item. The ledger, the item page and its sections,
#: the API (schemas.item_json), labels and reports all read these columns.
LEDGER_COLUMNS = (
    Item.id, Item.code, Item.kind, Item.status, Item.title, Item.department_id, Item.holder_id,
    Business.code.label("business_code"), Business.name.label("business_name"),
    Business.basis.label("business_basis"),
    Department.code.label("department_code"), Department.name.label("department_name"),
    _holder.login.label("holder_login"), _holder.name.label("holder_name"),
    Item.location, Item.created_at, Item.created_by, Item.retention_until,
    Item.output_at, Item.terminal, Item.sheets, Item.contains_my_number,
    Item.media_type, Item.record_count, Item.recipient, Item.encrypted, Item.due_back,
    Item.provided_at, Item.returned_at,
    Item.device_type, Item.asset_tag, Item.model, Item.serial, Item.lessor, Item.lease_contract,
    Item.lease_start, Item.lease_end, Item.has_storage, Item.holds_my_number_data,
    Item.holds_juki_data,
)

#: Sort keys a request may name ("-" prefix: descending). Anything else is refused, never
#: interpolated. "deadline" is the kind's own deadline column (see DEADLINE_COLUMNS).
SORTS = {
    "created": Item.created_at,
    "code": Item.code,
    "title": Item.title,
    "status": Item.status,
    "department": Item.department_id,
    "deadline": None,
}
#: 帳票: 保存期限; 媒体: 返却予定日; 機器: リース終了日. One real column per kind, so the sort
#: walks an index instead of sorting every row of a 100,000-item ledger.
DEADLINE_COLUMNS = {Kind.FORM: Item.retention_until, Kind.MEDIUM: Item.due_back,
                    Kind.DEVICE: Item.lease_end}
SORT_LABELS = {"created": "登録日", "code": "管理番号", "title": "件名", "status": "状態",
               "department": "所属", "deadline": "期限"}
DEFAULT_SORT = "-created"

_LATIN = re.compile(r"[A-Za-z]")
_FULL_CODE = re.compile(r"^[FMD]-\d{4}-\d{6}$")
#: What someone types when looking for a code: "F-2026-0001", "2026-000123", "000123".
_CODE_FRAGMENT = re.compile(r"^[FMD]?-?[\d-]*\d[\d-]*$")
#: Columns the free text searches, per kind (the first two are in ix_items_kind_title_location).
TEXT_COLUMNS = {
    Kind.FORM: (Item.title, Item.location),
    Kind.MEDIUM: (Item.title, Item.location, Item.recipient),
    Kind.DEVICE: (Item.title, Item.location, Item.asset_tag, Item.serial, Item.model, Item.lessor),
}
#: Every state in which an item can still be overdue: alive and not on its way to destruction.
LIVE_STATES = tuple(sorted({st.value for k in ITEM_KINDS for st in states_of(k)}
                           - {st.value for st in FINAL} - {State.AWAITING_DESTRUCTION.value}
                           - {State.PROVIDED.value}))


@dataclass(frozen=True)
class LedgerFilters:
    kind: Kind | None = None
    status: str | None = None
    department: str | None = None  #: department code
    business: str | None = None  #: business code
    date_from: date | None = None  #: registered on or after (JST day)
    date_to: date | None = None  #: registered on or before (JST day)
    q: str | None = None
    holder: str | None = None  #: holder login ("my items")
    overdue: bool = False
    as_of: date | None = None  #: for overdue; default today (JST)
    include_final: bool = True  #: False hides destroyed / returned items
    sort: str = DEFAULT_SORT

    def as_args(self) -> dict:
        """Query-string form, for pager and sort links that keep the filters."""
        args = {"kind": self.kind.value if self.kind else None, "status": self.status,
                "department": self.department, "business": self.business,
                "from": self.date_from.isoformat() if self.date_from else None,
                "to": self.date_to.isoformat() if self.date_to else None,
                "q": self.q, "holder": self.holder,
                "overdue": "true" if self.overdue else None,
                "as_of": self.as_of.isoformat() if self.as_of else None,
                "sort": self.sort if self.sort != DEFAULT_SORT else None}
        return {k: val for k, val in args.items() if val}

    @property
    def effective_as_of(self) -> date:
        return self.as_of or today_jst()


def _flag(value, label: str) -> bool:
    if value in (None, ""):
        return False
    return v.boolean(str(value).strip().lower(), label)


def parse_filters(args: Mapping, *, default_kind: Kind | None = None) -> LedgerFilters:
    """Filters from a query string; every bad value is a 422 with a Japanese message."""
    def get(name):
        value = args.get(name)
        return value.strip() if isinstance(value, str) else value

    kind = default_kind
    if get("kind"):
        try:
            kind = Kind(get("kind"))
        except ValueError:
            kind = None
        if kind not in ITEM_KINDS:
            raise Invalid("種別（kind）は form・medium・device のいずれかを指定してください。", field="kind")
    status = get("status") or None
    if status is not None:
        valid = {s.value for k in ([kind] if kind else ITEM_KINDS) for s in states_of(k)}
        if status not in valid:
            raise Invalid(f"状態「{status[:20]}」はこの管理簿にはありません。", field="status")
    date_from = v.a_date(get("from"), "期間（開始）", required=False, field="from")
    date_to = v.a_date(get("to"), "期間（終了）", required=False, field="to")
    if date_from and date_to and date_to < date_from:
        raise Invalid("期間の終了日は開始日以降の日付にしてください。", field="to")
    sort = get("sort") or DEFAULT_SORT
    if sort.removeprefix("-") not in SORTS:
        raise Invalid("並べ替えの指定が正しくありません。", field="sort")
    q = v.text(get("q"), "検索語", max_len=100, required=False, field="q")
    return LedgerFilters(
        kind=kind, status=status,
        department=v.text(get("department"), "所属", max_len=32, required=False, field="department"),
        business=v.text(get("business"), "利用事務", max_len=32, required=False, field="business"),
        date_from=date_from, date_to=date_to, q=q,
        holder=v.text(get("holder"), "保管者", max_len=32, required=False, field="holder"),
        overdue=_flag(get("overdue"), "期限超過"),
        as_of=v.a_date(get("as_of"), "基準日", required=False, field="as_of"),
        sort=sort,
    )


#: Roles that see the items of every department: they oversee all of them. A registrar sees
#: their own department's (and what they hold).
EVERY_DEPARTMENT = (Role.AUDITOR, Role.ADMIN, Role.SECURITY_MANAGER, Role.BULK_OPERATOR)


def sees_all(user) -> bool:
    """The one rule of who sees every department's items, for the ledger page, the API, the
    PDF/CSV exports and the item page alike (system actors do)."""
    return user.has_role(*EVERY_DEPARTMENT)


def has_any_role(user) -> bool:
    """Without an effective role (none granted, training lapsed, deactivated) nobody sees any item."""
    return user.has_role(*Role)


def overdue_condition(as_of: date):
    """Item.is_overdue in SQL: provided past due-back, or held past the retention deadline.

    Spelled with positive status lists (not NOT IN) so that both halves are index seeks on
    (kind, status, date) and years of destroyed items are never read.
    """
    return or_(
        and_(Item.status == State.PROVIDED.value, Item.due_back < as_of),
        and_(Item.status.in_(LIVE_STATES), Item.retention_until < as_of),
    )


def _like(column, text: str, *, fold_case: bool = True):
    """Substring match. SQLite's LIKE already ignores ASCII case. PostgreSQL's ILIKE costs four
    times LIKE on multibyte text, and folding case only matters for latin letters, so it is
    used only when the term has some."""
    if db.is_sqlite or not fold_case or not _LATIN.search(text):
        return column.contains(text, autoescape=True)
    return column.icontains(text, autoescape=True)


def _text_condition(q: str, kind: Kind | None):
    text = unicodedata.normalize("NFKC", q).strip()
    code = text.upper().replace(" ", "")
    if _FULL_CODE.match(code):
        return Item.code == code
    if _CODE_FRAGMENT.match(code):  # codes, asset tags and serials are stored upper case
        matches = [_like(Item.code, code, fold_case=False)]
        if kind in (None, Kind.DEVICE):
            matches += [_like(Item.asset_tag, code, fold_case=False), _like(Item.serial, code, fold_case=False)]
        return or_(*matches)
    columns = TEXT_COLUMNS.get(kind) or tuple({c.key: c for cs in TEXT_COLUMNS.values() for c in cs}.values())
    return or_(*[_like(column, text) for column in columns])


def _conditions(filters: LedgerFilters, user) -> list:
    where = []
    if filters.kind is not None:
        where.append(Item.kind == filters.kind)
    if filters.status:
        where.append(Item.status == filters.status)
    elif not filters.include_final:
        where.append(Item.status.not_in([s.value for s in FINAL]))
    if filters.department:
        where.append(Item.department_id == select(Department.id).where(
            Department.code == filters.department).scalar_subquery())
    if filters.business:
        where.append(Item.business_id == select(Business.id).where(
            Business.code == filters.business).scalar_subquery())
    if filters.holder:
        where.append(Item.holder_id == select(User.id).where(
            User.login == filters.holder).scalar_subquery())
    if filters.date_from:
        where.append(Item.created_at >= jst_day_start_utc(filters.date_from))
    if filters.date_to:
        where.append(Item.created_at < jst_day_start_utc(filters.date_to + timedelta(days=1)))
    if filters.q:
        where.append(_text_condition(filters.q, filters.kind))
    if filters.overdue:
        where.append(overdue_condition(filters.effective_as_of))
    if not sees_all(user):
        where.append(_visibility(user) if has_any_role(user) else false())
    return where


def _visibility(user):
    """A registrar's department, plus what he holds himself. An item's department follows its
    holder, so the second part only matters for someone who has moved department; checking for
    that first (one covering-index probe) keeps the usual case a single index seek."""
    elsewhere = db.session.scalar(select(Item.id).where(
        Item.holder_id == user.id, Item.department_id != user.department_id).limit(1))
    if elsewhere is None:
        return Item.department_id == user.department_id
    return or_(Item.department_id == user.department_id, Item.holder_id == user.id)


def _order_by(filters: LedgerFilters, *, scan_hint: bool = False) -> list:
    sort = filters.sort
    descending = sort.startswith("-")
    key = sort.removeprefix("-")
    if key == "deadline":
        column = DEADLINE_COLUMNS.get(filters.kind) if filters.kind else None
        if column is None:
            column = func.coalesce(Item.retention_until, Item.due_back, Item.lease_end)
    else:
        column = SORTS[key]
    columns = [column, Item.id]  # id: stable pages
    if scan_hint and db.is_sqlite and key != "deadline":
        # SQLite would walk the sort index and look up every row to test a free-text match,
        # which for a rare word means the whole table. A unary + hides the sort index, so it
        # scans the narrow title index instead and sorts the few matches.
        columns = [literal_column(f"+items.{c.key}") for c in columns]
    return [c.desc() if descending else c.asc() for c in columns]


def _joined(query: Select) -> Select:
    return (query.join(_holder, _holder.id == Item.holder_id)
            .join(Department, Department.id == Item.department_id)
            .outerjoin(Business, Business.id == Item.business_id))


def ledger_query(filters: LedgerFilters, user) -> Select:
    """The ledger rows the user may see, filtered and sorted; execute, page or stream it."""
    return _joined(select(*LEDGER_COLUMNS)).where(*_conditions(filters, user)).order_by(*_order_by(filters))


_ROW_BY_CODE = _joined(select(*LEDGER_COLUMNS)).where(Item.code == bindparam("code"))


def item_row(code: str):
    """One item as a ledger row (None if there is none), for views that show it and change nothing."""
    return db.session.connection().execute(_ROW_BY_CODE, {"code": code}).first()  # Core: no ORM context


def item_with_events(code: str):
    """(item_row's row, the item's events oldest first), or None if there is no such item."""
    row = item_row(code)
    return None if row is None else (row, events_for(row.code))


def ledger_count(filters: LedgerFilters, user, *, cap: int | None = None, where: list | None = None) -> int:
    """Matches counted on the items table alone (no joins); with `cap`, stops after cap + 1."""
    inner = select(Item.id).where(*(where if where is not None else _conditions(filters, user)))
    if cap is not None:
        inner = inner.limit(cap + 1)
    return db.session.scalar(select(func.count()).select_from(inner.subquery())) or 0


@dataclass(frozen=True)
class LedgerPage:
    rows: list
    total: int
    page: int
    per_page: int
    capped: bool = False  #: total is a lower bound (COUNT_CAP reached)

    @property
    def pages(self) -> int:
        return max(1, (self.total + self.per_page - 1) // self.per_page)


def _page_ids(where: list, filters: LedgerFilters, page: int, per_page: int) -> list[int]:
    return list(db.session.scalars(
        select(Item.id).where(*where).order_by(*_order_by(filters, scan_hint=bool(filters.q)))
        .limit(per_page).offset((page - 1) * per_page)))


def ledger_page(filters: LedgerFilters, user, *, page: int = 1, per_page: int = DEFAULT_PER_PAGE,
                cap: int | None = None) -> LedgerPage:
    """One page: the ids are found on the items table and its indexes alone (a deep page skips
    index entries, not joined rows), then only those rows are read with their joins.

    A free-text search fetches the page first: the usual search is for one item, and when the
    first page is not full it already is the whole result, so the count needs no second scan.
    """
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    page = max(1, page)
    where = _conditions(filters, user)
    ids = _page_ids(where, filters, page, per_page) if filters.q else None
    if ids is not None and page == 1 and len(ids) < per_page:
        total, capped = len(ids), False
    else:
        total = ledger_count(filters, user, cap=cap, where=where)
        capped = cap is not None and total > cap
        total = min(total, cap) if capped else total
        last_page = max(1, (total + per_page - 1) // per_page)
        if ids is None or page > last_page:
            page = min(page, last_page)
            ids = _page_ids(where, filters, page, per_page) if total else []
    rows = db.session.execute(_joined(select(*LEDGER_COLUMNS)).where(Item.id.in_(ids))).all() if ids else []
    position = {item_id: n for n, item_id in enumerate(ids)}
    rows.sort(key=lambda row: position[row.id])
    return LedgerPage(rows, total, page, per_page, capped)


def iter_ledger(filters: LedgerFilters, user, *, batch: int = 1000) -> Iterator:
    """Every matching row, fetched `batch` at a time: for CSV/PDF reports of a whole year."""
    db.begin_stream()
    result = db.session.execute(ledger_query(filters, user).execution_options(yield_per=batch))
    yield from result


def row_overdue(row, as_of: date) -> bool:
    """Provided past its due-back date, or held past its retention deadline: overdue_condition
    for one ledger row or Item."""
    if row.status == State.PROVIDED.value and row.due_back is not None:
        return row.due_back < as_of
    if row.retention_until is not None and row.status in LIVE_STATES:
        return row.retention_until < as_of
    return False


def deadline_of(row) -> date | None:
    """What the ledger's 期限 column shows: due-back for media out on loan, else retention / lease end."""
    if row.status == State.PROVIDED.value and row.due_back is not None:
        return row.due_back
    return row.retention_until or row.due_back or row.lease_end


def holder_status_counts(user) -> dict[tuple[str, str], int]:
    """Items the user holds that are not finished, per (kind, status): the dashboard's "my items"."""
    rows = db.session.execute(
        select(Item.kind, Item.status, func.count())
        .where(Item.holder_id == user.id, Item.status.not_in([s.value for s in FINAL]))
        .group_by(Item.kind, Item.status)).all()
    return {(Kind(kind).value, status): count for kind, status, count in rows}


def holder_overdue_counts(user, as_of: date | None = None) -> dict[str, int]:
    rows = db.session.execute(
        select(Item.kind, func.count()).where(Item.holder_id == user.id,
                                              overdue_condition(as_of or today_jst()))
        .group_by(Item.kind)).all()
    return {Kind(kind).value: count for kind, count in rows}


def with_overdue(filters: LedgerFilters, *, as_of: date | None = None) -> LedgerFilters:
    return replace(filters, overdue=True, as_of=as_of or filters.as_of)
