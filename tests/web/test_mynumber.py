"""個人番号 copies over HTTP (docs/api.md) and as pages, the purge runs page and `lifecycle purge`."""
import json
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from lifecycle.audit.models import AuditEvent
from lifecycle.audit.services import head
from lifecycle.clock import JST, utcnow
from lifecycle.extensions import db
from lifecycle.mynumber.models import MyNumberCopy, MyNumberDeletion
from lifecycle.scheduler_models import JobRun

NUMBER = "123456789018"
BODY = {"my_number": NUMBER, "provided_to": "〇〇市 市民課", "reason": "附票本人確認情報の再送に備えて"}


def copies() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(MyNumberCopy))


def create(api, **overrides):
    response = api("bulk").post("/api/v1/my-number-copies", json={**BODY, **overrides})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def make_due(copy_id: int) -> None:
    """Moves a copy's purge time into the past (its key bucket stays; only the schedule changes)."""
    with db.transaction() as session:
        copy = session.get(MyNumberCopy, copy_id)
        copy.purge_after = utcnow() - timedelta(hours=1)


# ---------------------------------------------------------------- API


def test_create_returns_masked_id_and_purge_time(api):
    before = datetime.now(JST)
    body = create(api)
    assert body["masked"] == "********9018" and isinstance(body["id"], int)
    assert NUMBER not in json.dumps(body)
    purge_after = datetime.fromisoformat(body["purge_after"])
    assert body["purge_after"].endswith("+09:00")
    assert timedelta(minutes=4319) < purge_after - before < timedelta(minutes=4321)
    got = api("auditor").get(f"/api/v1/my-number-copies/{body['id']}")
    assert got.status_code == 200 and got.get_json()["masked"] == "********9018"
    assert NUMBER not in got.get_data(as_text=True)
    listing = api("security").get("/api/v1/my-number-copies").get_json()
    assert listing["total"] == 1 and listing["copies"][0]["masked"] == "********9018"


@pytest.mark.parametrize("typed", ["１２３４５６７８９０１８", "1234-5678-9018", "1234 5678 9018"])
def test_create_normalises_input(api, typed):
    assert create(api, my_number=typed)["masked"] == "********9018"


@pytest.mark.parametrize("overrides,code", [
    ({"my_number": "123456789019"}, "invalid_my_number"),
    ({"my_number": "12345678901"}, "invalid_my_number"),
    ({"my_number": "1234567890185"}, "invalid_my_number"),
    ({"my_number": "12345678901a"}, "invalid_my_number"),
    ({"my_number": "abcdefghijkl"}, "invalid_my_number"),
    ({"my_number": ""}, "invalid_my_number"),
    ({"my_number": None}, "null_not_allowed"),
    ({"my_number": 123456789018}, "invalid_my_number"),
    ({"retain_minutes": 0}, "invalid_retain_minutes"),
    ({"retain_minutes": -1}, "invalid_retain_minutes"),
    ({"retain_minutes": 10081}, "invalid_retain_minutes"),
    ({"retain_minutes": "七十二時間"}, "invalid"),
    ({"provided_to": ""}, "invalid"),
    ({"reason": "1234-5678-9018 の再送"}, "my_number_in_text"),
])
def test_bad_input_is_422_in_japanese_and_changes_nothing(api, overrides, code):
    bulk = api("bulk")
    seq = head()[0]
    response = bulk.post("/api/v1/my-number-copies", json={**BODY, **overrides})
    body = response.get_json()
    assert response.status_code == 422 and body["error"]["code"] == code
    assert re.search(r"[ぁ-んァ-ン一-龥]", body["error"]["message"])
    assert NUMBER not in body["error"]["message"]
    assert copies() == 0 and head()[0] == seq


def test_missing_number_key_and_malformed_json(api, client):
    bulk = api("bulk")
    assert bulk.post("/api/v1/my-number-copies", json={"provided_to": "A", "reason": "r"}).status_code == 422
    malformed = client.post("/api/v1/my-number-copies", data="{", headers={**bulk.headers,
                                                                            "Content-Type": "application/json"})
    assert malformed.status_code == 400 and malformed.get_json()["error"]["code"] == "malformed_json"
    assert bulk.post("/api/v1/my-number-copies", json=["x"]).status_code == 400
    assert copies() == 0


@pytest.mark.parametrize("who", ["registrar", "registrar2", "security", "auditor", "admin"])
def test_only_bulk_operators_create(api, who):
    response = api(who).post("/api/v1/my-number-copies", json=BODY)
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"
    assert copies() == 0


