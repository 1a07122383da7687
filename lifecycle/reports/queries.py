"""What the auditor's desk reads: the 管理簿 for a kind, period and department, and the exceptions
(例外一覧) as of a date, shaped for the pure renderers in render.py.

The ledger rows come from items.queries.ledger_query (one definition of "what is in the ledger"),
streamed with yield_per so a 100,000-row CSV never holds more than a batch. Exceptions reuse the
other domains' services where they exist (destruction batches, devices, purge health); the two
item-based categories are counted and listed here in SQL, because at 100,000 items building ORM
objects for every overdue form would cost more than the whole page may take.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Callable

from sqlalchemy import and_, func, select

from .. import states, validation as v
from ..actors import Actor
from ..auth.models import Department, User
from ..roles import require_role, Role
from ..auth.services import get_department, list_departments
from ..clock import iso, jst_day_start_utc, to_jst, today_jst, utcnow
from ..destruction.services import METHOD_LABELS, list_destruction_exceptions
from ..contractors.services import list_contractor_exceptions
from ..devices.evidence import list_weak_erasures
from ..devices.services import list_device_exceptions
from ..errors import Forbidden, Invalid
from ..extensions import db
from ..items.models import Item
from ..items.queries import LedgerFilters, iter_ledger, ledger_count, sees_all
from ..mynumber.services import JOB, purge_health
from ..scheduler_models import JobRun
from ..states import ITEM_KINDS, KIND_LABELS, Kind, State
from ..wareki import wareki_date, wareki_datetime
from ..documents.imprint import imprint_for
from ..documents.render import CATEGORY_LABELS, ExceptionCategory, ExceptionGroup, ExceptionRow, ExceptionsReport, Imprint, LedgerReport
from ..terminals.queries import list_terminal_exceptions
from ..findings.services import finding_exceptions
from ..logreview.exceptions import review_exceptions
from ..people.queries import list_people_exceptions
from ..stocktake.queries import missing_items
from ..stocktake.services import departments_due

#: May pull a 管理簿; those who do not see every department (items.queries.sees_all) only their own.
LEDGER_ROLES = (Role.AUDITOR, Role.ADMIN, Role.SECURITY_MANAGER, Role.REGISTRAR, Role.BULK_OPERATOR)
#: The exceptions and the statistics span every department, so only the overseeing roles see them.
DESK_ROLES = (Role.AUDITOR, Role.ADMIN, Role.SECURITY_MANAGER)

NO_DEPARTMENT = "（所属なし）"

#: Forms and media in these states are kept by someone, so their retention deadline counts.
#: (Awaiting destruction is on its way out; a provided medium answers to its due-back date.)
KEPT_STATES = (State.REGISTERED.value, State.IN_CUSTODY.value, State.IN_TRANSFER.value,
               State.RETURNED.value)


def require_desk(actor: Actor) -> None:
    require_role(actor, *DESK_ROLES,
                 message="例外一覧と統計は、監査担当・セキュリティ管理者・システム管理者が閲覧できます。")


# --- imprint ----------------------------------------------------------------------------------



# --- 管理簿 -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LedgerRequest:
    kind: Kind
    date_from: date | None
    date_to: date | None
    department: Department | None  #: None: every department
    forced: bool = False  #: the department was imposed by the actor's role, not chosen

    @property
    def filters(self) -> LedgerFilters:
        # Oldest first: a 管理簿 is read like a register, in the order entries were made.
        return LedgerFilters(kind=self.kind, department=self.department.code if self.department else None,
                             date_from=self.date_from, date_to=self.date_to, sort="created")

    @property
    def department_text(self) -> str:
        return self.department.name if self.department else "全所属"

    def audit_details(self) -> dict:
        return {"kind": self.kind.value,
                "from": self.date_from.isoformat() if self.date_from else None,
                "to": self.date_to.isoformat() if self.date_to else None,
                "department": self.department.code if self.department else None}

    def file_stem(self) -> str:
        parts = ["ledger", self.kind.value]
        if self.department:
            parts.append(self.department.code)
        if self.date_from or self.date_to:
            parts.append(f"{self.date_from or ''}_{self.date_to or ''}")
        return "-".join(parts)


def _arg(args: Mapping, name: str):
    value = args.get(name)
    return value.strip() if isinstance(value, str) else value


def parse_kind(value) -> Kind:
    if value in (None, ""):
        raise Invalid("管理簿の種別（帳票・媒体・機器）を選んでください。", field="kind")
    try:
        kind = Kind(value)
    except ValueError:
        kind = None
    if kind not in ITEM_KINDS:
        raise Invalid("管理簿の種別は form（帳票）・medium（媒体）・device（機器）のいずれかを指定してください。",
                      code="unknown_kind", field="kind")
    return kind


def ledger_request(actor: Actor, args: Mapping) -> LedgerRequest:
    """The report's parameters, checked: a bad one is a 422 naming it; another department's
    管理簿 is a 403 for those who may see only their own."""
    require_role(actor, *LEDGER_ROLES, message="管理簿を出力する権限がありません。")
    kind = parse_kind(_arg(args, "kind"))
    date_from = v.a_date(_arg(args, "from"), "期間（開始日）", required=False, field="from")
    date_to = v.a_date(_arg(args, "to"), "期間（終了日）", required=False, field="to")
    if date_from and date_to and date_from > date_to:
        raise Invalid("期間の開始日が終了日より後になっています。開始日は終了日以前の日付にしてください。",
                      code="bad_period", field="from")
    code = v.text(_arg(args, "department"), "所属", max_len=32, required=False, field="department")
    department = get_department(code) if code else None
    forced = False
    if not sees_all(actor):
        own = actor.department
        if department is not None and department.id != own.id:
            raise Forbidden(f"{department.name}の管理簿は出力できません。登録担当が出力できるのは"
                            f"自分の所属（{own.name}）の管理簿だけです。", code="other_department")
        department, forced = own, department is None
    return LedgerRequest(kind, date_from, date_to, department, forced)


@lru_cache(maxsize=8192)
def _wareki_day(day: date) -> str:
    return wareki_date(day)


def _day(value) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return to_jst(value).date()
    return value


def _pdf_text(value, type_: str) -> str:
    if value is None or value == "":
        return ""
    if type_ == "date":
        return _wareki_day(_day(value))
    if type_ == "datetime":
        return wareki_datetime(value)
    if type_ == "int":
        return f"{value:,}"
    if type_ == "bool":
        return "あり" if value else "なし"
    return str(value)


def _csv_text(value, type_: str) -> str:
    if value is None:
        return ""
    if type_ == "int":
        return str(value)
    return _pdf_text(value, type_)


def _iso(value, type_: str) -> str:
    if value is None:
        return ""
    if type_ == "datetime":
        return iso(value)
    return _day(value).isoformat()


@dataclass(frozen=True)
class Column:
    heading: str
    width: float  #: points on A4 landscape (786 pt of table); the renderer takes them as weights
    value: Callable[[Any], Any]
    type: str = "text"  #: text / date / datetime / int / bool
    pdf: bool = True  #: False: CSV only (the page has no room for it)

    @property
    def dated(self) -> bool:
        return self.type in ("date", "datetime")


def _attr(name: str) -> Callable[[Any], Any]:
    return lambda row: getattr(row, name)


def _state(row) -> str:
    return states.label(row.status)


def _yes(name: str, yes: str) -> Callable[[Any], Any]:
    def value(row) -> str:
        flag = getattr(row, name)
        return "" if flag is None else (yes if flag else "—")
    return value


# Widths are measured, not guessed: at 7.5 pt a code (M-2026-000001) is 60 pt and a date
# (令和10年12月23日) 66 pt, plus 4 pt of padding, so neither is ever cut with "…".
CODE_W, DATE_W, STATE_W = 64, 71, 34
CODE = Column("管理番号", CODE_W, _attr("code"))
DEPARTMENT = Column("所属", 62, _attr("department_name"))
HOLDER = Column("保管者", 48, _attr("holder_name"))
STATUS = Column("状態", STATE_W, _state)
REGISTERED = Column("登録日", DATE_W, _attr("created_at"), "date")
RETENTION = Column("保存期限", DATE_W, _attr("retention_until"), "date")

LEDGER_COLUMNS: dict[Kind, tuple[Column, ...]] = {
    Kind.FORM: (
        CODE,
        Column("件名", 156, _attr("title")),
        Column("利用事務", 125, _attr("business_name")),
        Column("所属", 75, _attr("department_name")),
        Column("保管者", 55, _attr("holder_name")),
        Column("保管場所", 79, _attr("location")),
        Column("枚数", 22, _attr("sheets"), "int"),
        Column("個人番号", 34, _yes("contains_my_number", "含む")),
        STATUS, REGISTERED, RETENTION,
    ),
    Kind.MEDIUM: (
        CODE,
        Column("件名", 84, _attr("title")),
        Column("利用事務", 0, _attr("business_name"), pdf=False),
        Column("媒体", 24, _attr("media_type")),
        Column("件数", 32, _attr("record_count"), "int"),
        Column("暗号化", 28, _yes("encrypted", "済")),
        Column("提供先", 55, _attr("recipient")),
        DEPARTMENT, HOLDER, STATUS, REGISTERED,
        Column("提供日", DATE_W, _attr("provided_at"), "date"),
        Column("返却予定日", DATE_W, _attr("due_back"), "date"),
        Column("返却日", DATE_W, _attr("returned_at"), "date"),
        RETENTION,
    ),
    Kind.DEVICE: (
        CODE,
        Column("件名", 119, _attr("title")),
        Column("機器種別", 44, _attr("device_type")),
        Column("資産番号", 53, _attr("asset_tag")),
        Column("型式", 55, _attr("model")),
        Column("製造番号", 53, _attr("serial")),
        Column("リース会社", 66, _attr("lessor")),
        Column("契約番号", 0, _attr("lease_contract"), pdf=False),
        Column("リース開始", DATE_W, _attr("lease_start"), "date"),
        Column("リース満了", DATE_W, _attr("lease_end"), "date"),
        Column("所属", 62, _attr("department_name")),
        Column("設置場所", 56, _attr("location")),
        Column("状態", 72, _state),  # リース会社へ返却済
        Column("登録日", 0, _attr("created_at"), "date", pdf=False),
    ),
}


def pdf_columns(kind: Kind) -> list[tuple[str, float]]:
    return [(c.heading, c.width) for c in LEDGER_COLUMNS[kind] if c.pdf]


_PDF_COLUMNS = {kind: tuple(c for c in columns if c.pdf) for kind, columns in LEDGER_COLUMNS.items()}


def csv_headers(kind: Kind) -> list[str]:
    """Japanese headings; each date is followed by its ISO twin for machines, 登録日 | 登録日(ISO)."""
    headers = []
    for c in LEDGER_COLUMNS[kind]:
        headers.append(c.heading)
        if c.dated:
            headers.append(f"{c.heading}(ISO)")
    return headers


def pdf_cells(kind: Kind, row) -> list[str]:
    return [_pdf_text(c.value(row), c.type) for c in _PDF_COLUMNS[kind]]


def csv_cells(kind: Kind, row) -> list[str]:
    cells = []
    for c in LEDGER_COLUMNS[kind]:
        value = c.value(row)
        cells.append(_csv_text(value, c.type))
        if c.dated:
            cells.append(_iso(value, c.type))
    return cells


def ledger_rows(request: LedgerRequest, actor) -> Iterator:
    """The ledger's rows as a stream (yield_per): nothing but the current batch is held."""
    return iter_ledger(request.filters, actor, batch=2000)


