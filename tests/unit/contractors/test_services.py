"""The contractor register, the coverage rule and the contractor exceptions."""
from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from lifecycle.audit.models import AuditEvent
from lifecycle.clock import today_jst
from lifecycle.contractors import services
from lifecycle.errors import Conflict, Forbidden, Invalid
from lifecycle.extensions import db
from tests import factories
from tests.unit.destruction.test_services import pdf_bytes

TODAY = today_jst()


def events(type_: str) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.type == type_))


def rules(contractor, as_of=TODAY) -> set[str]:
    db.session.expire_all()
    return {e.rule for e in services.contractor_exceptions(services.get_contractor(contractor.id), as_of)}


def test_register_with_contract_file_hashes_it_and_is_audited(world):
    before = events("contractor:registered")
    contractor = services.register_contractor(world["admin"], {
        "name": "九州データ消去株式会社 北支店", "services": ["erasure", "transport"],
        "contract": {"number": "K-1", "start": "2026-04-01", "end": "2027-03-31",
                     "clauses": factories.ALL_CLAUSES}}, (io.BytesIO(pdf_bytes()), "契約書.pdf"))
    assert contractor.service_keys == ["erasure", "transport"]
    assert len(contractor.contracts[0].file.sha256) == 64
    assert events("contractor:registered") == before + 1


def test_security_manager_of_the_system_owner_may_edit_others_may_not(world):
    factories.contractor(world["security"])  # 市町課
    for who in ("security2", "registrar", "auditor", "bulk"):
        with pytest.raises(Forbidden):
            factories.contractor(world[who])


def test_auditor_reads_registrar_does_not(world):
    factories.contractor(world["admin"])
    assert services.list_contractors(world["auditor"])
    with pytest.raises(Forbidden):
        services.list_contractors(world["registrar"])


def test_duplicate_name_and_unknown_service_are_refused(world):
    factories.contractor(world["admin"], name="溶解センター株式会社")
    with pytest.raises(Conflict):
        factories.contractor(world["admin"], name="溶解センター株式会社")
    with pytest.raises(Invalid) as exc:
        factories.contractor(world["admin"], services=("shredding-by-hand",))
    assert exc.value.field == "services"


def test_coverage_outside_the_contract_period_is_refused(world):
    contractor = factories.contractor(world["admin"], start=TODAY - timedelta(days=400),
                                      end=TODAY - timedelta(days=30))
    with pytest.raises(Invalid) as exc:
        services.require_coverage(contractor.id, "erasure", TODAY)
    assert exc.value.code == "contractor_not_covered" and "契約期間外です" in exc.value.message
    assert services.require_coverage(contractor.id, "erasure", TODAY - timedelta(days=31)) is not None


def test_coverage_for_a_service_not_in_the_contract_is_refused(world):
    contractor = factories.contractor(world["admin"], services=("leasing",))
    with pytest.raises(Invalid) as exc:
        services.require_coverage(contractor.id, "pulping", TODAY)
    assert "この業務（溶解・裁断・破砕）は契約に含まれていません" in exc.value.message


def test_coverage_with_a_clause_missing_is_refused(world):
    clauses = [c for c in factories.ALL_CLAUSES if c != "no_subcontracting"]
    contractor = factories.contractor(world["admin"], clauses=clauses)
    with pytest.raises(Invalid) as exc:
        services.require_coverage(contractor.id, "erasure", TODAY)
    assert "再委託の禁止（事前承認制）" in exc.value.message


def test_work_by_an_unapproved_subcontractor_is_refused_and_an_approved_one_passes(world):
    contractor = factories.contractor(world["admin"])
    with pytest.raises(Invalid) as exc:
        services.require_coverage(contractor.id, "erasure", TODAY, performer="下請けデータ株式会社")
    assert "再委託の承認がありません" in exc.value.message
    services.approve_subcontractor(world["admin"], contractor.id, {
        "name": "下請けデータ株式会社", "services": ["erasure"], "approved_on": TODAY.isoformat()})
    services.require_coverage(contractor.id, "erasure", TODAY, performer="下請けデータ株式会社")
    services.require_coverage(contractor.id, "erasure", TODAY, performer=contractor.name)


def test_unknown_or_missing_contractor_is_not_covered(world):
    for value in (None, "999"):
        with pytest.raises(Invalid) as exc:
            services.require_coverage(value, "erasure", TODAY)
        assert exc.value.code == "contractor_not_covered"


def test_renewed_contract_covers_the_new_period(world):
    contractor = factories.contractor(world["admin"], start=TODAY - timedelta(days=400),
                                      end=TODAY - timedelta(days=1))
    services.add_contract(world["admin"], contractor.id, {
        "number": "K-2", "start": TODAY.isoformat(), "end": (TODAY + timedelta(days=365)).isoformat(),
        "clauses": ",".join(factories.ALL_CLAUSES)})
    services.require_coverage(contractor.id, "erasure", TODAY)


