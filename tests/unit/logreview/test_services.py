"""The access-log review: import, automatic checks, the draw and its offline recomputation, marks."""
from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from lifecycle.audit.checkpoints import write_export
from lifecycle.auth.models import RoleGrant
from lifecycle.clock import jst_wall, utcnow
from lifecycle.errors import Conflict, Forbidden, Invalid
from lifecycle.extensions import db
from lifecycle.logreview import imports, services
from lifecycle.logreview.models import AccessRecord, CheckHit, LogRejection, SampledRecord
from lifecycle.policy.services import set_policy
from lifecycle.terminals import services as terminals
from tests import factories

HEADER = "accessed_at,terminal,operator,business,operation,records\n"


def csv_file(*lines: str, header: str = HEADER, encoding: str = "utf-8") -> io.BytesIO:
    return io.BytesIO((header + "".join(line + "\n" for line in lines)).encode(encoding))


def line(at: str, terminal="ZEIMU-CS01", operator="registrar", operation="照会", records=1,
         business="自動車税の賦課徴収に関する事務") -> str:
    return f"{at},{terminal},{operator},{business},{operation},{records}"


def load(world, *lines: str, name="log.csv") -> imports.ImportResult:
    return imports.import_log(world["admin"], csv_file(*lines), name)


def hits_of(rule: str) -> list[CheckHit]:
    return list(db.session.scalars(select(CheckHit).where(CheckHit.rule == rule).order_by(CheckHit.record_id)))


@pytest.fixture
def terminal(world):
    terminals.register_terminal(world["admin"], {"code": "zeimu-cs01", "department": "zeimu",
                                                 "location": "税務課 執務室"})
    terminals.register_terminal(world["admin"], {"code": "ryoken-cs01", "department": "ryoken",
                                                 "location": "旅券センター"})


# --- import ---------------------------------------------------------------------------------------

def test_import_takes_good_rows_and_reports_each_bad_line(world, terminal):
    result = load(world,
                  line("2026-07-01 10:00:00"),
                  line("2026/07/02 9:05"),
                  line("2026-07-32 10:00:00"),
                  line("2026-07-03 10:00:00", operation="削除"),
                  "2026-07-03 10:00:00,ZEIMU-CS01",
                  line("2026-07-04 10:00:00", records="-3"),
                  line("2026-07-05T10:00:00+09:00", operation="出力", records=12))
    log_import = result.log_import
    assert (log_import.rows, log_import.rejected) == (3, 4)
    assert [line_no for line_no, _ in result.rejected] == [4, 5, 6, 7]
    reasons = dict(result.rejected)
    assert "日時「2026-07-32 10:00:00」を読み取れません" in reasons[4]
    assert "照会・提供・出力のいずれでもありません" in reasons[5]
    assert "列が足りません" in reasons[6]
    assert "0以上の整数ではありません" in reasons[7]
    stored = db.session.scalars(select(AccessRecord).order_by(AccessRecord.line)).all()
    assert [r.operation for r in stored] == ["inquiry", "inquiry", "output"]
    assert jst_wall(stored[1].accessed_at) == datetime(2026, 7, 2, 9, 5)
    assert stored[0].department_id == world["registrar"].department_id  # the terminal's department
    assert db.session.scalar(select(func.count()).select_from(LogRejection)) == 4
    assert log_import.completed_at is not None and log_import.checked_at is not None


def test_the_same_file_twice_is_recognised_and_not_counted_again(world, terminal):
    lines = [line("2026-07-01 10:00:00"), line("2026-07-01 11:00:00")]
    first = load(world, *lines)
    with pytest.raises(Conflict) as again:
        load(world, *lines, name="renamed.csv")
    assert again.value.code == "already_imported" and f"第{first.log_import.id}号" in again.value.message
    assert db.session.scalar(select(func.count()).select_from(AccessRecord)) == 2


def test_a_mapped_source_reads_shift_jis_with_its_own_headers(world, terminal):
    imports.define_source(world["admin"], "cs-export", {
        "accessed_at": "操作日時", "terminal": "端末番号", "operator": "操作者", "business": "事務",
        "operation": "処理区分", "records": "件数"})
    data = csv_file("税務課,2026/07/01 10:00:00,ZEIMU-CS01,registrar,自動車税の賦課徴収に関する事務,提供,3",
                    header="所属,操作日時,端末番号,操作者,事務,処理区分,件数\n", encoding="cp932")
    result = imports.import_log(world["admin"], data, "cs.csv", "cs-export")
    assert result.log_import.encoding == "cp932" and result.log_import.rows == 1
    record = db.session.scalar(select(AccessRecord))
    assert (record.operation, record.records, record.business) == ("provision", 3, "自動車税の賦課徴収に関する事務")


