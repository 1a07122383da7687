"""指摘事項: recorded → plan → action with evidence → 現地確認 by another security manager → closed."""
from __future__ import annotations

import io
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from lifecycle.audit.models import AuditEvent
from lifecycle.clock import today_jst
from lifecycle import files
from lifecycle.files import FileIntegrityError
from lifecycle.errors import Forbidden, Invalid, InvalidTransition
from lifecycle.extensions import db
from lifecycle.findings import services
from lifecycle.states import State
from tests import factories


def _events(subject: str) -> list[str]:
    db.session.rollback()
    return list(db.session.scalars(select(AuditEvent.type).where(AuditEvent.subject == subject)
                                   .order_by(AuditEvent.seq)))


def raise_one(actor, **overrides):
    data = dict(source="internal_audit", department_code="zeimu", summary="書庫の鍵の管理簿が更新されていない",
                severity="medium", due_on=(today_jst() + timedelta(days=30)).isoformat())
    data.update(overrides)
    return services.raise_finding(actor, **data)


def evidence(name="evidence.pdf"):
    return (io.BytesIO(factories.text_pdf("key ledger updated")), name)


def answered(world, finding=None):
    finding = finding or raise_one(world["auditor"])
    services.submit_plan(world["security2"], finding.id, {"plan": "鍵の管理簿を毎日確認する"})
    services.report_action(world["security2"], finding.id, {"action": "管理簿を更新し、確認欄を設けた"},
                           [evidence()])
    return finding


def test_raise_records_refs_and_event(world):
    item = factories.form(world["registrar"])
    finding = raise_one(world["auditor"], refs=[{"kind": "item", "ref": item.code.lower()},
                                                {"kind": "terminal", "ref": "ZEIMU-CS01"},
                                                ("user", "registrar")])
    assert finding.status == State.RECORDED.value and finding.department.code == "zeimu"
    assert [(r.kind, r.ref) for r in finding.refs] == [("item", item.code), ("terminal", "ZEIMU-CS01"),
                                                       ("user", "registrar")]
    assert finding.audit.endswith("年度 内部監査")
    assert _events(finding.audit_subject) == ["finding:raised"]


def test_raise_refuses_every_bad_field_at_once(world):
    with pytest.raises(Invalid) as refused:
        services.raise_finding(world["auditor"], source="gossip", department_code="nowhere", summary="",
                               severity="extreme", due_on="2000-01-01",
                               refs=[{"kind": "item", "ref": "F-1999-000001"}])
    assert set(refused.value.fields) == {"source", "department", "summary", "severity", "due_on", "refs.0.ref"}
    assert db.session.scalar(select(AuditEvent.seq).where(AuditEvent.type == "finding:raised")) is None


def test_summary_refuses_a_my_number(world):
    with pytest.raises(Invalid) as refused:
        raise_one(world["auditor"], summary="住民 123456789018 の照会")
    assert refused.value.code == "my_number_in_text"


def test_a_registrar_cannot_raise(world):
    with pytest.raises(Forbidden):
        raise_one(world["registrar"])


def test_life_cycle_closes_only_after_confirmation_by_another_security_manager(world):
    finding = answered(world)
    assert services.get_finding(finding.id).status == State.ACTION_REPORTED.value
    with pytest.raises(Forbidden) as refused:
        services.confirm_on_site(world["security2"], finding.id, {"note": "自分で確認"})
    assert refused.value.code == "same_person"
    with pytest.raises(Forbidden):
        services.confirm_on_site(world["auditor"], finding.id, {"note": "監査担当は現地確認しない"})
    services.confirm_on_site(world["security"], finding.id, {"note": "書庫で管理簿の確認欄を確認した"})
    closed = services.get_finding(finding.id)
    assert closed.status == State.RESOLVED.value and closed.confirmed_by == "security"
    assert _events(finding.audit_subject) == ["finding:raised", "finding:plan_submitted",
                                              "finding:action_reported", "finding:confirmed_on_site"]
    with pytest.raises(InvalidTransition):
        services.send_back(world["security"], finding.id, {"reason": "やり直し"})