def ledger_row_count(request: LedgerRequest, actor) -> int:
    return ledger_count(request.filters, actor)


class Counter:
    """Counts what passes through, for the audit event of a streamed report."""

    def __init__(self, rows) -> None:
        self.rows, self.count = rows, 0

    def __iter__(self):
        for row in self.rows:
            self.count += 1
            yield row


def ledger_report(request: LedgerRequest, actor, rows) -> LedgerReport:
    """The renderer's input; `rows` (ledger rows, read once) are worded lazily as they are drawn."""
    kind = request.kind
    cells = (pdf_cells(kind, row) for row in rows)
    filters = [("所属", request.department_text)]
    return LedgerReport(kind=kind.value, columns=pdf_columns(kind), rows=cells,
                        imprint=imprint_for(actor), period_from=request.date_from,
                        period_to=request.date_to, filters=filters)


# --- 例外一覧 -----------------------------------------------------------------------------------

CATEGORIES = tuple(CATEGORY_LABELS)

#: How many rows per department and category the page lists; the PDF lists them all.
PAGE_LIMIT = 50


@dataclass
class DepartmentFindings:
    name: str
    code: str | None
    counts: dict[ExceptionCategory, int] = field(default_factory=dict)
    rows: list[ExceptionRow] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def count(self, category: ExceptionCategory) -> int:
        return self.counts.get(category, 0)

    def rows_of(self, category: ExceptionCategory) -> list[ExceptionRow]:
        return [r for r in self.rows if r.category == category]

    def hidden(self, category: ExceptionCategory) -> int:
        """Rows counted but not listed (the page's per-category limit)."""
        return self.count(category) - len(self.rows_of(category))


