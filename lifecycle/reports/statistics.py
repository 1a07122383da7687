"""Counts for the council's annual report (本人確認情報保護審議会 報告資料): per fiscal-year month
and department, what was registered, handed over, destroyed, provided and returned, and how many
個人番号 copies were retained and purged.

Where the numbers come from, and why there rather than from the audit log:

* The domain tables carry the moment of each fact in an indexed column (items.created_at,
  transfers.resolved_at, destruction_batches.witnessed_at, items.provided_at / returned_at,
  my_number_copies.created_at, my_number_deletions.created_at / purged_at), so each figure is one
  GROUP BY over a year's rows. Counting audit events instead would read every event of the year's
  types and parse its JSON for the department, and purges are audited per batch with a count in
  the data, not per copy.
* A purged copy's row is deleted; its deletion record keeps when it was recorded and by which
  department, so "retained" = live copies + deletion records by created_at.
* An item's department is its holder's and changes on an accepted hand-off. "Registered by" is
  the department that registered it: the giver's department of its first hand-off if it has one,
  else its current one. Hand-overs count for the giving department. Destroyed items never move
  again, so their current department is the one that destroyed them.
* Returns of leased devices to the lessor have no timestamp column; they are the one figure read
  from the audit log (type device:returned_to_lessor, indexed by type, a few hundred a year).

Months are Japan Standard Time calendar months; the fiscal year runs April to March
(令和8年度 = 2026-04-01 … 2027-03-31).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import case, func, select, text, union_all

from .. import fiscal, validation as v
from ..audit.models import AuditEvent
from ..auth.models import Department
from ..auth.services import list_departments
from ..clock import jst_day_start_utc
from ..custody.models import Transfer
from ..destruction.models import DestructionBatch, DestructionBatchItem
from ..extensions import db
from ..items.models import Item
from ..mynumber.models import MyNumberCopy, MyNumberDeletion
from ..states import Kind, State
from ..wareki import wareki_month
from ..stocktake.models import Stocktake, StocktakeLine


@dataclass(frozen=True)
class Metric:
    key: str
    label: str  #: for the page and the CSV heading
    group: str  #: the chart series it adds to ("" for none)


METRICS = (
    Metric("registered_form", "帳票 登録", "registered"),
    Metric("registered_medium", "媒体 登録", "registered"),
    Metric("registered_device", "機器 登録", "registered"),
    Metric("handed_over_form", "帳票 引継ぎ（受領済）", "handed_over"),
    Metric("handed_over_medium", "媒体 引継ぎ（受領済）", "handed_over"),
    Metric("destroyed_form", "帳票 廃棄", "destroyed"),
    Metric("destroyed_medium", "媒体 廃棄", "destroyed"),
    Metric("device_returned", "機器 リース会社へ返却", "destroyed"),
    Metric("medium_provided", "媒体 提供", ""),
    Metric("medium_returned", "媒体 返却", ""),
    Metric("mynumber_retained", "個人番号 一時保存", ""),
    Metric("mynumber_purged", "個人番号 消去", ""),
    Metric("stocktake_closed", "棚卸 実施（締め）", ""),
    Metric("stocktake_missing", "棚卸 所在不明", ""),
    Metric("stocktake_written_off", "棚卸 亡失処理", ""),
)
METRIC_KEYS = tuple(m.key for m in METRICS)

#: The chart's series: (key, legend, colour).
SERIES = (
    ("registered", "登録", "#2f6db5"),
    ("handed_over", "引継ぎ（受領済）", "#e0a030"),
    ("destroyed", "廃棄・返却", "#3c9a5f"),
)

#: The first fiscal year offered for selection: 7 years of records are kept (SPEC "Audit log").








def month_key(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"








@dataclass
class Statistics:
    year: int
    departments: list[tuple[str, str]]  #: (code, name), the system owner first
    department: str | None = None  #: the code the figures are limited to
    cells: dict[tuple[str, str, str], int] = field(default_factory=dict)  #: (month, dept, metric)

    @property
    def label(self) -> str:
        return fiscal.fiscal_year_label(self.year)

    @property
    def months(self) -> list[tuple[int, int]]:
        return fiscal.fiscal_months(self.year)

    @property
    def shown_departments(self) -> list[tuple[str, str]]:
        if self.department is None:
            return self.departments
        return [d for d in self.departments if d[0] == self.department]

    def value(self, month: str, dept: str, metric: str) -> int:
        return self.cells.get((month, dept, metric), 0)

    def month_total(self, month: str, metric: str) -> int:
        return sum(self.value(month, code, metric) for code, _ in self.shown_departments)

    def department_total(self, dept: str, metric: str) -> int:
        return sum(self.value(month_key(*m), dept, metric) for m in self.months)

    def total(self, metric: str) -> int:
        return sum(self.department_total(code, metric) for code, _ in self.shown_departments)

    def series(self, group: str) -> list[int]:
        """Per month, the sum of the metrics of one chart series."""
        keys = [m.key for m in METRICS if m.group == group]
        return [sum(self.month_total(month_key(*m), k) for k in keys) for m in self.months]

    def month_labels(self) -> list[str]:
        return [wareki_month(y, m) for y, m in self.months]

    def csv_headers(self) -> list[str]:
        return ["年度", "月", "月(ISO)", "所属コード", "所属", *(m.label for m in METRICS)]

    def csv_rows(self):
        """One row per month and department, zeros included, so a pivot table sees every cell."""
        for y, m in self.months:
            key = month_key(y, m)
            for code, name in self.shown_departments:
                yield [self.label, wareki_month(y, m), key, code, name,
                       *(self.value(key, code, metric) for metric in METRIC_KEYS)]

    def to_json(self) -> dict:
        return {
            "fiscal_year": self.year, "label": self.label, "department": self.department,
            "metrics": [{"key": m.key, "label": m.label} for m in METRICS],
            "months": [month_key(*m) for m in self.months],
            "totals": {k: self.total(k) for k in METRIC_KEYS},
            "rows": [{"month": month_key(y, m), "department": code,
                      "counts": {k: self.value(month_key(y, m), code, k) for k in METRIC_KEYS}}
                     for y, m in self.months for code, _ in self.shown_departments],
        }


def _month(column):
    """The JST calendar month of a naive-UTC timestamp column, as 'YYYY-MM', in the database."""
    if db.is_sqlite:
        return func.strftime("%Y-%m", func.datetime(column, "+9 hours"))
    return func.to_char(column + text("interval '9 hours'"), "YYYY-MM")


def _in_year(column, year: int):
    start = jst_day_start_utc(date(year, 4, 1))
    end = jst_day_start_utc(date(year + 1, 4, 1))
    return (column >= start) & (column < end)


def _kind_metric(prefix: str, kind) -> str | None:
    key = f"{prefix}_{Kind(kind).value}"
    return key if key in METRIC_KEYS else None


def compute_statistics(year: int, department: Department | None = None) -> Statistics:
    """Every figure of one fiscal year in eight grouped queries."""

    departments = list_departments()
    code_of = {d.id: d.code for d in departments}
    stats = Statistics(year, [(d.code, d.name) for d in departments],
                       department.code if department else None)
    cells: dict[tuple[str, str, str], int] = defaultdict(int)

    def add(month, dept_code, metric, n) -> None:
        if metric and dept_code is not None:
            cells[(month, dept_code, metric)] += n

    # Registered, by the registering department (see the module docstring).
    first_giver = (select(Transfer.giver_department_id).where(Transfer.item_id == Item.id)
                   .order_by(Transfer.id).limit(1).scalar_subquery())
    registering = func.coalesce(first_giver, Item.department_id)
    month = _month(Item.created_at)
    for m, dept, kind, n in db.session.execute(
            select(month, registering, Item.kind, func.count())
            .where(_in_year(Item.created_at, year)).group_by(month, registering, Item.kind)):
        add(m, code_of.get(dept), _kind_metric("registered", kind), n)

    # Accepted hand-offs, for the giving department.
    month = _month(Transfer.resolved_at)
    for m, dept, kind, n in db.session.execute(
            select(month, Transfer.giver_department_id, Item.kind, func.count())
            .join(Item, Item.id == Transfer.item_id)
            .where(Transfer.status == State.ACCEPTED.value, _in_year(Transfer.resolved_at, year))
            .group_by(month, Transfer.giver_department_id, Item.kind)):
        add(m, code_of.get(dept), _kind_metric("handed_over", kind), n)

    # Items destroyed in witnessed batches (a device's storage destruction is not the device's end):
    # a 溶解's items when its 溶解証明書 is accepted, not at the witness (until then 溶解証明待ち).
    destroyed_at = case((DestructionBatch.method == "pulp", DestructionBatch.certificate_accepted_at),
                        else_=DestructionBatch.witnessed_at)
    month = _month(destroyed_at)
    for m, dept, kind, n in db.session.execute(
            select(month, Item.department_id, Item.kind, func.count())
            .select_from(DestructionBatchItem)
            .join(DestructionBatch, DestructionBatch.id == DestructionBatchItem.batch_id)
            .join(Item, Item.id == DestructionBatchItem.item_id)
            .where(DestructionBatch.status == State.COMPLETED.value,
                   Item.kind.in_([Kind.FORM.value, Kind.MEDIUM.value]),
                   _in_year(destroyed_at, year))
            .group_by(month, Item.department_id, Item.kind)):
        add(m, code_of.get(dept), _kind_metric("destroyed", kind), n)

    # Devices returned to the lessor (from the audit log: no timestamp column holds it).
    month = _month(AuditEvent.at)
    for m, dept, n in db.session.execute(
            select(month, Item.department_id, func.count())
            .select_from(AuditEvent).join(Item, Item.code == AuditEvent.subject)
            .where(AuditEvent.type == "device:returned_to_lessor", _in_year(AuditEvent.at, year))
            .group_by(month, Item.department_id)):
        add(m, code_of.get(dept), "device_returned", n)

    # Media provided and returned.
    for column, metric in ((Item.provided_at, "medium_provided"), (Item.returned_at, "medium_returned")):
        month = _month(column)
        for m, dept, n in db.session.execute(
                select(month, Item.department_id, func.count())
                .where(Item.kind == Kind.MEDIUM.value, _in_year(column, year))
                .group_by(month, Item.department_id)):
            add(m, code_of.get(dept), metric, n)

    # 個人番号 copies: retained = live + purged ones by when they were recorded; purged by when.
    recorded = union_all(
        select(MyNumberCopy.created_at.label("at"), MyNumberCopy.department.label("dept"))
        .where(_in_year(MyNumberCopy.created_at, year)),
        select(MyNumberDeletion.created_at.label("at"), MyNumberDeletion.department.label("dept"))
        .where(_in_year(MyNumberDeletion.created_at, year)),
    ).subquery()
    month = _month(recorded.c.at)
    for m, dept, n in db.session.execute(
            select(month, recorded.c.dept, func.count()).group_by(month, recorded.c.dept)):
        add(m, dept, "mynumber_retained", n)
    month = _month(MyNumberDeletion.purged_at)
    for m, dept, n in db.session.execute(
            select(month, MyNumberDeletion.department, func.count())
            .where(_in_year(MyNumberDeletion.purged_at, year))
            .group_by(month, MyNumberDeletion.department)):
        add(m, dept, "mynumber_purged", n)

    # 棚卸: stocktakes closed and the items they found missing, by the closing month; write-offs.

    month = _month(Stocktake.closed_at)
    for m, dept, n in db.session.execute(
            select(month, Stocktake.department_id, func.count()).where(_in_year(Stocktake.closed_at, year))
            .group_by(month, Stocktake.department_id)):
        add(m, code_of.get(dept), "stocktake_closed", n)
    for m, dept, n in db.session.execute(
            select(month, Stocktake.department_id, func.count())
            .join(StocktakeLine, StocktakeLine.stocktake_id == Stocktake.id)
            .where(StocktakeLine.outcome == "missing", _in_year(Stocktake.closed_at, year))
            .group_by(month, Stocktake.department_id)):
        add(m, code_of.get(dept), "stocktake_missing", n)
    month = _month(StocktakeLine.written_off_at)
    for m, dept, n in db.session.execute(
            select(month, Item.department_id, func.count()).join(Item, Item.id == StocktakeLine.item_id)
            .where(_in_year(StocktakeLine.written_off_at, year)).group_by(month, Item.department_id)):
        add(m, code_of.get(dept), "stocktake_written_off", n)

    known = {code for code, _ in stats.departments}
    for (_m, dept, _metric) in cells:
        if dept not in known:  # a department code no longer in the master: still counted
            stats.departments.append((dept, dept))
            known.add(dept)
    stats.cells = dict(cells)
    return stats