def test_missing_columns_and_unknown_sources_are_refused_whole(world, terminal):
    with pytest.raises(Invalid) as refused:
        imports.import_log(world["admin"], csv_file(header="when,terminal\n"), "x.csv")
    assert refused.value.code == "log_columns_missing" and "日時" in refused.value.message
    with pytest.raises(Exception) as unknown:
        imports.import_log(world["admin"], csv_file(), "x.csv", "nowhere")
    assert getattr(unknown.value, "code", None) == "unknown_log_source"
    with pytest.raises(Invalid) as bad:
        imports.define_source(world["admin"], "bad name!", {"accessed_at": ""})
    assert {"name", "terminal", "accessed_at"} <= set(bad.value.fields)
    assert db.session.scalar(select(func.count()).select_from(AccessRecord)) == 0


def test_only_an_admin_imports(world, terminal):
    with pytest.raises(Forbidden):
        imports.import_log(world["auditor"], csv_file(line("2026-07-01 10:00:00")), "x.csv")


def test_a_my_number_in_a_cell_is_refused_and_not_quoted(world, terminal):
    result = load(world, line("2026-07-01 10:00:00", business="照会 123456789018"))
    assert result.log_import.rows == 0
    assert "123456789018" not in result.rejected[0][1] and "個人番号" in result.rejected[0][1]


# --- automatic checks -----------------------------------------------------------------------------

def test_operator_without_role_or_without_training_on_that_day(world, terminal):
    with db.transaction() as session:  # the registrar has held the role since 2020
        session.execute(update(RoleGrant).where(RoleGrant.user_id == world["registrar"].id)
                        .values(granted_at=datetime(2020, 1, 1)))
    trained = world["registrar"].trained_on
    before = trained - timedelta(days=400)
    load(world,
         line(f"{trained.isoformat()} 10:00:00", operator="nobody"),
         line(f"{before.isoformat()} 10:00:00"),
         line(f"{trained.isoformat()} 10:00:00"))
    assert [h.detail for h in hits_of("no_role")] == [
        f"操作者ID nobody は{_wareki(trained)}に権限を持つ利用者ではありません。"]
    assert len(hits_of("no_training")) == 1
    assert db.session.get(AccessRecord, hits_of("no_training")[0].record_id).line == 3


def _wareki(day):
    from lifecycle.wareki import wareki_date
    return wareki_date(day)


def test_access_outside_an_approved_terminal_use(world, terminal):
    from tests.unit.terminals.conftest import ask  # noqa: F401 (shared helper)

    use = ask(world["registrar"])
    terminals.approve_use(world["security2"], use.id, {"no_camera_phone_usb": True})
    inside = jst_wall(terminals.get_use(use.id).approved_at + timedelta(seconds=1))
    outside = inside - timedelta(days=3)
    load(world, line(inside.isoformat(sep=" ", timespec="seconds")),
         line(outside.isoformat(sep=" ", timespec="seconds")),
         line(inside.isoformat(sep=" ", timespec="seconds"), operator="registrar2"))
    flagged = [db.session.get(AccessRecord, h.record_id).line for h in hits_of("no_approval")]
    assert flagged == [3, 4]


def test_output_without_a_registered_form_from_that_terminal_and_time(world, terminal):
    printed = utcnow().replace(microsecond=0) - timedelta(hours=2)
    local = jst_wall(printed)
    factories.form(world["registrar"], terminal="zeimu-cs01", output_at=local.isoformat(timespec="minutes"))
    load(world,
         line((local + timedelta(minutes=10)).isoformat(sep=" "), operation="出力", records=5),
         line((local + timedelta(hours=3)).isoformat(sep=" "), operation="出力", records=5),
         line((local + timedelta(minutes=10)).isoformat(sep=" "), operation="照会"))
    assert [db.session.get(AccessRecord, h.record_id).line for h in hits_of("unregistered_output")] == [3]


def test_access_at_night_on_weekends_and_holidays(world, terminal):
    load(world,
         line("2026-11-02 10:00:00"),   # a Monday, in office hours
         line("2026-11-02 22:30:00"),   # at night
         line("2026-11-03 10:00:00"),   # 文化の日
         line("2026-11-07 10:00:00"),   # a Saturday
         line("2026-12-30 10:00:00"))   # 年末年始
    details = [h.detail for h in hits_of("off_hours")]
    assert len(details) == 4
    assert "執務時間（8時〜20時）外" in details[0] and "祝日（文化の日）" in details[1]
    assert "土曜日" in details[2] and "年末年始" in details[3]
    set_policy(world["admin"], "logreview.work_end_hour", 23)
    load(world, line("2026-11-04 22:30:00"), name="later.csv")
    assert len(hits_of("off_hours")) == 4