@dataclass
class Findings:
    as_of: date
    departments: list[DepartmentFindings]
    limit: int | None

    @property
    def totals(self) -> dict[ExceptionCategory, int]:
        return {cat: sum(d.count(cat) for d in self.departments) for cat in CATEGORIES}

    @property
    def total(self) -> int:
        return sum(self.totals.values())

    def report(self, imprint: Imprint) -> ExceptionsReport:
        if self.limit is not None:
            raise ValueError("the PDF lists every finding: compute it without a limit")
        return ExceptionsReport(self.as_of, [ExceptionGroup(d.name, tuple(d.rows)) for d in self.departments],
                                imprint)

    def to_json(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(),
            "categories": {cat.value: label for cat, label in CATEGORY_LABELS.items()},
            "totals": {cat.value: n for cat, n in self.totals.items()},
            "total": self.total,
            "departments": [{
                "code": d.code, "name": d.name, "total": d.total,
                "counts": {cat.value: d.count(cat) for cat in CATEGORIES},
                "items": [{"category": r.category.value, "code": r.code or None, "title": r.title,
                           "detail": r.detail} for r in d.rows],
            } for d in self.departments],
        }


def parse_as_of(value) -> date:
    return v.a_date(value, "基準日", required=False, field="as_of") or today_jst()


