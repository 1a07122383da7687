"""The custody report's query: holders from the registration and accepted hand-offs, every event
of the item with its chain hash, the head, and the same content as JSON."""
import io

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from lifecycle.actors import SystemActor
from lifecycle.audit.checkpoints import sign_checkpoint
from lifecycle.audit.models import AuditEvent
from lifecycle.audit.services import events_for, head
from lifecycle.custody import report, services
from lifecycle.errors import Forbidden, NotFound
from lifecycle.extensions import db
from lifecycle.documents.render import render_custody_pdf
from tests import factories


@pytest.fixture
def handed(world):
    """A form registered by registrar (税務課), handed to registrar2 (旅券センター), then to bulk
    (市町課) who rejected a first attempt and accepted a second."""
    item = factories.form(world["registrar"])
    first = services.request_transfer(world["registrar"], item.code, "registrar2", "書庫の移動")
    services.accept_transfer(world["registrar2"], first.id)
    second = services.request_transfer(world["registrar2"], item.code, "bulk")
    services.reject_transfer(world["bulk"], second.id, "数量が違います")
    third = services.request_transfer(world["registrar2"], item.code, "bulk")
    services.accept_transfer(world["bulk"], third.id)
    return item


def test_holders_follow_accepted_hand_offs_only(world, handed):
    built = report.build_custody_report(world["auditor"], handed.code)
    assert [(h.name, h.department) for h in built.holders] == [
        ("登録 一郎", "税務課"), ("旅券 二郎", "旅券センター"), ("一括 花子", "市町課")]
    assert built.holders[0].since == handed.created_at
    assert built.holders[0].until == built.holders[1].since
    assert built.holders[1].until == built.holders[2].since
    assert built.holders[-1].until is None


def test_events_are_the_items_chain_links_with_hashes(world, handed):
    built = report.build_custody_report(world["auditor"], handed.code)
    stored = events_for(handed.code)
    assert [(e.seq, e.hash) for e in built.events] == [(e.seq, e.hash) for e in stored]
    assert len(built.events) == 7  # registered + 3 requested + accepted + rejected + accepted
    assert built.events[1].label == "引継ぎ" and "書庫の移動" in built.events[1].summary
    assert "数量が違います" in built.events[4].summary
    assert built.events[0].actor == "登録 一郎（税務課）"  # the name and department, not the login
    seq, head_hash = head()
    assert (built.head_seq, built.head_hash) == (seq, head_hash)


def test_pulling_the_report_is_itself_recorded(world, handed):
    report.build_custody_report(world["auditor"], handed.code)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.type == "report:generated")
                              .order_by(AuditEvent.seq.desc()))
    assert event.subject == f"report:custody:{handed.code}" and event.actor == "auditor"
    assert event.seq == head()[0]  # the printed head includes the pull


def test_pdf_has_codes_japanese_and_hashes(world, handed):
    sign_checkpoint(SystemActor("system:test", "テスト"))
    pdf = render_custody_pdf(report.build_custody_report(world["auditor"], handed.code))
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert handed.code in text and "保管履歴報告書" in text and "令和" in text
    for event in events_for(handed.code):
        assert event.hash[:16] in text.replace("\n", "")
    assert "旅券センター" in text and "署名検証済" in text


def test_json_carries_types_and_the_head(world, handed):
    data = report.custody_json(world["auditor"], handed.code)
    assert data["code"] == handed.code and data["status"] == "in_custody"
    assert [e["type"] for e in data["events"]][:3] == [
        "item:registered", "custody:transfer_requested", "custody:accepted"]
    assert all(len(e["hash"]) == 64 for e in data["events"])
    assert data["head"]["seq"] == head()[0]
    assert data["holders"][-1]["until"] is None and data["holders"][0]["since"].endswith("+09:00")
    assert data["qr_url"].startswith("http://lifecycle.test/s/")


def test_destroyed_item_has_no_current_holder(world):
    from lifecycle.destruction.services import create_batch, witness_batch

    item = factories.form(world["registrar"])
    batch = create_batch(world["registrar"], items=[item.code], method="shred", place="税務課")
    witness_batch(world["security2"], batch.id)
    built = report.build_custody_report(world["auditor"], item.code)
    assert built.holders[-1].until is not None


def test_same_visibility_as_the_item(world, handed):
    before = head()
    with pytest.raises(Forbidden):
        report.build_custody_report(world["registrar"], handed.code)  # now held by 市町課
    with pytest.raises(NotFound):
        report.custody_json(world["auditor"], "F-2026-999999")
    assert head() == before
    assert report.build_custody_report(world["bulk"], handed.code).code == handed.code


def test_medium_report_shows_provision(world):
    medium = factories.medium(world["bulk"])
    services.provide_medium(world["bulk"], medium.code, "公安委員会")
    services.return_medium(world["bulk"], medium.code)
    built = report.build_custody_report(world["auditor"], medium.code)
    fields = dict(built.fields)
    assert fields["提供先"] == "公安委員会" and fields["返却日時"] is not None
    summaries = [e.summary for e in built.events]
    assert any("公安委員会」へ提供" in s for s in summaries)
    assert any("から返却" in s and "保存期限" in s for s in summaries)