def test_send_back_returns_to_the_department(world):
    finding = answered(world)
    services.send_back(world["security"], finding.id, {"reason": "確認欄に記入がない"})
    back = services.get_finding(finding.id)
    assert back.status == State.PLANNED.value and back.sent_back == 1
    services.report_action(world["security2"], finding.id, {"action": "記入を徹底した"})  # earlier evidence stands
    services.confirm_on_site(world["security"], finding.id, {"note": "記入を確認"})
    assert _events(finding.audit_subject)[-3:] == ["finding:sent_back", "finding:action_reported",
                                                   "finding:confirmed_on_site"]


def test_only_the_departments_security_manager_answers(world):
    finding = raise_one(world["auditor"])
    for login in ("security", "registrar", "auditor"):
        with pytest.raises(Forbidden):
            services.submit_plan(world[login], finding.id, {"plan": "計画"})
    with pytest.raises(InvalidTransition):
        services.report_action(world["security2"], finding.id, {"action": "措置"}, [evidence()])


def test_action_needs_evidence_and_keeps_its_hash(world):
    finding = raise_one(world["auditor"])
    services.submit_plan(world["security2"], finding.id, {"plan": "計画"})
    with pytest.raises(Invalid) as refused:
        services.report_action(world["security2"], finding.id, {"action": "措置"})
    assert refused.value.field == "file"
    done = services.report_action(world["security2"], finding.id, {"action": "措置"}, [evidence("鍵管理簿.pdf")])
    stored = done.evidence[0].file
    assert stored.original_name == "鍵管理簿.pdf" and files.check_integrity(stored).ok
    _, data = services.evidence_bytes(world["auditor"], finding.id, stored.id)
    assert data.startswith(b"%PDF-")


def test_a_changed_evidence_file_blocks_the_confirmation(world):
    finding = answered(world)
    stored = services.get_finding(finding.id).evidence[0].file
    path = files.path_for(stored.sha256)
    path.write_bytes(path.read_bytes() + b"% changed")
    with pytest.raises(FileIntegrityError):
        services.confirm_on_site(world["security"], finding.id, {"note": "確認"})
    assert services.get_finding(finding.id).status == State.ACTION_REPORTED.value
    assert "file:integrity_failed" in _events(finding.audit_subject)


def test_lists_by_view_and_visibility(world):
    late = raise_one(world["auditor"])
    with db.transaction():
        services.get_finding(late.id).due_on = today_jst() - timedelta(days=1)
    other = raise_one(world["auditor"], department_code="ryoken", audit="令和8年度 外部監査", source="external_audit")
    closed = answered(world)
    services.confirm_on_site(world["security"], closed.id, {"note": "確認"})
    ids = lambda view, who="auditor", **kw: [f.id for f in services.list_findings(
        world[who], services.FindingFilter(view=view, **kw))]
    assert ids("open") == [other.id, late.id]
    assert ids("overdue") == [late.id]
    assert ids("closed") == [closed.id]
    assert ids("all", audit="令和8年度 外部監査") == [other.id]
    assert ids("all", who="registrar2") == [other.id]  # a registrar sees their own department's only
    with pytest.raises(Forbidden):
        services.get_visible_finding(world["registrar2"], late.id)
    assert [f.id for f in services.overdue_findings(today_jst())] == [late.id]


def test_counts_per_year(world):
    raise_one(world["auditor"])
    closed = answered(world)
    services.confirm_on_site(world["security"], closed.id, {"note": "確認"})
    from lifecycle.clock import fiscal_year
    assert services.counts_per_year() == [{"fiscal_year": fiscal_year(today_jst()), "raised": 2, "closed": 1,
                                           "open": 1}]


def test_two_confirmers_at_once_only_one_succeeds(app, world):
    finding = answered(world)
    outcomes = []

    def confirm(login, reason_or_note):
        with app.app_context():
            from lifecycle.auth.services import get_user
            try:
                if login == "security":
                    services.confirm_on_site(get_user(login), finding.id, {"note": reason_or_note})
                else:
                    services.send_back(get_user(login), finding.id, {"reason": reason_or_note})
                outcomes.append("ok")
            except InvalidTransition:
                outcomes.append("refused")
            finally:
                db.session.remove()

    from lifecycle.auth.services import create_user
    from lifecycle.actors import SystemActor
    create_user(SystemActor("system:test", "テスト"), "security3", "監査 三郎", "ryoken",
                roles=("security_manager",), trained_on=today_jst())
    threads = [threading.Thread(target=confirm, args=("security", "確認")),
               threading.Thread(target=confirm, args=("security3", "差戻し"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "refused"]