def _overdue_media_condition(as_of: date):
    return and_(Item.kind == Kind.MEDIUM.value, Item.status == State.PROVIDED.value,
                Item.due_back.is_not(None), Item.due_back < as_of)


def _retention_condition(as_of: date):
    """Kept past the retention deadline: forms, and media once returned (a provided medium's
    deadline is its due-back date, the other category)."""
    return and_(Item.kind.in_([Kind.FORM.value, Kind.MEDIUM.value]),
                Item.retention_until.is_not(None), Item.retention_until < as_of,
                Item.status.in_(KEPT_STATES))


def _item_counts(condition) -> dict[int, int]:
    rows = db.session.execute(select(Item.department_id, func.count()).where(condition)
                              .group_by(Item.department_id))
    return {dept: n for dept, n in rows}


def _item_rows(condition, deadline, limit: int | None):
    """(department_id, code, title, kind, status, deadline, recipient, holder) ordered by deadline;
    with `limit`, only the first `limit` of each department (a window function, one pass)."""
    holder = select(User.name).where(User.id == Item.holder_id).scalar_subquery()
    columns = (Item.department_id, Item.code, Item.title, Item.kind, Item.status,
               deadline.label("deadline"), Item.recipient, holder.label("holder"))
    if limit is None:
        return db.session.execute(select(*columns).where(condition)
                                  .order_by(Item.department_id, deadline, Item.code))
    rank = func.row_number().over(partition_by=Item.department_id, order_by=(deadline, Item.code))
    ranked = select(*columns, rank.label("rank")).where(condition).subquery()
    return db.session.execute(select(ranked).where(ranked.c.rank <= limit)
                              .order_by(ranked.c.department_id, ranked.c.deadline, ranked.c.code))