@pytest.mark.parametrize("who", ["registrar", "registrar2"])
def test_registrars_cannot_read_copies(api, who):
    copy_id = create(api)["id"]
    assert api(who).get(f"/api/v1/my-number-copies/{copy_id}").status_code == 403
    assert api(who).get("/api/v1/my-number-copies").status_code == 403


@pytest.mark.parametrize("query", ["per_page=null", "per_page=0", "per_page=201", "page=0", "page=1_0",
                                   "page=%D9%A7"])
def test_listing_refuses_bad_paging_instead_of_guessing(api, query):
    """Found by fuzzing: `per_page=null` silently meant 50 and `per_page=999` meant 200."""
    create(api)
    response = api("auditor").get(f"/api/v1/my-number-copies?{query}")
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "invalid"


def test_listing_pages_and_takes_empty_paging_as_the_default(api):
    for _ in range(3):
        create(api)
    auditor = api("auditor")
    assert len(auditor.get("/api/v1/my-number-copies?page=&per_page=").get_json()["copies"]) == 3
    second = auditor.get("/api/v1/my-number-copies?page=2&per_page=2").get_json()
    assert second["total"] == 3 and len(second["copies"]) == 1


def test_unknown_copy_is_404(api):
    assert api("auditor").get("/api/v1/my-number-copies/999").status_code == 404
    assert api("auditor").get("/api/v1/my-number-copies/abc").status_code == 404


def test_reveal_by_a_security_manager_is_audited_without_the_number(api):
    copy_id = create(api)["id"]
    response = api("security").post(f"/api/v1/my-number-copies/{copy_id}/reveal",
                                    json={"reason": "受領できなかったため再送"})
    assert response.status_code == 200 and response.get_json() == {"my_number": NUMBER}
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.type == "mynumber:revealed"))
    assert (event.actor, event.subject) == ("security", f"mynumber:{copy_id}")
    assert "受領できなかったため再送" in event.data and NUMBER not in event.data and "9018" not in event.data


@pytest.mark.parametrize("who", ["bulk", "auditor", "admin", "registrar"])
def test_reveal_by_anyone_else_is_403_and_audited_as_denied(api, who):
    copy_id = create(api)["id"]
    response = api(who).post(f"/api/v1/my-number-copies/{copy_id}/reveal", json={"reason": "再送"})
    assert response.status_code == 403 and NUMBER not in response.get_data(as_text=True)
    denied = db.session.scalar(select(AuditEvent).where(AuditEvent.type == "access:denied")
                               .order_by(AuditEvent.seq.desc()))
    assert denied.actor == who
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.type == "mynumber:revealed")) == 0


@pytest.mark.parametrize("body,status", [({}, 422), ({"reason": ""}, 422), ({"reason": "  "}, 422),
                                         ({"reason": 3}, 422), (None, 400)])
def test_reveal_without_a_reason_is_refused(api, body, status):
    copy_id = create(api)["id"]
    response = api("security").post(f"/api/v1/my-number-copies/{copy_id}/reveal", json=body)
    assert response.status_code == status and "my_number" not in response.get_json()


def test_after_purge_get_and_reveal_are_410_with_the_purge_time(api, runner):
    copy_id = create(api)["id"]
    make_due(copy_id)
    assert runner.invoke(args=["purge"]).output == "purged 1\n"
    for response in (api("auditor").get(f"/api/v1/my-number-copies/{copy_id}"),
                     api("security").post(f"/api/v1/my-number-copies/{copy_id}/reveal", json={"reason": "再送"})):
        body = response.get_json()
        assert response.status_code == 410 and body["error"]["code"] == "purged"
        assert datetime.fromisoformat(body["purged_at"]).utcoffset() == timedelta(hours=9)
        assert "消去されています" in body["error"]["message"]


def test_early_purge_on_request(api):
    copy_id = create(api)["id"]
    assert api("registrar").post(f"/api/v1/my-number-copies/{copy_id}/purge", json={"reason": "x"}).status_code == 403
    assert api("auditor").post(f"/api/v1/my-number-copies/{copy_id}/purge", json={"reason": "x"}).status_code == 403
    assert api("bulk").post(f"/api/v1/my-number-copies/{copy_id}/purge", json={}).status_code == 422
    assert copies() == 1
    response = api("security").post(f"/api/v1/my-number-copies/{copy_id}/purge", json={"reason": "受領確認済み"})
    body = response.get_json()
    assert response.status_code == 200 and (body["id"], body["status"], body["rule"]) == (copy_id, "purged", "early")
    assert copies() == 0
    again = api("bulk").post(f"/api/v1/my-number-copies/{copy_id}/purge", json={"reason": "x"})
    assert again.status_code == 410 and again.get_json()["purged_at"] == body["purged_at"]
    deletion = db.session.get(MyNumberDeletion, copy_id)
    assert (deletion.purged_by, deletion.recorded_by, deletion.purge_reason) == ("security", "bulk", "受領確認済み")


