"""The council's figures beside the monthly statistics: items of the 年度 by 利用事務 and by legal
basis (住基法別表 vs 県条例, as the councils report them), findings raised / closed / open per 年度
with the open ones listed, and self-inspections (and access-log reviews) per 年度.

An item records its 利用事務 (items.business_id) and the 利用事務 master its legal basis
(businesses.basis), so nothing new is asked at registration. Items count for the department that
holds them now (the filter), by when they were registered.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from ..auth.models import Business, Department
from ..extensions import db
from ..findings import services as findings
from ..items.models import Item
from ..selfinspection import services as selfinspection
from ..states import Kind
from ..fiscal import fiscal_year_label
from ..logreview.services import REVIEW_COUNT_LABELS, counts_per_year
from .statistics import _in_year

KINDS = (Kind.FORM.value, Kind.MEDIUM.value, Kind.DEVICE.value)
NO_BUSINESS = "（利用事務の記録なし）"


def basis_group(basis: str | None) -> str:
    """住基法別表 / 県条例 as the councils group them; any other basis as written."""
    text = (basis or "").strip()
    if text.startswith("住基法"):
        return "住基法別表"
    if "条例" in text:
        return "県条例"
    return text or "（根拠の記録なし）"


@dataclass(frozen=True)
class BusinessRow:
    code: str
    name: str
    basis: str
    group: str
    counts: dict[str, int]  #: kind → items registered in the 年度

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class CouncilFigures:
    year: int
    department: str | None
    businesses: list[BusinessRow] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)  #: findings.counts_per_year()
    open_findings: list = field(default_factory=list)
    self_inspections: list[dict] = field(default_factory=list)
    reviews: list[dict] | None = None  #: None when the access-log review offers no counts

    @property
    def label(self) -> str:
        return fiscal_year_label(self.year)

    def by_basis(self) -> list[tuple[str, dict[str, int], int]]:
        groups: dict[str, dict[str, int]] = {}
        for row in self.businesses:
            counts = groups.setdefault(row.group, {kind: 0 for kind in KINDS})
            for kind, n in row.counts.items():
                counts[kind] += n
        return [(group, counts, sum(counts.values())) for group, counts in groups.items()]

    def csv_headers(self) -> list[str]:
        return ["年度", "区分", "項目", "根拠", "指標", "件数"]

    def csv_rows(self):
        """Long format (one figure a row), so that a pivot table takes every section alike."""
        kind_label = {Kind.FORM.value: "帳票 登録", Kind.MEDIUM.value: "媒体 登録", Kind.DEVICE.value: "機器 登録"}
        for row in self.businesses:
            for kind in KINDS:
                yield [self.label, "利用事務別", row.name, row.basis, kind_label[kind], row.counts.get(kind, 0)]
        for group, counts, _total in self.by_basis():
            for kind in KINDS:
                yield [self.label, "根拠別", group, group, kind_label[kind], counts[kind]]
        for row in self.findings:
            year = fiscal_year_label(row["fiscal_year"])
            for key, text in (("raised", "指摘 件数"), ("closed", "措置完了（現地確認済）"), ("open", "未完了")):
                yield [year, "指摘事項", "", "", text, row[key]]
        for row in self.self_inspections:
            year = fiscal_year_label(row["fiscal_year"])
            for key, text in (("filed", "提出済の所属"), ("answering", "回答中の所属"), ("no_answers", "「いいえ」の回答"),
                              ("findings", "指摘事項になった回答")):
                yield [year, "自己点検", "", "", text, row[key]]
        for row in self.reviews or []:
            year = fiscal_year_label(row["fiscal_year"])
            for key, value in row.items():
                if key != "fiscal_year":
                    yield [year, "アクセスログ点検", "", "", REVIEW_COUNT_LABELS[key], value]


def council_figures(year: int, department: Department | None = None) -> CouncilFigures:
    figures = CouncilFigures(year, department.code if department else None)
    query = (select(Item.business_id, Item.kind, func.count()).where(_in_year(Item.created_at, year))
             .group_by(Item.business_id, Item.kind))
    if department is not None:
        query = query.where(Item.department_id == department.id)
    counted: dict[int | None, dict[str, int]] = {}
    for business_id, kind, n in db.session.execute(query):
        counted.setdefault(business_id, {})[kind] = n
    businesses = {b.id: b for b in db.session.scalars(select(Business).order_by(Business.id))}
    for business in businesses.values():
        counts = counted.get(business.id, {})
        figures.businesses.append(BusinessRow(business.code, business.name, business.basis,
                                              basis_group(business.basis),
                                              {kind: counts.get(kind, 0) for kind in KINDS}))
    if None in counted:
        counts = counted[None]
        figures.businesses.append(BusinessRow("", NO_BUSINESS, "", "（根拠の記録なし）",
                                              {kind: counts.get(kind, 0) for kind in KINDS}))
    figures.findings = findings.counts_per_year()
    figures.open_findings = findings.open_findings(department.id if department else None)
    figures.self_inspections = selfinspection.counts_per_year()
    figures.reviews = counts_per_year()
    return figures