def _days(as_of: date, deadline: date) -> int:
    return (as_of - deadline).days


def compute_findings(as_of: date, *, limit: int | None = PAGE_LIMIT) -> Findings:
    """Every open finding as of a date, per department: what an auditor asks about first."""

    departments = list_departments()
    by_id = {d.id: d for d in departments}
    groups: dict[str, DepartmentFindings] = {d.name: DepartmentFindings(d.name, d.code) for d in departments}

    def group(name: str | None) -> DepartmentFindings:
        name = name or NO_DEPARTMENT
        if name not in groups:
            groups[name] = DepartmentFindings(name, None)
        return groups[name]

    def dept_name(dept_id: int | None) -> str:
        dept = by_id.get(dept_id)
        return dept.name if dept else NO_DEPARTMENT

    # Media out on loan past their due-back date.
    condition = _overdue_media_condition(as_of)
    for dept_id, n in _item_counts(condition).items():
        group(dept_name(dept_id)).counts[ExceptionCategory.MEDIUM_OVERDUE] = n
    for row in _item_rows(condition, Item.due_back, limit):
        group(dept_name(row.department_id)).rows.append(ExceptionRow(
            ExceptionCategory.MEDIUM_OVERDUE, row.code, row.title,
            f"返却期限 {_wareki_day(row.deadline)}（{_days(as_of, row.deadline)}日超過）、"
            f"提供先: {row.recipient or '—'}"))

    # Forms (and returned media) kept past their retention deadline.
    condition = _retention_condition(as_of)
    for dept_id, n in _item_counts(condition).items():
        group(dept_name(dept_id)).counts[ExceptionCategory.RETENTION_PASSED] = n
    for row in _item_rows(condition, Item.retention_until, limit):
        what = "" if row.kind == Kind.FORM.value else f"{KIND_LABELS[Kind(row.kind)]}、"
        group(dept_name(row.department_id)).rows.append(ExceptionRow(
            ExceptionCategory.RETENTION_PASSED, row.code, row.title,
            f"{what}保存期限 {_wareki_day(row.deadline)}（{_days(as_of, row.deadline)}日超過）、"
            f"状態: {states.label(row.status)}、保管者: {row.holder}"))

    # Destruction batches awaiting a witness or the contractor's certificate.
    for exc in list_destruction_exceptions(as_of):
        category = ExceptionCategory(exc.category)
        _append(group(exc.department), category, ExceptionRow(category, exc.batch.code,
                                                               _batch_title(exc.batch), exc.detail), limit)

    # Leased devices past their lease end without an accepted erasure certificate.
    for exc in list_device_exceptions(as_of):
        _append(group(exc.department), ExceptionCategory.LEASE_ENDED_UNERASED,
                ExceptionRow(ExceptionCategory.LEASE_ENDED_UNERASED, exc.item.code, exc.item.title,
                             exc.detail), limit)

    # The 個人番号 purge: failed runs, or none when one was due.
    owner = next((d for d in departments if d.is_system_owner), None)
    for row in purge_findings(as_of):
        _append(group(owner.name if owner else None), ExceptionCategory.PURGE_FAILED, row, limit)

    # Devices certified or returned on evidence weaker than their data now asks for.
    for weak in list_weak_erasures():
        _append(group(weak.department), ExceptionCategory.WEAK_ERASURE,
                ExceptionRow(ExceptionCategory.WEAK_ERASURE, weak.item.code, weak.item.title, weak.detail), limit)

    # Contractors: the 市町課 holds the contracts.
    for found in list_contractor_exceptions(as_of):
        _append(group(owner.name if owner else None), ExceptionCategory.CONTRACTOR,
                ExceptionRow(ExceptionCategory.CONTRACTOR, "", found.contractor.name, found.detail), limit)

    # Terminal-use approvals (使用伺い): kept by the terminal's department.

    for found in list_terminal_exceptions(as_of):
        category = ExceptionCategory(f"terminal_{found.category}")
        _append(group(found.department), category, ExceptionRow(category, found.code, found.title, found.detail),
                limit)

    # Findings (指摘事項) past their due date and not yet closed by the 現地確認.

    for found in finding_exceptions(as_of):
        _append(group(found.department), ExceptionCategory.FINDING_OVERDUE,
                ExceptionRow(ExceptionCategory.FINDING_OVERDUE, found.code, found.title, found.detail), limit)

    # People: items of a forced leaver, lapsed training, roles the rights review left unconfirmed.

    for found in list_people_exceptions(as_of):
        category = ExceptionCategory(found.category)
        _append(group(found.department), category, ExceptionRow(category, found.code, found.title, found.detail),
                limit)

    # 棚卸: items 所在不明 until found or written off, and departments whose stocktake is due.

    for row in missing_items(limit=None):
        leak = "、個人番号を含む" if row.contains_my_number or row.holds_my_number_data else ""
        _append(group(dept_name(row.department_id)), ExceptionCategory.STOCKTAKE_MISSING,
                ExceptionRow(ExceptionCategory.STOCKTAKE_MISSING, row.code, row.title,
                             f"棚卸 第{row.stocktake_id}号（{wareki_datetime(row.closed_at)} 締め）で所在不明{leak}"),
                limit)
    for due in departments_due(as_of):
        _append(group(due.department.name), ExceptionCategory.STOCKTAKE_DUE,
                ExceptionRow(ExceptionCategory.STOCKTAKE_DUE, "", "棚卸", due.text), limit)

    # アクセスログ検証: undecided hits, unanswered 要確認, quarters not drawn. A quarter's draw (the
    # auditors' work for the whole prefecture) and a hit at a terminal not in the register are
    # listed under the system owner, who keeps the register, like the contracts.
    for found in review_exceptions(as_of):
        category = ExceptionCategory(found.category)
        _append(group(found.department or (owner.name if owner else None)), category,
                ExceptionRow(category, found.code, found.title, found.detail), limit)

    ordered = [groups[d.name] for d in departments if d.name in groups]
    ordered += [g for name, g in groups.items() if name not in {d.name for d in departments}]
    return Findings(as_of, ordered, limit)