def test_inspection_is_recorded_with_findings(world):
    contractor = factories.contractor(world["admin"])
    before = events("contractor:inspected")
    inspection = services.record_inspection(world["security"], contractor.id, {
        "on": TODAY.isoformat(), "by": "安全 管理子、保護 守", "observed": "消去作業場の入退室管理",
        "findings": "作業記録に押印漏れ", "follow_up": "次回までに是正"})
    assert inspection.findings == "作業記録に押印漏れ"
    assert events("contractor:inspected") == before + 1
    with pytest.raises(Invalid):
        services.record_inspection(world["admin"], contractor.id, {
            "on": (TODAY + timedelta(days=1)).isoformat(), "by": "安全"})


# --- exceptions ---------------------------------------------------------------------------------

def up_to_date(contractor, admin):
    services.record_pledge(admin, contractor.id, {"received_on": TODAY.isoformat(),
                                                  "fiscal_year": services.fiscal_year(TODAY)})
    services.record_inspection(admin, contractor.id, {"on": TODAY.isoformat(), "by": "安全 管理子"})


def test_a_contractor_in_order_has_no_exceptions(world):
    contractor = factories.contractor(world["admin"])
    up_to_date(contractor, world["admin"])
    assert rules(contractor) == set()


def test_contract_ending_within_60_days(world):
    contractor = factories.contractor(world["admin"], end=TODAY + timedelta(days=59))
    up_to_date(contractor, world["admin"])
    assert rules(contractor) == {"contract_ending"}
    far = factories.contractor(world["admin"], end=TODAY + timedelta(days=61))
    up_to_date(far, world["admin"])
    assert rules(far) == set()


def test_contract_ended_while_devices_are_still_with_the_lessor(world):
    lessor = factories.contractor(world["admin"], name="終了リース株式会社", services=("leasing",),
                                  start=TODAY - timedelta(days=800), end=TODAY - timedelta(days=10))
    assert "contract_ended_devices" not in rules(lessor)
    factories.device(world["admin"], lessor="終了リース株式会社")
    assert "contract_ended_devices" in rules(lessor)


def test_missing_clauses_pledge_and_inspection(world):
    contractor = factories.contractor(world["admin"], clauses=["confidentiality"])
    assert rules(contractor) == {"missing_clauses", "pledge_missing", "inspection_overdue"}


def test_inspection_interval_follows_the_policy(world):
    from lifecycle.policy.services import set_policy

    contractor = factories.contractor(world["admin"])
    services.record_pledge(world["admin"], contractor.id, {"received_on": TODAY.isoformat()})
    services.record_inspection(world["admin"], contractor.id, {
        "on": (TODAY - timedelta(days=200)).isoformat(), "by": "安全"})
    assert rules(contractor) == set()
    set_policy(world["admin"], "contractor.inspection_interval_days", "180")
    assert rules(contractor) == {"inspection_overdue"}


def test_pledge_of_last_year_does_not_count_for_this_one(world):
    contractor = factories.contractor(world["admin"])
    services.record_pledge(world["admin"], contractor.id, {
        "received_on": (TODAY - timedelta(days=400)).isoformat()})
    services.record_inspection(world["admin"], contractor.id, {"on": TODAY.isoformat(), "by": "安全"})
    assert rules(contractor) == {"pledge_missing"}
    with pytest.raises(Conflict):
        services.record_pledge(world["admin"], contractor.id, {
            "received_on": (TODAY - timedelta(days=400)).isoformat()})


def test_fiscal_year_runs_april_to_march():
    assert services.fiscal_year(date(2027, 3, 31)) == 2026
    assert services.fiscal_year(date(2027, 4, 1)) == 2027


# --- the exceptions report ----------------------------------------------------------------------

def test_contractor_exceptions_reach_the_report_under_the_system_owner(world):
    from lifecycle.reports import queries
    from lifecycle.documents.render import ExceptionCategory

    factories.contractor(world["admin"], name="条項不足サービス株式会社", clauses=["confidentiality"])
    findings = queries.compute_findings(TODAY, limit=None)
    shicho = next(d for d in findings.departments if d.code == "shicho")
    rows = shicho.rows_of(ExceptionCategory.CONTRACTOR)
    details = [r.detail for r in rows if r.title == "条項不足サービス株式会社"]
    assert any("必要な条項がありません" in d for d in details)
    assert any("誓約書を受領していません" in d for d in details)
    assert any("実地確認" in d for d in details)
    assert not [r for r in rows if r.title != "条項不足サービス株式会社"]  # the demo's are in order