def test_purge_health_api(api):
    assert api("bulk").get("/api/v1/my-number-copies/purge-health").status_code == 403
    body = api("admin").get("/api/v1/my-number-copies/purge-health").get_json()
    assert body["status"] == "never" and body["alert"] is False


# ---------------------------------------------------------------- CLI


def test_cli_purge_prints_the_count_and_records_a_run(api, runner):
    due, later = create(api)["id"], create(api, retain_minutes=60)["id"]
    make_due(due)
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0 and result.output == "purged 1\n"
    assert runner.invoke(args=["purge"]).output == "purged 0\n"
    past = (datetime.now(JST) - timedelta(days=1)).isoformat()
    assert runner.invoke(args=["purge", "--as-of", past]).output == "purged 0\n"
    future = (datetime.now(JST) + timedelta(minutes=61)).strftime("%Y-%m-%dT%H:%M")
    assert runner.invoke(args=["purge", "--as-of", future]).output == "purged 1\n"
    db.session.rollback()
    assert {d.copy_id: d.rule for d in db.session.scalars(select(MyNumberDeletion))} == {due: "manual", later: "manual"}
    runs = list(db.session.scalars(select(JobRun).where(JobRun.job == "mynumber_purge")))
    assert [r.processed for r in runs] == [1, 0, 0, 1] and {r.triggered_by for r in runs} == {"system:cli"}


@pytest.mark.parametrize("value", ["tomorrow", "2026-13-01", ""])
def test_cli_purge_refuses_a_bad_as_of(runner, value):
    result = runner.invoke(args=["purge", "--as-of", value])
    assert result.exit_code == 2 and "ISO 8601" in result.output


# ---------------------------------------------------------------- pages


def test_index_lists_masked_copies_and_offers_the_form_to_bulk_operators(api, client, login):
    copy_id = create(api)["id"]
    login("bulk")
    page = client.get("/my-number-copies").get_data(as_text=True)
    assert "********9018" in page and NUMBER not in page and f"第{copy_id}号" in page
    assert "暗号化して保存" in page and "令和" in page
    assert "あと3日" in page or "あと2日23時間" in page
    login("auditor")
    page = client.get("/my-number-copies").get_data(as_text=True)
    assert "********9018" in page and "暗号化して保存" not in page


def test_index_is_forbidden_to_registrars(client, login):
    login("registrar")
    assert client.get("/my-number-copies").status_code == 403


def test_record_through_the_form(client, login):
    login("bulk")
    response = client.post("/my-number-copies", data={"my_number": "１２３４－５６７８－９０１８",
                                                      "provided_to": "△△町", "reason": "再送に備えて",
                                                      "retain_amount": "36", "retain_unit": "hours"})
    assert response.status_code == 302 and "/my-number-copies/" in response.headers["Location"]
    assert NUMBER not in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "********9018" in page and "暗号化して一時保存しました" in page and NUMBER not in page
    assert "1日と12時間" in page and "2160分" not in page  # entered and shown in 時間・日, not minutes


@pytest.mark.parametrize("data,message", [
    ({"my_number": "123456789019"}, "検査用数字"),
    ({"my_number": "12345"}, "12桁"),
    ({"retain_amount": "8", "retain_unit": "days"}, "上限の7日以内"),
    ({"retain_amount": "0", "retain_unit": "hours"}, "保存期間は1から"),
    ({"retain_amount": "3", "retain_unit": "minutes"}, "「時間」か「日」"),
    ({"provided_to": ""}, "提供先を入力してください"),
])
def test_form_refusals_re_render_without_echoing_the_number(client, login, data, message):
    login("bulk")
    form = {"my_number": NUMBER, "provided_to": "△△町", "reason": "再送", "retain_amount": "", **data}
    response = client.post("/my-number-copies", data=form)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and message in page
    assert form["my_number"] not in page
    assert copies() == 0


