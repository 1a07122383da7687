"""The auditor's desk queries: ledger parameters and visibility, cell wording, exceptions per
department as of a date, and the imprint's checkpoint check."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import update

from lifecycle.actors import SystemActor
from lifecycle.audit.checkpoints import sign_checkpoint
from lifecycle.audit.models import AuditCheckpoint
from lifecycle.clock import today_jst, utcnow
from lifecycle.custody.services import provide_medium
from lifecycle.destruction.services import create_batch, witness_batch
from lifecycle.errors import Forbidden, Invalid
from lifecycle.extensions import db
from lifecycle.items.models import Item
from lifecycle.items.queries import sees_all
from lifecycle.reports import queries
from lifecycle.documents.render import ExceptionCategory as Cat
from lifecycle.scheduler_models import JobRun
from lifecycle.states import Kind
from lifecycle.documents.imprint import record_report
from tests import factories

# --- ledger parameters ------------------------------------------------------------------------

def test_ledger_request_reads_kind_period_and_department(world):
    req = queries.ledger_request(world["auditor"], {"kind": "medium", "from": "2026-04-01",
                                                    "to": "2026-09-30", "department": "zeimu"})
    assert req.kind == Kind.MEDIUM
    assert (req.date_from, req.date_to) == (date(2026, 4, 1), date(2026, 9, 30))
    assert req.department.name == "税務課" and not req.forced
    assert req.audit_details() == {"kind": "medium", "from": "2026-04-01", "to": "2026-09-30",
                                   "department": "zeimu"}


def test_ledger_request_without_department_is_every_department_for_an_auditor(world):
    req = queries.ledger_request(world["auditor"], {"kind": "form"})
    assert req.department is None and req.department_text == "全所属"


@pytest.mark.parametrize("args, field", [
    ({}, "kind"),
    ({"kind": "my_number_copy"}, "kind"),
    ({"kind": "usb"}, "kind"),
    ({"kind": "form", "from": "2026-13-01"}, "from"),
    ({"kind": "form", "to": "令和8年4月1日"}, "to"),
    ({"kind": "form", "from": "2026-05-01", "to": "2026-04-30"}, "from"),
    ({"kind": "form", "department": "nowhere"}, "department"),
    ({"kind": "form", "from": "0001-01-01"}, "from"),
    ({"kind": "form", "to": "9999-12-31"}, "to"),
    ({"kind": "form", "department": "x" * 500}, "department"),
    ({"kind": "form", "department": "zei\x00mu"}, "department"),
])
def test_bad_ledger_parameters_are_refused_with_a_japanese_message(world, args, field):
    with pytest.raises(Invalid) as refused:
        queries.ledger_request(world["auditor"], args)
    assert refused.value.status == 422
    assert refused.value.field == field
    assert any("\u3040" <= ch <= "\u9fff" for ch in refused.value.message)


def test_a_registrar_is_held_to_his_own_department(world):
    req = queries.ledger_request(world["registrar"], {"kind": "form"})
    assert req.department.code == "zeimu" and req.forced
    assert queries.ledger_request(world["registrar"], {"kind": "form", "department": "zeimu"}).department.code == "zeimu"


def test_a_registrar_may_not_pull_another_departments_ledger(world):
    with pytest.raises(Forbidden) as refused:
        queries.ledger_request(world["registrar"], {"kind": "form", "department": "shicho"})
    assert "市町課" in refused.value.message and refused.value.status == 403


@pytest.mark.parametrize("login", ["auditor", "admin", "security", "security2"])
def test_overseeing_roles_see_every_department(world, login):
    assert sees_all(world[login])
    req = queries.ledger_request(world[login], {"kind": "form", "department": "ryoken"})
    assert req.department.code == "ryoken" and not req.forced


# --- cells ------------------------------------------------------------------------------------

def _rows(req, actor):
    return list(queries.ledger_rows(req, actor))


def test_csv_headers_put_an_iso_twin_beside_each_date():
    headers = queries.csv_headers(Kind.MEDIUM)
    for name in ("登録日", "提供日", "返却予定日", "返却日", "保存期限"):
        assert headers[headers.index(name) + 1] == f"{name}(ISO)"
    assert "件名" in headers and "件名(ISO)" not in headers
    # The CSV has every column; the PDF leaves out what A4 landscape has no room for.
    assert "利用事務" in headers and "利用事務" not in [h for h, _ in queries.pdf_columns(Kind.MEDIUM)]


@pytest.mark.parametrize("kind", list(queries.LEDGER_COLUMNS))
def test_pdf_columns_fill_the_landscape_page_exactly(kind):
    # Widths are points, so codes and dates keep the room they were measured for.
    assert sum(w for _, w in queries.pdf_columns(kind)) == 786


def test_cells_are_wareki_for_people_and_iso_for_machines(world):
    item = factories.medium(world["bulk"], due_back=today_jst().isoformat(), record_count=12345)
    # A fixed day for the assertions, set past the registration rule (no past due-back dates).
    db.session.execute(update(Item).where(Item.id == item.id).values(due_back=date(2026, 12, 1)))
    db.session.commit()
    req = queries.ledger_request(world["auditor"], {"kind": "medium"})
    row = next(r for r in _rows(req, world["auditor"]) if r.code == item.code)
    headings = [h for h, _ in queries.pdf_columns(Kind.MEDIUM)]
    pdf = dict(zip(headings, queries.pdf_cells(Kind.MEDIUM, row)))
    assert pdf["返却予定日"] == "令和8年12月1日"
    assert pdf["件数"] == "12,345" and pdf["暗号化"] == "済" and pdf["状態"] == "登録済"
    assert pdf["所属"] == "市町課" and pdf["保管者"] == "一括 花子"
    csv = dict(zip(queries.csv_headers(Kind.MEDIUM), queries.csv_cells(Kind.MEDIUM, row)))
    assert csv["返却予定日(ISO)"] == "2026-12-01" and csv["件数"] == "12345"
    assert csv["登録日(ISO)"] == today_jst().isoformat()
    assert csv["提供日"] == "" and csv["提供日(ISO)"] == ""


def test_registration_date_is_the_japanese_calendar_day(world):
    item = factories.form(world["registrar"])
    # 2026-11-21 15:30 UTC is already 22 November in Japan.
    db.session.execute(update(Item).where(Item.id == item.id)
                       .values(created_at=datetime(2026, 11, 21, 15, 30)))
    db.session.commit()
    row = _rows(queries.ledger_request(world["auditor"], {"kind": "form"}), world["auditor"])[0]
    csv = dict(zip(queries.csv_headers(Kind.FORM), queries.csv_cells(Kind.FORM, row)))
    assert (csv["登録日"], csv["登録日(ISO)"]) == ("令和8年11月22日", "2026-11-22")


def test_period_filters_by_registration_day_in_japan(world):
    item = factories.form(world["registrar"])
    db.session.execute(update(Item).where(Item.id == item.id)
                       .values(created_at=datetime(2026, 3, 31, 15, 0)))  # 2026-04-01 00:00 JST
    db.session.commit()
    inside = queries.ledger_request(world["auditor"], {"kind": "form", "from": "2026-04-01", "to": "2026-04-01"})
    before = queries.ledger_request(world["auditor"], {"kind": "form", "to": "2026-03-31"})
    assert [r.code for r in _rows(inside, world["auditor"])] == [item.code]
    assert _rows(before, world["auditor"]) == []
    assert queries.ledger_row_count(inside, world["auditor"]) == 1


def test_counter_counts_what_was_streamed():
    counted = queries.Counter(iter(range(7)))
    assert sum(1 for _ in counted) == 7 and counted.count == 7


# --- exceptions -------------------------------------------------------------------------------

@pytest.fixture
def findings_world(world):
    """One finding of each category, 40 days from now (forms are kept 30 days by default)."""
    registrar, bulk, admin = world["registrar"], world["bulk"], world["admin"]
    late_form = factories.form(registrar, title="保存期限を過ぎる帳票")
    waiting = factories.form(registrar, title="立会い待ちの帳票")
    pulped = factories.form(registrar, title="溶解した帳票")
    create_batch(registrar, items=[waiting.code], method="shred", place="税務課 執務室")
    pulp = create_batch(registrar, items=[pulped.code], method="pulp", place="委託業者 工場",
                        contractor=factories.pulper())
    witness_batch(world["security2"], pulp.id)
    medium = factories.medium(bulk, title="返却されない媒体")
    provide_medium(bulk, medium.code)
    device = factories.device(admin, title="満了する端末", lease_end=(today_jst() + timedelta(days=10)).isoformat())
    with db.transaction() as session:
        session.add(JobRun(job="mynumber_purge", started_at=utcnow() - timedelta(hours=1),
                           finished_at=utcnow() - timedelta(hours=1), status="failed", processed=0,
                           triggered_by="system:scheduler", message="OSError: 実行中にエラーが発生しました。"))
    return {"late_form": late_form, "waiting": waiting, "pulped": pulped, "medium": medium,
            "device": device, "as_of": today_jst() + timedelta(days=40)}


def _group(findings, code):
    return next(d for d in findings.departments if d.code == code)


def test_findings_are_grouped_by_department_with_counts(findings_world):
    findings = queries.compute_findings(findings_world["as_of"])
    zeimu, shicho = _group(findings, "zeimu"), _group(findings, "shicho")
    assert zeimu.counts == {Cat.RETENTION_PASSED: 1, Cat.AWAITING_WITNESS: 1, Cat.CERTIFICATE_MISSING: 1}
    # The pulping's certificate is 40 days late: the contractor's exception, kept by the 市町課.
    assert shicho.counts == {Cat.MEDIUM_OVERDUE: 1, Cat.LEASE_ENDED_UNERASED: 1, Cat.PURGE_FAILED: 1,
                             Cat.CONTRACTOR: 1}
    assert findings.total == 7
    assert findings.totals[Cat.RETENTION_PASSED] == 1
    assert findings.departments[0].code == "shicho"  # the system owner first, every department listed
    assert _group(findings, "ryoken").total == 0


def test_each_finding_says_what_and_by_how_much(findings_world):
    findings = queries.compute_findings(findings_world["as_of"])
    zeimu, shicho = _group(findings, "zeimu"), _group(findings, "shicho")
    (late,) = zeimu.rows_of(Cat.RETENTION_PASSED)
    assert late.code == findings_world["late_form"].code
    assert "10日超過" in late.detail and "保存期限 令和" in late.detail and "登録 一郎" in late.detail
    (overdue,) = shicho.rows_of(Cat.MEDIUM_OVERDUE)
    assert overdue.code == findings_world["medium"].code and "26日超過" in overdue.detail
    assert "教育委員会" in overdue.detail
    (device,) = shicho.rows_of(Cat.LEASE_ENDED_UNERASED)
    assert device.code == findings_world["device"].code and "30日経過" in device.detail
    (purge,) = shicho.rows_of(Cat.PURGE_FAILED)
    assert purge.code == "" and "OSError" in purge.detail
    assert zeimu.rows_of(Cat.AWAITING_WITNESS)[0].code.startswith("DS-")
    (pulping,) = shicho.rows_of(Cat.CONTRACTOR)
    assert pulping.title == factories.PULPER and "40日経過" in pulping.detail


def test_findings_are_computed_as_of_the_given_date(findings_world):
    findings = queries.compute_findings(today_jst())
    counts = {cat: findings.totals[cat] for cat in queries.CATEGORIES if findings.totals[cat]}
    # Nothing is late yet; a completed pulping without its certificate and a failed run are.
    assert counts == {Cat.CERTIFICATE_MISSING: 1, Cat.PURGE_FAILED: 1}


def test_items_on_their_way_out_are_not_past_retention(findings_world):
    findings = queries.compute_findings(findings_world["as_of"] + timedelta(days=365))
    codes = {r.code for d in findings.departments for r in d.rows_of(Cat.RETENTION_PASSED)}
    assert findings_world["late_form"].code in codes
    assert findings_world["waiting"].code not in codes  # awaiting destruction
    assert findings_world["pulped"].code not in codes  # destroyed
    assert findings_world["medium"].code not in codes  # provided: its due-back date counts instead


def test_the_page_lists_a_limited_number_but_counts_all(world):
    forms = [factories.form(world["registrar"]) for _ in range(3)]
    findings = queries.compute_findings(today_jst() + timedelta(days=40), limit=2)
    zeimu = _group(findings, "zeimu")
    assert zeimu.count(Cat.RETENTION_PASSED) == 3
    assert [r.code for r in zeimu.rows_of(Cat.RETENTION_PASSED)] == [f.code for f in forms[:2]]
    assert zeimu.hidden(Cat.RETENTION_PASSED) == 1
    with pytest.raises(ValueError):
        findings.report(queries.imprint_for(world["auditor"]))


def test_the_exceptions_report_holds_every_finding(findings_world, world):
    report, count = queries.exceptions_report(world["auditor"], findings_world["as_of"])
    assert count == 7 and report.as_of == findings_world["as_of"]
    assert sum(len(g.rows) for g in report.groups) == 7
    assert report.imprint.printed_by == "監査 正"


def test_findings_json_has_counts_per_department(findings_world):
    data = queries.compute_findings(findings_world["as_of"], limit=None).to_json()
    zeimu = next(d for d in data["departments"] if d["code"] == "zeimu")
    assert zeimu["counts"]["retention_passed"] == 1 and zeimu["total"] == 3
    assert data["total"] == 7 and data["as_of"] == findings_world["as_of"].isoformat()


def test_as_of_defaults_to_today_and_refuses_nonsense():
    assert queries.parse_as_of(None) == today_jst()
    assert queries.parse_as_of(" 2026-11-22 ") == date(2026, 11, 22)
    for bad in ("2026/11/22", "0001-01-01", "9999-12-31"):
        with pytest.raises(Invalid):
            queries.parse_as_of(bad)


def test_only_overseeing_roles_reach_the_desk(world):
    queries.require_desk(world["auditor"])
    queries.require_desk(world["security2"])
    for login in ("registrar", "bulk"):
        with pytest.raises(Forbidden):
            queries.require_desk(world[login])


# --- imprint ----------------------------------------------------------------------------------

def test_imprint_carries_the_latest_checkpoint_with_its_signature_checked(world):
    assert queries.imprint_for(world["auditor"]).checkpoint is None
    checkpoint = sign_checkpoint(SystemActor("system:test", "テスト"))
    imprint = queries.imprint_for(world["auditor"])
    assert imprint.printed_by == "監査 正"
    assert imprint.checkpoint.seq == checkpoint.seq and imprint.checkpoint.head == checkpoint.head_hash
    assert imprint.checkpoint.signature_ok


@pytest.mark.parametrize("change", [{"head_hash": "0" * 64}, {"seq": 1}, {"signature": "zz"}])
def test_a_tampered_checkpoint_prints_as_not_verified(world, change):
    checkpoint = sign_checkpoint(SystemActor("system:test", "テスト"))
    db.session.execute(update(AuditCheckpoint).where(AuditCheckpoint.id == checkpoint.id).values(**change))
    db.session.commit()
    assert queries.imprint_for(world["auditor"]).checkpoint.signature_ok is False


def test_record_report_writes_one_audited_read(world):
    from lifecycle.audit.services import EventFilter, search_events

    record_report(world["auditor"], "ledger", format="csv", rows=3, kind="form")
    (event,), _ = search_events(EventFilter(type="report:generated"))
    assert event.actor == "auditor" and event.subject == "report:ledger"
    assert '"rows":3' in event.data and '"format":"csv"' in event.data