def test_a_hit_is_confirmed_or_dismissed_with_a_reason_once(world, terminal):
    load(world, line("2026-11-03 10:00:00"), line("2026-11-07 10:00:00"))
    first, second = hits_of("off_hours")
    with pytest.raises(Invalid) as refused:
        services.decide_hit(world["auditor"], first.id, "dismissed", "")
    assert set(refused.value.fields) == {"reason"}
    with pytest.raises(Forbidden):
        services.decide_hit(world["registrar"], first.id, "dismissed", "休日出勤の届あり")
    services.decide_hit(world["auditor"], first.id, "dismissed", "休日出勤の届あり")
    confirmed = services.decide_hit(world["auditor"], second.id, "confirmed", severity="high")
    assert confirmed.finding_id is not None  # became a finding (findings domain)
    with pytest.raises(Conflict):
        services.decide_hit(world["auditor"], first.id, "confirmed")


# --- the draw -------------------------------------------------------------------------------------

def _quarter_of_logs(world, prefix="2026-07", count=12):
    lines = []
    for month in ("07", "08", "09"):
        for n in range(count):
            lines.append(line(f"2026-{month}-{n % 28 + 1:02d} 10:{n:02d}:00"))
            lines.append(line(f"2026-{month}-{n % 28 + 1:02d} 11:{n:02d}:00", terminal="RYOKEN-CS01",
                              operator="registrar2", business="旅券の発給に関する事務"))
    return lines


def test_the_draw_is_recomputed_by_the_offline_verifier(world, terminal, tmp_path):
    from tools.verify_audit_export import main as verifier

    set_policy(world["admin"], "logreview.sample_size", 4)
    load(world, *_quarter_of_logs(world))
    review = services.open_review(world["auditor"], "2026Q3")
    parameters = services.draw_parameters(review)
    assert [d["department"] for d in parameters["departments"]] == ["ryoken", "zeimu"]
    assert all(len(d["positions"]) == 4 and d["population"] == 12 for d in parameters["departments"])
    assert len(review.samples) == 2 and all(s.month in ("2026-07", "2026-08", "2026-09") for s in review.samples)
    export = tmp_path / "export.zip"
    with open(export, "wb") as handle:
        write_export(handle)
    published = tmp_path / "draw.json"
    published.write_text(json.dumps(parameters), encoding="utf-8")
    assert verifier([str(export), "--draw", str(published)]) == 0

    forged = dict(parameters, departments=[dict(parameters["departments"][0], positions=[0, 1, 2, 3])]
                  + parameters["departments"][1:])
    published.write_text(json.dumps(forged), encoding="utf-8")
    if forged["departments"][0]["positions"] != parameters["departments"][0]["positions"]:
        assert verifier([str(export), "--draw", str(published)]) == 1
    published.write_text(json.dumps(dict(parameters, seed="0" * 64)), encoding="utf-8")
    assert verifier([str(export), "--draw", str(published)]) == 1
    with zipfile.ZipFile(export) as archive:
        assert "access_log:imported" in archive.read("events.jsonl").decode()


def test_a_quarter_is_drawn_once_and_needs_its_logs(world, terminal):
    with pytest.raises(Invalid) as empty:
        services.open_review(world["auditor"], "2026Q3")
    assert empty.value.code == "no_logs_in_quarter"
    with pytest.raises(Invalid):
        services.open_review(world["auditor"], "2026-Q3")
    load(world, *_quarter_of_logs(world, count=2))
    with pytest.raises(Forbidden):
        services.open_review(world["admin"], "2026Q3")
    services.open_review(world["auditor"], "2026Q3")
    with pytest.raises(Conflict):
        services.open_review(world["auditor"], "2026Q3")


def test_a_department_with_a_finding_or_raised_by_an_auditor_gets_the_larger_sample(world, terminal):
    set_policy(world["admin"], "logreview.sample_size", 2)
    set_policy(world["admin"], "logreview.raised_sample_size", 5)
    load(world, *_quarter_of_logs(world))
    first = services.open_review(world["auditor"], "2026Q3")
    assert {s.department.code: (s.size, s.raised) for s in first.samples} == {"ryoken": (2, False), "zeimu": (2, False)}

    load(world, line("2026-11-03 10:00:00"), name="holiday.csv")  # a 祝日 access by 税務課
    hit = hits_of("off_hours")[0]
    services.decide_hit(world["auditor"], hit.id, "confirmed")
    services.raise_sampling(world["auditor"], "ryoken", "監査で端末管理の不備を指摘したため")
    with pytest.raises(Conflict):
        services.raise_sampling(world["auditor"], "ryoken", "重ねて")
    lines = [entry.replace("2026-07-", "2026-10-").replace("2026-08-", "2026-11-").replace("2026-09-", "2026-12-")
             for entry in _quarter_of_logs(world)]
    load(world, *lines, name="q4.csv")
    second = services.open_review(world["auditor"], "2026Q4")
    sizes = {s.department.code: (s.size, s.raised, s.raised_because) for s in second.samples}
    assert sizes["zeimu"][:2] == (5, True) and sizes["ryoken"] == (5, True, "監査担当による引上げ")
    assert sum(len(d["positions"]) for d in services.draw_parameters(second)["departments"]) == 10


