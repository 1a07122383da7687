"""自己点検: the default checklist, answers with evidence, いいえ → finding, the auditor's sample, progress."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from lifecycle.audit.models import AuditEvent
from lifecycle.clock import fiscal_year, today_jst
from lifecycle.errors import Conflict, Forbidden, Invalid, InvalidTransition
from lifecycle.extensions import db
from lifecycle.findings import services as findings
from lifecycle.selfinspection import services
from lifecycle.states import State
from tests import factories

YEAR = fiscal_year(today_jst())


def pdf():
    return (io.BytesIO(factories.text_pdf("evidence")), "証拠.pdf")


def answer_all(actor, inspection, *, no=()):
    """Answers every item はい (with evidence where asked), except the positions in `no`."""
    for n, item in enumerate(services.checklist()):
        if n in no:
            services.answer_item(actor, inspection.id, item.id, {"answer": "no", "note": "未実施"})
        else:
            services.answer_item(actor, inspection.id, item.id, {"answer": "yes"},
                                 pdf() if item.evidence_required else None)


@pytest.fixture
def inspection(world):
    return services.open_inspection(world["security2"])


def test_default_checklist_covers_the_guidance_themes(inspection):
    themes = {item.theme for item in services.checklist()}
    assert themes == {"管理体制", "端末・媒体の管理", "帳票の管理", "アクセス管理", "委託先管理", "教育・研修", "事故対応"}
    assert services.seed_default_checklist() == 0  # safe to run twice
    assert inspection.department.code == "zeimu" and inspection.fiscal_year == YEAR
    assert inspection.status == State.ANSWERING.value


def test_opening_twice_gives_the_same_inspection(world, inspection):
    again = services.open_inspection(world["registrar"])  # the same department's registrar
    assert again.id == inspection.id


def test_another_department_cannot_answer(world, inspection):
    item = services.checklist()[0]
    with pytest.raises(Forbidden):
        services.answer_item(world["registrar2"], inspection.id, item.id, {"answer": "yes"})
    with pytest.raises(Forbidden):
        services.answer_item(world["auditor"], inspection.id, item.id, {"answer": "yes"})


def test_evidence_required_and_notes_for_no(world, inspection):
    needs = next(i for i in services.checklist() if i.evidence_required)
    with pytest.raises(Invalid) as refused:
        services.answer_item(world["security2"], inspection.id, needs.id, {"answer": "yes"})
    assert refused.value.field == "file"
    with pytest.raises(Invalid) as refused:
        services.answer_item(world["security2"], inspection.id, needs.id, {"answer": "maybe", "note": "x"})
    assert set(refused.value.fields) == {"answer"}
    with pytest.raises(Invalid) as refused:
        services.answer_item(world["security2"], inspection.id, needs.id, {"answer": "no"})
    assert set(refused.value.fields) == {"note"}
    row = services.answer_item(world["security2"], inspection.id, needs.id, {"answer": "yes"}, pdf())
    assert row.file.sha256 and row.file.original_name == "証拠.pdf"
    again = services.answer_item(world["security2"], inspection.id, needs.id, {"answer": "yes", "note": "更新"})
    assert again.id == row.id and again.file_id == row.file_id  # the earlier evidence stands


def test_filing_needs_every_answer_and_turns_no_into_findings(world, inspection):
    with pytest.raises(Invalid) as refused:
        services.file_inspection(world["security2"], inspection.id)
    assert refused.value.code == "unanswered_items"
    answer_all(world["registrar"], inspection, no=(0, 3))
    with pytest.raises(Forbidden):
        services.file_inspection(world["registrar"], inspection.id)  # the security manager files
    filed = services.file_inspection(world["security2"], inspection.id)
    assert filed.status == State.FILED.value
    raised = findings.list_findings(world["auditor"], findings.FindingFilter(view="open"))
    assert len(raised) == 2 and {f.source for f in raised} == {"self_inspection"}
    assert all(f.department.code == "zeimu" and "いいえ" in f.summary for f in raised)
    assert raised[0].audit == f"{findings.fiscal_year_text(YEAR)} 自己点検"
    with pytest.raises(Conflict):
        services.answer_item(world["security2"], inspection.id, services.checklist()[0].id, {"answer": "yes"})
    with pytest.raises(InvalidTransition):
        services.file_inspection(world["security2"], inspection.id)
    assert len(findings.list_findings(world["auditor"], findings.FindingFilter(view="all"))) == 2
    db.session.rollback()
    filed_event = db.session.scalar(select(AuditEvent.data).where(AuditEvent.type == "self_inspection:filed"))
    assert sorted(f.id for f in raised) == sorted(__import__("json").loads(filed_event)["finding_ids"])


def test_auditor_sample_not_supported_becomes_a_finding(world, inspection):
    answer_all(world["security2"], inspection)
    services.file_inspection(world["security2"], inspection.id)
    row = services.get_inspection(inspection.id).answers[1]
    with pytest.raises(Forbidden):
        services.sample_answer(world["security"], row.id, {"supported": False, "note": "x"})
    with pytest.raises(Invalid) as refused:
        services.sample_answer(world["auditor"], row.id, {"supported": False})
    assert set(refused.value.fields) == {"note"}
    checked = services.sample_answer(world["auditor"], row.id, {"supported": False,
                                                                 "note": "添付の一覧が前年度のもの"})
    assert checked.supported is False and checked.sample_finding_id
    finding = findings.get_finding(checked.sample_finding_id)
    assert finding.source == "self_inspection" and "裏付けられない" in finding.summary
    with pytest.raises(Conflict):
        services.sample_answer(world["auditor"], row.id, {"supported": True})
    other = services.get_inspection(inspection.id).answers[2]
    assert services.sample_answer(world["auditor"], other.id, {"supported": True}).sample_finding_id is None


def test_progress_per_department(world, inspection):
    items = services.checklist()
    services.answer_item(world["security2"], inspection.id, items[0].id, {"answer": "na", "note": "該当業務なし"})
    rows = {p.department_code: p for p in services.progress(YEAR)}
    assert rows["zeimu"].answered == 1 and rows["zeimu"].na == 1 and rows["zeimu"].total == len(items)
    assert rows["ryoken"].status is None and rows["ryoken"].answered == 0
    answer_all(world["security2"], inspection, no=(0,))
    services.file_inspection(world["security2"], inspection.id)
    rows = {p.department_code: p for p in services.progress(YEAR)}
    assert rows["zeimu"].percent == 100 and rows["zeimu"].no == 1 and rows["zeimu"].findings == 1
    assert services.counts_per_year() == [{"fiscal_year": YEAR, "filed": 1, "answering": 0, "no_answers": 1,
                                           "findings": 1}]


def test_admin_keeps_the_checklist(world, inspection):
    with pytest.raises(Forbidden):
        services.add_checklist_item(world["auditor"], {"theme": "管理体制", "question": "q"})
    with pytest.raises(Invalid) as refused:
        services.add_checklist_item(world["admin"], {"theme": "", "question": "", "evidence_required": "x"})
    assert set(refused.value.fields) == {"theme", "question", "evidence_required"}
    item = services.add_checklist_item(world["admin"], {"theme": "事故対応", "question": "訓練を実施したか",
                                                        "evidence_required": True})
    assert item in services.checklist()
    services.update_checklist_item(world["admin"], item.id, {"theme": "事故対応", "question": "訓練を実施したか",
                                                             "active": False})
    assert item.id not in {i.id for i in services.checklist()}
    assert item.id in {i.id for i in services.checklist(active_only=False)}


def test_a_changed_evidence_file_cannot_be_sampled(world, inspection):
    from lifecycle import files
    from lifecycle.files import FileIntegrityError

    answer_all(world["security2"], inspection)
    services.file_inspection(world["security2"], inspection.id)
    row = next(a for a in services.get_inspection(inspection.id).answers if a.file is not None)
    path = files.path_for(row.file.sha256)
    path.write_bytes(path.read_bytes() + b"% changed")
    with pytest.raises(FileIntegrityError):
        services.sample_answer(world["auditor"], row.id, {"supported": True})
    assert services.get_answer(row.id).sampled_at is None
