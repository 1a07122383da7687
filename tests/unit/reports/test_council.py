"""The council's figures: items by 利用事務 and legal basis, findings and self-inspections per 年度."""
from __future__ import annotations

from datetime import timedelta

from lifecycle.auth.services import get_department
from lifecycle.clock import fiscal_year, today_jst
from lifecycle.findings import services as findings
from lifecycle.reports import council
from lifecycle.selfinspection import services as selfinspection
from tests import factories

YEAR = fiscal_year(today_jst())


def test_basis_groups_as_the_councils_write_them():
    assert council.basis_group("住基法別表第5") == "住基法別表"
    assert council.basis_group("県条例") == "県条例"
    assert council.basis_group("〇〇県住民基本台帳法施行条例") == "県条例"
    assert council.basis_group("") == "（根拠の記録なし）"


def test_items_by_business_and_basis(world):
    factories.form(world["registrar"])  # car-tax, 住基法別表第5
    factories.form(world["registrar"], business="housing-rent")  # 県条例
    factories.medium(world["bulk"])  # passport, 住基法別表第5
    figures = council.council_figures(YEAR)
    rows = {b.code: b for b in figures.businesses}
    assert rows["car-tax"].counts == {"form": 1, "medium": 0, "device": 0}
    assert rows["housing-rent"].counts["form"] == 1 and rows["passport"].counts["medium"] == 1
    basis = {group: (counts, total) for group, counts, total in figures.by_basis()}
    assert basis["住基法別表"] == ({"form": 1, "medium": 1, "device": 0}, 2)
    assert basis["県条例"][1] == 1
    zeimu = council.council_figures(YEAR, get_department("zeimu"))
    assert sum(b.total for b in zeimu.businesses) == 2  # the medium is 市町課's
    assert council.council_figures(YEAR - 1).businesses[0].total == 0


def test_findings_and_self_inspections_per_year(world):
    due = (today_jst() + timedelta(days=10)).isoformat()
    first = findings.raise_finding(world["auditor"], source="council", department_code="zeimu", summary="媒体の施錠",
                                   severity="low", due_on=due)
    findings.raise_finding(world["auditor"], source="internal_audit", department_code="ryoken",
                           summary="帳票の廃棄記録", severity="medium", due_on=due)
    inspection = selfinspection.open_inspection(world["security2"])
    figures = council.council_figures(YEAR)
    assert figures.findings == [{"fiscal_year": YEAR, "raised": 2, "closed": 0, "open": 2}]
    assert [f.id for f in figures.open_findings][0] == first.id
    assert figures.self_inspections == [{"fiscal_year": YEAR, "filed": 0, "answering": 1, "no_answers": 0,
                                         "findings": 0}]
    assert [f.department.code for f in council.council_figures(YEAR, get_department("zeimu")).open_findings] == ["zeimu"]
    rows = list(figures.csv_rows())
    assert [r for r in rows if r[1] == "指摘事項" and r[4] == "指摘 件数"][0][5] == 2
    assert any(r[1] == "根拠別" and r[2] == "住基法別表" for r in rows)
    assert inspection.id
