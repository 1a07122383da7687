"""Overdue findings in the exceptions list; the inbox tasks to answer and to confirm on site."""
from __future__ import annotations

from datetime import timedelta

from lifecycle.clock import today_jst
from lifecycle.extensions import db
from lifecycle.findings import services
from lifecycle.notifications.tasks import tasks_for
from lifecycle.reports import queries
from lifecycle.documents.render import ExceptionCategory

from .test_services import answered, raise_one


def _kinds(user, kind):
    db.session.rollback()
    return [t for t in tasks_for(user) if t.kind == kind]


def test_overdue_finding_is_an_exception_of_its_department(world):
    late = raise_one(world["auditor"])
    raise_one(world["auditor"], department_code="ryoken")  # not yet due
    with db.transaction():
        services.get_finding(late.id).due_on = today_jst() - timedelta(days=4)
    found = queries.compute_findings(today_jst())
    rows = [(group.name, row) for group in found.departments for row in group.rows
            if row.category == ExceptionCategory.FINDING_OVERDUE]
    assert len(rows) == 1
    department, row = rows[0]
    assert department == "税務課" and row.code == f"指摘事項 第{late.id}号" and "4日超過" in row.detail
    report, _count = queries.exceptions_report(world["auditor"], today_jst())
    assert report is not None


def test_answer_and_confirm_tasks_go_to_the_right_people(world):
    finding = raise_one(world["auditor"])
    assert [t.url for t in _kinds(world["security2"], "finding_to_answer")] == [f"/findings/{finding.id}"]
    assert _kinds(world["security"], "finding_to_answer") == []  # another department's manager
    answered(world, finding)
    assert _kinds(world["security2"], "finding_to_answer") == []
    assert _kinds(world["security2"], "finding_to_confirm") == []  # he answered it
    confirm = _kinds(world["security"], "finding_to_confirm")
    assert len(confirm) == 1 and "現地確認" in confirm[0].summary
    services.confirm_on_site(world["security"], finding.id, {"note": "確認"})
    assert _kinds(world["security"], "finding_to_confirm") == []