# --- marks ----------------------------------------------------------------------------------------

def test_marks_queries_answers_and_findings(world, terminal):
    set_policy(world["admin"], "logreview.sample_size", 3)
    load(world, *_quarter_of_logs(world))
    review = services.open_review(world["auditor"], "2026Q3")
    zeimu = services.sample_for(review, "zeimu")
    first, second, _ = services.sample_rows(zeimu)
    assert first.operator_name == "登録 一郎（税務課）"
    services.mark_record(world["auditor"], first.id, "ok")
    with pytest.raises(Invalid) as refused:
        services.mark_record(world["auditor"], second.id, "query", "")
    assert set(refused.value.fields) == {"note"}
    with pytest.raises(Invalid) as bad:
        services.mark_record(world["auditor"], second.id, "maybe", "")
    assert "mark" in bad.value.fields
    with pytest.raises(Forbidden):
        services.mark_record(world["registrar"], second.id, "ok")
    services.mark_record(world["auditor"], second.id, "query", "照会件数が多い理由を確認してください")
    with pytest.raises(Forbidden):
        services.answer_query(world["security"], second.id, "市町課からの回答")  # not 税務課's manager
    services.answer_query(world["security2"], second.id, "課税資料の一括確認のため（決裁あり）")
    with pytest.raises(Conflict):
        services.answer_query(world["security2"], second.id, "重ねて")
    with pytest.raises(Conflict):
        services.mark_record(world["auditor"], second.id, "ok")  # answered: the mark stands
    escalated = services.escalate_query(world["auditor"], second.id, "決裁のない一括照会", "medium")
    assert escalated.finding_id is not None
    marked = {r.id: (r.mark, r.answer) for r in services.sample_rows(zeimu)}
    assert marked[first.id] == ("ok", None) and marked[second.id][0] == "query"


def test_a_look_back_after_a_confirmed_misuse_covers_every_record_of_the_operator(world, terminal):
    load(world, *_quarter_of_logs(world), line("2026-11-03 10:00:00"))
    hit = hits_of("off_hours")[0]
    with pytest.raises(Invalid):
        services.open_lookback(world["auditor"], {"hit": hit.id, "operator": "registrar",
                                                  "date_from": "2026-07-01", "date_to": "2026-09-30", "reason": "x"})
    services.decide_hit(world["auditor"], hit.id, "confirmed")
    with pytest.raises(Invalid) as refused:
        services.open_lookback(world["auditor"], {"hit": hit.id, "date_from": "2026-09-30", "date_to": "2026-07-01"})
    assert {"operator", "date_to", "reason"} <= set(refused.value.fields)
    review = services.open_lookback(world["auditor"], {
        "hit": hit.id, "operator": "registrar", "date_from": "2026-07-01", "date_to": "2026-09-30",
        "reason": "祝日の操作が確認されたため、前四半期を遡って確認する"})
    sample = review.samples[0]
    assert sample.population == 36 and db.session.scalar(
        select(func.count()).select_from(SampledRecord).where(SampledRecord.sample_id == sample.id)) == 36


# --- inbox tasks ----------------------------------------------------------------------------------

def test_inbox_tasks_for_the_auditor_and_the_department(world, terminal):
    from lifecycle.notifications.tasks import task_count, tasks_for

    set_policy(world["admin"], "logreview.sample_size", 2)
    load(world, *_quarter_of_logs(world))
    review = services.open_review(world["auditor"], "2026Q3")
    kinds = {t.kind: t for t in tasks_for(world["auditor"])}
    assert "log_hits_to_decide" in kinds and "log_records_to_mark" in kinds
    assert "抽出記録 4件が判定を待っています" in kinds["log_records_to_mark"].summary
    assert "log_query_to_answer" not in {t.kind for t in tasks_for(world["security2"])}
    first = services.sample_rows(services.sample_for(review, "zeimu"))[0]
    services.mark_record(world["auditor"], first.id, "query", "照会の理由を確認してください")
    waiting = [t for t in tasks_for(world["security2"]) if t.kind == "log_query_to_answer"]
    assert len(waiting) == 1 and waiting[0].url == f"/log-reviews/{review.id}/zeimu"
    assert task_count(world["security2"]) >= 1
    assert not [t for t in tasks_for(world["security"]) if t.kind == "log_query_to_answer"]  # 市町課's
    services.answer_query(world["security2"], first.id, "課税資料の確認のため")
    assert not [t for t in tasks_for(world["security2"]) if t.kind == "log_query_to_answer"]
