"""The contractor exception "溶解証明書 not received within N days of witnessing": N from the
policies, listed with the contractor's other exceptions and on the exceptions report."""
from __future__ import annotations

import io
from datetime import timedelta

from sqlalchemy import text

from lifecycle.clock import today_jst, utcnow
from lifecycle.contractors import services as contractors
from lifecycle.destruction import services
from lifecycle.documents.render import ExceptionCategory
from lifecycle.extensions import db
from lifecycle.policy.services import POLICIES, get, set_policy
from lifecycle.reports import queries
from tests import factories
from tests.unit.destruction.test_services import pdf_bytes

TODAY = today_jst()
DAYS = POLICIES["contractor.pulping_certificate_days"].default


def witnessed_pulp(world):
    form = factories.form(world["registrar"])
    batch = services.create_batch(world["registrar"], items=[form.code], method="pulp", place="溶解工場",
                                  contractor=factories.pulper())
    services.witness_batch(world["security"], batch.id)
    return batch


def late(batch, as_of) -> list[str]:
    """The details of this batch's late-certificate exceptions for its contractor, as of a day."""
    db.session.expire_all()
    contractor = contractors.get_contractor(batch.contractor_id)
    return [e.detail for e in contractors.contractor_exceptions(contractor, as_of)
            if e.rule == "pulping_certificate_late" and batch.code in e.detail]


def test_default_is_thirty_days():
    assert DAYS == 30 and POLICIES["contractor.pulping_certificate_days"].unit == "日"


def test_listed_only_after_n_days_from_the_witness(world):
    batch = witnessed_pulp(world)
    assert late(batch, TODAY + timedelta(days=DAYS - 1)) == []
    assert late(batch, TODAY + timedelta(days=DAYS)) == []  # on the Nth day it is still in time
    (detail,) = late(batch, TODAY + timedelta(days=DAYS + 1))
    assert f"立会いから{DAYS}日を過ぎても受領していません（{DAYS + 1}日経過）" in detail


def test_attached_but_not_accepted_is_still_late_and_accepted_is_not(world):
    batch = witnessed_pulp(world)
    services.attach_certificate(world["registrar"], batch.id, io.BytesIO(pdf_bytes()), "溶解証明書.pdf")
    (detail,) = late(batch, TODAY + timedelta(days=DAYS + 1))
    assert "添付済みですが受理されていません" in detail
    services.accept_pulping_certificate(world["security2"], batch.id)
    assert late(batch, TODAY + timedelta(days=DAYS + 1)) == []
    assert late(batch, TODAY + timedelta(days=DAYS * 3)) == []


def test_as_of_a_day_before_a_late_acceptance_it_was_late(world):
    batch = witnessed_pulp(world)
    with db.engine.begin() as conn:  # witnessed DAYS + 5 days ago
        conn.execute(text("UPDATE destruction_batches SET witnessed_at = :at WHERE id = :id"),
                     {"at": utcnow() - timedelta(days=DAYS + 5), "id": batch.id})
    services.attach_certificate(world["registrar"], batch.id, io.BytesIO(pdf_bytes()), "溶解証明書.pdf")
    services.accept_pulping_certificate(world["security2"], batch.id)
    assert late(batch, TODAY) == []
    (detail,) = late(batch, TODAY - timedelta(days=1))
    assert "受理していません" in detail and "受理）" in detail


def test_the_days_follow_the_policy(world):
    batch = witnessed_pulp(world)
    assert late(batch, TODAY + timedelta(days=11)) == []
    set_policy(world["admin"], "contractor.pulping_certificate_days", "10")
    assert get("contractor.pulping_certificate_days") == 10
    assert late(batch, TODAY + timedelta(days=10)) == []
    assert len(late(batch, TODAY + timedelta(days=11))) == 1


def test_other_methods_and_other_contractors_are_not_concerned(world):
    batch = witnessed_pulp(world)
    form = factories.form(world["registrar"])
    shred = services.create_batch(world["registrar"], items=[form.code], method="shred", place="税務課")
    services.witness_batch(world["security"], shred.id)
    other = factories.contractor(world["admin"], name="別の溶解株式会社", services=("pulping",))
    later = TODAY + timedelta(days=DAYS + 1)
    db.session.expire_all()
    assert not [e for e in contractors.contractor_exceptions(contractors.get_contractor(other.id), later)
                if e.rule == "pulping_certificate_late"]
    assert [b.code for b in services.late_pulping_batches(later)] == [batch.code]


def test_the_exceptions_report_lists_it_under_the_contractor_both_ways(world):
    batch = witnessed_pulp(world)

    def rows(as_of):
        findings = queries.compute_findings(as_of, limit=None)
        return [r for d in findings.departments for r in d.rows_of(ExceptionCategory.CONTRACTOR)
                if batch.code in r.detail]

    assert rows(TODAY + timedelta(days=DAYS - 1)) == []
    (row,) = rows(TODAY + timedelta(days=DAYS + 1))
    assert row.title == factories.PULPER
    findings = queries.compute_findings(TODAY + timedelta(days=DAYS + 1), limit=None)
    shicho = next(d for d in findings.departments if d.code == "shicho")
    assert row in shicho.rows_of(ExceptionCategory.CONTRACTOR)