def _append(group: DepartmentFindings, category: ExceptionCategory, row: ExceptionRow,
            limit: int | None) -> None:
    group.counts[category] = group.count(category) + 1
    if limit is None or len(group.rows_of(category)) < limit:
        group.rows.append(row)


def _batch_title(batch) -> str:

    return f"{METHOD_LABELS.get(batch.method, batch.method)}による廃棄（{len(batch.entries)}件）"


#: Failed runs this far back from the as-of date are listed.
PURGE_LOOKBACK_DAYS = 31


def purge_findings(as_of: date) -> list[ExceptionRow]:
    """Failed runs of the purge job in the month up to the as-of date (or now, if that is
    earlier), and the purge health at that moment: a stale or overdue purge is as bad as a failed one."""

    end = min(utcnow(), jst_day_start_utc(as_of + timedelta(days=1)))  # runs cannot be in the future
    start = end - timedelta(days=PURGE_LOOKBACK_DAYS)
    rows = []
    failed = db.session.scalars(select(JobRun).where(
        JobRun.job == JOB, JobRun.status == "failed", JobRun.started_at >= start,
        JobRun.started_at < end).order_by(JobRun.started_at.desc()).limit(200))
    for run in failed:
        rows.append(ExceptionRow(ExceptionCategory.PURGE_FAILED, "", "個人番号の自動消去（実行失敗）",
                                 f"{wareki_datetime(run.started_at)} 実行（{run.triggered_by}）: "
                                 f"{run.message or '失敗'}"))
    health = purge_health(end)
    if health.alert and health.status != "failed":  # a failed last run is listed above already
        rows.append(ExceptionRow(ExceptionCategory.PURGE_FAILED, "", "個人番号の自動消去（未実行・遅延）",
                                 health.message))
    return rows


def exceptions_report(actor: Actor, as_of: date) -> tuple[ExceptionsReport, int]:
    findings = compute_findings(as_of, limit=None)
    return findings.report(imprint_for(actor)), findings.total

