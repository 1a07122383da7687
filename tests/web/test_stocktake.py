"""The 棚卸 over the JSON API and the pages: every outcome, the pasted list, closing, found-again,
write-off by another security manager only, the report PDF read back and its CSV."""
import io
from datetime import timedelta

import pytest
from pypdf import PdfReader

from lifecycle import crypto
from lifecycle.clock import today_jst
from lifecycle.items.schemas import qr_url
from lifecycle.items.services import get_item
from tests import factories
from tests.signatures import check

SHELF = "税務課 書庫A-3"


def _plan(api, **overrides):
    body = {"department": "zeimu", "kinds": ["form", "medium"], "location": SHELF,
            "due": (today_jst() + timedelta(days=10)).isoformat(), "scanners": ["registrar"]}
    body.update(overrides)
    response = api("security2").post("/api/v1/stocktakes", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def shelf(world):
    reg = world["registrar"]
    return {"here": [factories.form(reg).code for _ in range(3)],
            "other_place": factories.form(reg, location="税務課 倉庫").code,
            "elsewhere": factories.form(world["registrar2"], location="旅券センター").code,
            "my_number": factories.form(reg, contains_my_number=True).code}


def test_plan_answers_the_expected_count(api, shelf):
    body = _plan(api)
    assert body["status"] == "open" and body["counts"]["expected"] == 4
    assert body["scanners"][0]["name"] == "登録 一郎" and body["scanners"][0]["department_name"] == "税務課"


def test_plan_refuses_every_field_at_once(api, world):
    response = api("security2").post("/api/v1/stocktakes", json={"department": "zeimu", "kinds": ["usb"],
                                                                  "due": "2020-01-01", "location": "番号 123456789018"})
    assert response.status_code == 422
    fields = response.get_json()["error"]["fields"]
    assert set(fields) == {"kinds", "due", "location"}


def test_registrar_cannot_plan(api, world):
    response = api("registrar").post("/api/v1/stocktakes", json={"department": "zeimu", "kinds": ["form"],
                                                                  "due": today_jst().isoformat()})
    assert response.status_code == 403


def test_scans_over_the_api(api, shelf):
    stocktake = _plan(api)
    scan = lambda text: api("registrar").post(f"/api/v1/stocktakes/{stocktake['id']}/scans", json={"scan": text})
    first = scan(qr_url(shelf["here"][0])).get_json()
    assert first["outcome"] == "confirmed" and first["counts"] == {"expected": 4, "confirmed": 1, "remaining": 3}
    assert scan(shelf["here"][0]).get_json()["outcome"] == "duplicate"
    assert scan(shelf["other_place"]).get_json()["outcome"] == "wrong_location"
    other = scan(shelf["elsewhere"]).get_json()
    assert other["outcome"] == "out_of_scope" and other["code"] is None
    assert get_item(shelf["elsewhere"]).title not in str(other)
    assert scan("F-2026-888888").get_json()["outcome"] == "unknown"
    assert scan(qr_url(shelf["here"][1])[:-2] + "zz").get_json()["outcome"] == "forged"
    bad = api("registrar").post(f"/api/v1/stocktakes/{stocktake['id']}/scans", json={"scan": ""})
    assert bad.status_code == 422


def test_pasted_list_over_the_api(api, shelf):
    stocktake = _plan(api)
    response = api("registrar").post(f"/api/v1/stocktakes/{stocktake['id']}/scans", json={
        "scans": [shelf["here"][0], shelf["here"][0], "NOPE-1", "NOPE-1", qr_url(shelf["here"][1])]})
    body = response.get_json()
    assert [r["outcome"] for r in body["results"]] == ["confirmed", "duplicate", "unknown", "duplicate", "confirmed"]
    assert body["counts"]["confirmed"] == 2


def test_close_found_and_write_off_over_the_api(api, shelf):
    stocktake = _plan(api)
    sid = stocktake["id"]
    api("registrar").post(f"/api/v1/stocktakes/{sid}/scans", json={"scan": shelf["here"][0]})
    closed = api("security2").post(f"/api/v1/stocktakes/{sid}/close").get_json()
    assert closed["status"] == "closed"
    assert sorted(closed["missing"]) == sorted(shelf["here"][1:] + [shelf["my_number"]])
    assert closed["head"]["seq"] > 0
    found = api("registrar").post(f"/api/v1/items/{shelf['here'][1]}/found", json={"reason": "別の棚で発見"})
    assert found.status_code == 200 and found.get_json()["status"] == "registered"
    same = api("security2").post(f"/api/v1/items/{shelf['my_number']}/write-off", json={"reason": "捜索済み"})
    assert same.status_code == 403 and same.get_json()["error"]["code"] == "separation_of_duties"
    other = api("security").post(f"/api/v1/items/{shelf['my_number']}/write-off", json={"reason": "捜索済み"})
    assert other.status_code == 200 and other.get_json()["status"] == "written_off"
    signed = api("security2").post(f"/api/v1/stocktakes/{sid}/sign", json={"comment": "確認済み"})
    assert signed.get_json()["status"] == "signed"
    again = api("security2").post(f"/api/v1/stocktakes/{sid}/close")
    assert again.status_code == 409


def test_auditor_reads_but_does_not_scan(api, shelf):
    stocktake = _plan(api)
    assert api("auditor").get(f"/api/v1/stocktakes/{stocktake['id']}").status_code == 200
    response = api("auditor").post(f"/api/v1/stocktakes/{stocktake['id']}/scans", json={"scan": shelf["here"][0]})
    assert response.status_code == 403
    assert api("registrar2").get(f"/api/v1/stocktakes/{stocktake['id']}").status_code == 403


def test_pages_scan_paste_close_and_follow_up(client, login, api, shelf):
    stocktake = _plan(api)
    sid = stocktake["id"]
    login("registrar")
    page = client.get(f"/stocktakes/{sid}").get_data(as_text=True)
    assert "stocktake-scan-input" in page and "stocktake.js" in page
    response = client.post(f"/stocktakes/{sid}/scan", data={"scan": shelf["here"][0]},
                           headers={"Accept": "application/json"})
    assert response.get_json()["outcome"] == "confirmed" and response.get_json()["outcome_label"] == "確認"
    pasted = client.post(f"/stocktakes/{sid}/paste", data={
        "codes": "", "file": (io.BytesIO(f"{shelf['here'][1]}\r\n{shelf['here'][1]}\r\nZZZ-1\r\n".encode("cp932")),
                              "scanner.txt")}, content_type="multipart/form-data")
    text = pasted.get_data(as_text=True)
    assert pasted.status_code == 200 and "読取り済み（重複）" in text and "台帳にない" in text
    client.post(f"/stocktakes/{sid}/scan", data={"scan": shelf["other_place"]}, headers={"Accept": "application/json"})
    corrected = client.post(f"/stocktakes/{sid}/correct", data={"code": shelf["other_place"]}, follow_redirects=True)
    assert "保管場所を「税務課 書庫A-3」に訂正しました" in corrected.get_data(as_text=True)
    client.post("/logout")
    login("security2")
    closed = client.post(f"/stocktakes/{sid}/close", follow_redirects=True).get_data(as_text=True)
    assert "所在不明: 2件" in closed
    refused = client.post(f"/stocktakes/items/{shelf['here'][2]}/write-off",
                          data={"reason": "なし", "back": f"/stocktakes/{sid}"}, follow_redirects=True)
    assert "棚卸を締めた人は" in refused.get_data(as_text=True)
    assert get_item(shelf["here"][2]).status == "missing"
    home = client.get("/").get_data(as_text=True)
    assert "所在不明のもの" in home and shelf["here"][2] in home


def test_plan_form_keeps_values_and_shows_each_error(client, login, world):
    login("security2")
    response = client.post("/stocktakes", data={"department": "zeimu", "location": "書庫 123456789018", "due": ""})
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="kinds-error"' in text and 'id="due-error"' in text and 'id="location-error"' in text


def test_report_pdf_is_signed_and_reads_back(app, client, login, api, shelf, tmp_path):
    stocktake = _plan(api)
    sid = stocktake["id"]
    api("registrar").post(f"/api/v1/stocktakes/{sid}/scans", json={"scans": [shelf["here"][0], shelf["other_place"],
                                                                             "UNKNOWN-7"]})
    api("security2").post(f"/api/v1/stocktakes/{sid}/close")
    api("security").post(f"/api/v1/items/{shelf['my_number']}/write-off", json={"reason": "捜索したが見つからない"})
    login("auditor")
    response = client.get(f"/reports/stocktake/{sid}.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)
    compact = text.replace(" ", "").replace("\n", "")
    assert "棚卸結果報告書" in compact and "税務課" in compact and "令和" in compact
    assert shelf["here"][1] in compact and "所在不明" in compact and "場所違い" in compact
    assert "亡失処理" in compact and "漏えいのおそれ" in compact and "UNKNOWN-7" in compact
    assert "登録一郎（税務課）" in compact and "締めた時点の監査ログ" in compact
    verdict = check(response.data, crypto.signing_ca_pem(app.instance_path), tmp_path / "stocktake")
    assert verdict.pdfsig_valid and verdict.pyhanko_valid
    csv = client.get(f"/reports/stocktake/{sid}.csv")
    body = csv.data.decode("utf-8-sig")
    assert csv.status_code == 200 and "所在不明" in body and "UNKNOWN-7" in body


def test_exceptions_statistics_and_inbox(client, login, api, shelf):
    from lifecycle.notifications.tasks import tasks_for
    from lifecycle.auth.services import get_user
    from lifecycle.reports.queries import compute_findings
    from lifecycle.documents.render import ExceptionCategory
    from lifecycle.fiscal import fiscal_year_of
    from lifecycle.reports.statistics import compute_statistics

    stocktake = _plan(api)
    inbox = [t for t in tasks_for(get_user("registrar")) if t.kind == "stocktake_due"]
    assert inbox and f"棚卸 第{stocktake['id']}号" in inbox[0].summary
    api("security2").post(f"/api/v1/stocktakes/{stocktake['id']}/close")
    api("security").post(f"/api/v1/items/{shelf['here'][0]}/write-off", json={"reason": "捜索済み"})
    assert not [t for t in tasks_for(get_user("registrar")) if t.kind == "stocktake_due"]
    findings = compute_findings(today_jst())
    zeimu = next(d for d in findings.departments if d.code == "zeimu")
    assert zeimu.count(ExceptionCategory.STOCKTAKE_MISSING) == 3  # 4 missing, 1 written off
    stats = compute_statistics(fiscal_year_of(today_jst()))
    assert (stats.total("stocktake_closed"), stats.total("stocktake_missing"),
            stats.total("stocktake_written_off")) == (1, 4, 1)
    login("auditor")
    page = client.get("/reports/exceptions").get_data(as_text=True)
    assert "所在不明の帳票・媒体・機器" in page and shelf["here"][1] in page


@pytest.fixture
def left_behind(world):
    """A form on the shelf whose registrar, 退職 三郎 of 税務課, has since left (利用停止)."""
    from lifecycle.auth.services import create_user, set_active

    person = create_user(world["admin"], "taishoku", "退職 三郎", "zeimu", roles=["registrar"], trained_on=today_jst())
    code = factories.form(person, location=SHELF).code
    set_active(world["admin"], "taishoku", False)
    return code


def test_holder_mismatch_over_the_api(api, shelf, left_behind):
    sid = _plan(api)["id"]
    body = api("registrar").post(f"/api/v1/stocktakes/{sid}/scans", json={"scan": qr_url(left_behind)}).get_json()
    assert body["outcome"] == "wrong_location" and body["outcome_label"] == "場所違い"
    assert body["holder"] == {"name": "退職 三郎（税務課）", "problem": "left", "problem_label": "退職・利用停止"}
    assert "taishoku" not in str(body)
    plain = api("registrar").post(f"/api/v1/stocktakes/{sid}/scans", json={"scan": shelf["here"][0]}).get_json()
    assert plain["outcome"] == "confirmed" and "holder" not in plain
    refused = api("security").post(f"/api/v1/stocktakes/{sid}/holder-corrections", json={"code": left_behind})
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "cannot_hold_here"
    taken = api("registrar").post(f"/api/v1/stocktakes/{sid}/holder-corrections", json={"code": left_behind})
    assert taken.status_code == 200 and taken.get_json()["holder"]["login"] == "registrar"
    again = api("registrar").post(f"/api/v1/stocktakes/{sid}/holder-corrections", json={"code": left_behind})
    assert again.status_code == 409
    none = api("registrar").post(f"/api/v1/stocktakes/{sid}/holder-corrections", json={"code": shelf["here"][0]})
    assert none.status_code == 409 and none.get_json()["error"]["code"] == "not_holder_mismatch"


def test_holder_mismatch_on_the_page_and_in_the_report(client, login, api, shelf, left_behind):
    sid = _plan(api)["id"]
    login("registrar")
    client.post(f"/stocktakes/{sid}/scan", data={"scan": left_behind}, headers={"Accept": "application/json"})
    page = client.get(f"/stocktakes/{sid}").get_data(as_text=True)
    assert "台帳の保管者: 退職 三郎（税務課）— 退職・利用停止" in page and "taishoku" not in page
    assert "自分が保管者として引き受ける" in page
    done = client.post(f"/stocktakes/{sid}/correct-holder", data={"code": left_behind}, follow_redirects=True)
    text = done.get_data(as_text=True)
    assert f"{left_behind} の保管者を自分（登録 一郎）に訂正しました。" in text
    assert "保管者を登録 一郎（税務課）に訂正済み" in text
    client.post("/logout")
    login("auditor")
    pdf = client.get(f"/reports/stocktake/{sid}.pdf")
    compact = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages).replace(" ", "").replace("\n", "")
    assert "台帳の保管者:退職三郎（税務課）、退職・利用停止。保管者を登録一郎（税務課）に訂正済み" in compact
    log = client.get(f"/audit/?subject={left_behind}").get_data(as_text=True)
    assert "棚卸による保管者の訂正" in log and "変更前の保管者" in log and "退職 三郎（税務課）" in log
    assert "台帳の保管者の状況" in log and "退職・利用停止" in log


def test_cancel_over_the_api(api, shelf):
    sid = _plan(api)["id"]
    api("registrar").post(f"/api/v1/stocktakes/{sid}/scans", json={"scans": [shelf["here"][0], "ZZZ-9"]})
    empty = api("security2").post(f"/api/v1/stocktakes/{sid}/cancel", json={"reason": ""})
    assert empty.status_code == 422 and set(empty.get_json()["error"]["fields"]) == {"reason"}
    assert api("registrar").post(f"/api/v1/stocktakes/{sid}/cancel", json={"reason": "中止"}).status_code == 403
    assert api("auditor").post(f"/api/v1/stocktakes/{sid}/cancel", json={"reason": "中止"}).status_code == 403
    body = api("security2").post(f"/api/v1/stocktakes/{sid}/cancel", json={"reason": "書庫の改修で延期"}).get_json()
    assert body["status"] == "cancelled" and body["status_label"] == "中止"
    assert body["cancel_reason"] == "書庫の改修で延期" and body["cancelled_by"]["name"] == "保護 守"
    assert body["counts"]["confirmed"] == 1 and body["counts"]["unknown"] == 1 and body["missing"] == []
    assert get_item(shelf["here"][1]).status == "registered"
    scan = api("registrar").post(f"/api/v1/stocktakes/{sid}/scans", json={"scan": shelf["here"][1]})
    assert scan.status_code == 409 and "中止" in scan.get_json()["error"]["message"]
    assert api("security2").post(f"/api/v1/stocktakes/{sid}/close").status_code == 409
    assert api("security2").post(f"/api/v1/stocktakes/{sid}/sign", json={}).status_code == 409
    seen = api("auditor").get(f"/api/v1/stocktakes/{sid}").get_json()
    assert seen["status"] == "cancelled" and seen["cancelled_at"].endswith("+09:00")


def test_cancel_on_the_page_list_and_report(client, login, api, shelf):
    sid = _plan(api)["id"]
    api("registrar").post(f"/api/v1/stocktakes/{sid}/scans", json={"scan": shelf["here"][0]})
    login("security2")
    page = client.get(f"/stocktakes/{sid}").get_data(as_text=True)
    assert 'id="stocktake-cancel"' in page and "中止の理由（必須）" in page
    refused = client.post(f"/stocktakes/{sid}/cancel", data={"reason": ""}, follow_redirects=True)
    assert "中止の理由を入力してください" in refused.get_data(as_text=True)
    done = client.post(f"/stocktakes/{sid}/cancel", data={"reason": "書庫の改修で延期"}, follow_redirects=True)
    text = done.get_data(as_text=True)
    assert "棚卸を中止しました。読み取った記録は残っています。" in text
    assert "理由: 書庫の改修で延期" in text and 'id="stocktake-close"' not in text and 'id="stocktake-scan"' not in text
    client.post("/logout")
    login("auditor")
    listing = client.get("/stocktakes").get_data(as_text=True)
    row = listing.split(f"第{sid}号", 1)[1].split("</tr>", 1)[0]
    assert "<td>中止</td>" in row
    pdf = client.get(f"/reports/stocktake/{sid}.pdf")
    compact = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages).replace(" ", "").replace("\n", "")
    assert "中止" in compact and "理由:書庫の改修で延期" in compact and "読取りなし（棚卸は中止）" in compact
    assert "保護守（税務課）" in compact


def test_a_cancelled_stocktake_leaves_the_inbox_and_does_not_count_as_done(api, shelf):
    from lifecycle.auth.services import get_user
    from lifecycle.notifications.tasks import tasks_for
    from lifecycle.stocktake.services import departments_due, fiscal_year_end

    sid = _plan(api)["id"]
    assert [t for t in tasks_for(get_user("registrar")) if t.kind == "stocktake_due"]
    api("security2").post(f"/api/v1/stocktakes/{sid}/cancel", json={"reason": "書庫の改修で延期"})
    assert not [t for t in tasks_for(get_user("registrar")) if f"第{sid}号" in t.summary]
    year_end = fiscal_year_end(today_jst())  # a department with no stocktake closed is due by then
    zeimu = [d for d in departments_due(year_end) if d.department.code == "zeimu"]
    assert zeimu and zeimu[0].last_closed is None and sid not in zeimu[0].open_ids