def test_every_refusal_of_the_copy_form_at_once(client, login):
    login("bulk")
    response = client.post("/my-number-copies", data={
        "my_number": "12345", "provided_to": "", "reason": "再送", "retain_amount": "30", "retain_unit": "days"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    for message in ("12桁で入力", "提供先を入力してください", "上限の7日以内"):
        assert message in page
    assert 'value="30"' in page and copies() == 0  # the period as typed; the number never


def test_reveal_page_shows_the_number_once(api, client, login):
    copy_id = create(api)["id"]
    login("security")
    page = client.get(f"/my-number-copies/{copy_id}").get_data(as_text=True)
    assert "理由を記録して表示" in page and NUMBER not in page and "1234 5678 9018" not in page
    refused = client.post(f"/my-number-copies/{copy_id}/reveal", data={"reason": ""})
    assert refused.status_code == 422 and "表示の理由を入力してください" in refused.get_data(as_text=True)
    assert "1234 5678 9018" not in refused.get_data(as_text=True)
    shown = client.post(f"/my-number-copies/{copy_id}/reveal", data={"reason": "再送のため"})
    assert shown.status_code == 200 and "1234 5678 9018" in shown.get_data(as_text=True)
    assert shown.headers["Cache-Control"] == "no-store"
    assert "1234 5678 9018" not in client.get(f"/my-number-copies/{copy_id}").get_data(as_text=True)


def test_reveal_and_purge_forms_follow_the_roles(api, client, login):
    copy_id = create(api)["id"]
    login("bulk")
    page = client.get(f"/my-number-copies/{copy_id}").get_data(as_text=True)
    assert "理由を記録して表示" not in page and "今すぐ消去" in page
    assert client.post(f"/my-number-copies/{copy_id}/reveal", data={"reason": "x"}).status_code == 403
    login("auditor")
    page = client.get(f"/my-number-copies/{copy_id}").get_data(as_text=True)
    assert "理由を記録して表示" not in page and "今すぐ消去" not in page
    assert client.post(f"/my-number-copies/{copy_id}/purge", data={"reason": "x"}).status_code == 403
    assert copies() == 1


def test_early_purge_through_the_page_and_the_purged_page(api, client, login):
    copy_id = create(api)["id"]
    login("bulk")
    refused = client.post(f"/my-number-copies/{copy_id}/purge", data={"reason": ""})
    assert refused.status_code == 422 and copies() == 1
    done = client.post(f"/my-number-copies/{copy_id}/purge", data={"reason": "受領確認済み"})
    assert done.status_code == 302
    assert "消去しました" in client.get(done.headers["Location"]).get_data(as_text=True)
    gone = client.get(f"/my-number-copies/{copy_id}")
    page = gone.get_data(as_text=True)
    assert gone.status_code == 410 and "消去済" in page and "早期消去（依頼）" in page and "受領確認済み" in page
    login("security")
    again = client.post(f"/my-number-copies/{copy_id}/reveal", data={"reason": "再送"})
    assert again.status_code == 410


def test_purge_runs_page_for_admins_and_auditors(client, login, runner):
    runner.invoke(args=["purge"])
    login("admin")
    page = client.get("/admin/purge-runs").get_data(as_text=True)
    assert "自動消去の実行状況" in page and "コマンド（lifecycle purge）" in page and "次回の実行予定" in page
    assert client.post("/admin/purge-runs/run").status_code == 302
    assert "自動消去を実行しました" in client.get("/admin/purge-runs").get_data(as_text=True)
    login("auditor")
    page = client.get("/admin/purge-runs").get_data(as_text=True)
    assert "自動消去の実行状況" in page and "今すぐ実行" not in page
    assert client.post("/admin/purge-runs/run").status_code == 403
    login("bulk")
    assert client.get("/admin/purge-runs").status_code == 403


def test_dashboard_alerts_admins_to_a_failed_purge(client, login, world):
    login("admin")
    assert "自動消去の警告" not in client.get("/").get_data(as_text=True)
    with db.transaction() as session:
        now = utcnow()
        session.add(JobRun(job="mynumber_purge", started_at=now, finished_at=now, status="failed",
                           processed=0, triggered_by="system:scheduler",
                           message="OperationalError: 実行中にエラーが発生しました。"))
    page = client.get("/").get_data(as_text=True)
    assert "自動消去の警告" in page and "失敗" in page and "/admin/purge-runs" in page
    login("bulk")
    page = client.get("/").get_data(as_text=True)
    assert "自動消去の警告" not in page and "個人番号の一時保存" in page


def test_dashboard_alerts_when_the_purge_has_not_run_for_two_intervals(client, login, world):
    with db.transaction() as session:
        at = utcnow() - timedelta(seconds=2 * 300 + 60)
        session.add(JobRun(job="mynumber_purge", started_at=at, finished_at=at, status="ok",
                           processed=0, triggered_by="system:scheduler"))
    login("admin")
    assert "実行されていません" in client.get("/").get_data(as_text=True)


def test_navigation_shows_the_entry_to_the_right_roles(client, login):
    login("bulk")
    assert "個人番号の一時保存" in client.get("/").get_data(as_text=True)
    login("registrar")
    assert 'href="/my-number-copies"' not in client.get("/").get_data(as_text=True)
