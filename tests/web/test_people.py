"""People over HTTP: the API of docs/api.md (training, leave, 異動, hand-off, grant requests, the
rights review, 所在確認待ち) and the admin's pages, with refusals told in Japanese."""
from __future__ import annotations

from datetime import timedelta

from lifecycle.auth.services import get_user
from lifecycle.clock import today_jst
from lifecycle.extensions import db
from lifecycle.items.services import get_item
from tests import factories

TODAY = lambda: today_jst().isoformat()  # noqa: E731


def test_training_over_the_api_turns_roles_on_and_off(api, world):
    admin = api("admin")
    response = admin.post("/api/v1/users/registrar/training",
                          json={"completed_on": (today_jst() - timedelta(days=800)).isoformat(), "course": "旧研修"})
    assert response.status_code == 201
    # the demo's own, newer record still counts
    assert response.get_json()["effective_roles"] == ["registrar"]
    from lifecycle.auth import services as auth
    from tests.web.test_request_path import ADMIN
    auth.record_training(ADMIN, "registrar", None)
    db.session.remove()
    body = admin.get("/api/v1/users/registrar").get_json()
    assert body["effective_roles"] == [] and body["roles"] == ["registrar"]
    assert api("registrar").get("/api/v1/items?kind=form").get_json()["total"] == 0
    response = admin.post("/api/v1/users/registrar/training", json={"completed_on": TODAY()})
    assert response.status_code == 201 and response.get_json()["effective_roles"] == ["registrar"]
    assert response.get_json()["training"][0]["course"] == "住基ネット セキュリティ研修"


def test_training_refusals_name_every_field(api, world):
    response = api("admin").post("/api/v1/users/registrar/training",
                                 json={"completed_on": "2099-01-01", "course": "x" * 201})
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"completed_on", "course"}
    assert api("security").post("/api/v1/users/registrar/training",
                                json={"completed_on": TODAY()}).status_code == 403


def test_leave_with_items_is_409_then_the_bulk_hand_off_then_leave(api, world):
    item = factories.form(world["registrar"])
    admin = api("admin")
    refused = admin.post("/api/v1/users/registrar/leave", json={"effective_on": TODAY(), "reason": "退職"})
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "holds_items" and refused.get_json()["items"] == [item.code]
    handed = admin.post("/api/v1/users/registrar/hand-off", json={"to": "security2"})
    assert handed.status_code == 201
    transfer = handed.get_json()["transfers"][0]
    assert transfer["giver"]["login"] == "registrar" and transfer["receiver"]["name"] == "保護 守"
    assert api("security2").post(f"/api/v1/transfers/{transfer['id']}/accept", json={}).status_code == 200
    left = admin.post("/api/v1/users/registrar/leave", json={"effective_on": TODAY(), "reason": "退職"})
    assert left.status_code == 200 and left.get_json()["active"] is False and left.get_json()["roles"] == []


def test_forced_leave_puts_items_in_custody_unconfirmed_until_confirmed(api, world):
    item = factories.form(world["registrar"])
    admin = api("admin")
    no_reason = admin.post("/api/v1/users/registrar/leave", json={"effective_on": TODAY(), "force": True})
    assert no_reason.status_code == 422 and "reason" in no_reason.get_json()["error"]["fields"]
    forced = admin.post("/api/v1/users/registrar/leave",
                        json={"effective_on": TODAY(), "reason": "連絡が取れないため", "force": True})
    assert forced.status_code == 200
    assert get_item(item.code).status == "custody_unconfirmed"
    assert api("registrar2").post(f"/api/v1/items/{item.code}/confirm-custody").status_code == 403
    confirmed = api("security2").post(f"/api/v1/items/{item.code}/confirm-custody", json={"location": "金庫"})
    assert confirmed.status_code == 200 and confirmed.get_json()["status"] == "in_custody"


def test_department_change_over_the_api(api, world):
    response = api("admin").post("/api/v1/users/auditor/department",
                                 json={"department": "zeimu", "effective_on": TODAY()})
    assert response.status_code == 200 and response.get_json()["department_name"] == "税務課"
    unknown = api("admin").post("/api/v1/users/auditor/department",
                                json={"department": "nowhere", "effective_on": "2026-13-01"})
    assert unknown.status_code == 422
    assert set(unknown.get_json()["error"]["fields"]) == {"department", "effective_on"}


def test_bulk_operator_needs_a_second_admin_over_the_api(api, world):
    from lifecycle.auth.services import create_user
    from tests.web.test_request_path import ADMIN
    create_user(ADMIN, "newbulk", "新任 一括", "shicho", roles=["registrar"], trained_on=today_jst())
    asked = api("admin").post("/api/v1/users/newbulk/grant-requests", json={"role": "bulk_operator"})
    assert asked.status_code == 201 and asked.get_json()["status"] == "pending"
    request_id = asked.get_json()["id"]
    same = api("admin").post(f"/api/v1/grant-requests/{request_id}/approve")
    assert same.status_code == 403 and same.get_json()["error"]["code"] == "separation_of_duties"
    approved = api("admin2").post(f"/api/v1/grant-requests/{request_id}/approve")
    assert approved.status_code == 200 and approved.get_json()["decided_by"] == "admin2"
    db.session.remove()
    assert "bulk_operator" in {r.value for r in get_user("newbulk").effective_roles}


def test_rights_review_decision_over_the_api(api, world):
    response = api("security2").post("/api/v1/rights-review/decisions",
                                     json={"login": "registrar", "role": "registrar", "decision": "confirmed"})
    assert response.status_code == 201 and response.get_json()["department"] == "zeimu"
    again = api("security2").post("/api/v1/rights-review/decisions",
                                  json={"login": "registrar", "role": "registrar", "decision": "confirmed"})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_reviewed"


# --- pages -----------------------------------------------------------------------------------------

def test_the_person_page_lists_what_blocks_a_leave_and_keeps_a_refused_form(client, login, world):
    item = factories.form(world["registrar"])
    login("admin")
    page = client.get("/people/users/registrar").get_data(as_text=True)
    assert item.code in page and "まとめて引き継ぐ" in page and "保護 守（税務課）" in page
    response = client.post("/people/users/registrar/leave", data={"effective_on": "令和8年", "reason": "",
                                                                  "force": "y"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "発令日は YYYY-MM-DD" in page and "理由を入力してください" in page and 'value="令和8年"' in page
    assert get_user("registrar").active


def test_the_hand_off_and_the_leave_through_the_pages(client, login, world):
    item = factories.form(world["registrar"])
    login("admin")
    response = client.post("/people/users/registrar/hand-off", data={"to": "security2", "note": ""},
                           follow_redirects=True)
    assert "1件を引き継ぎました" in response.get_data(as_text=True)
    refused = client.post("/people/users/registrar/leave", data={"effective_on": TODAY(), "reason": ""})
    assert refused.status_code == 409 and item.code in refused.get_data(as_text=True)
    forced = client.post("/people/users/registrar/leave",
                         data={"effective_on": TODAY(), "reason": "長期不在", "force": "y"}, follow_redirects=True)
    assert "退職・担当替えを記録しました" in forced.get_data(as_text=True)
    db.session.remove()
    assert not get_user("registrar").active
    # the hand-off was withdrawn, and the item is now the security manager's to confirm
    assert get_item(item.code).status == "custody_unconfirmed"
    client.post("/logout")
    login("security2")
    page = client.get("/people/unconfirmed").get_data(as_text=True)
    assert item.code in page and "所在を確認して保管" in page
    done = client.post(f"/people/unconfirmed/{item.code}/confirm", data={"location": "税務課 金庫", "note": ""},
                       follow_redirects=True)
    assert "保管を引き受けました" in done.get_data(as_text=True)


def test_the_grant_request_page_lets_only_another_admin_approve(client, login, world):
    login("admin")
    from lifecycle.auth.services import create_user
    from tests.web.test_request_path import ADMIN
    create_user(ADMIN, "newbulk", "新任 一括", "shicho", roles=["registrar"], trained_on=today_jst())
    response = client.post("/admin/users/newbulk/roles", data={"role": "bulk_operator"}, follow_redirects=True)
    assert "別のシステム管理者が承認すると有効になります" in response.get_data(as_text=True)
    page = client.get("/people/grant-requests").get_data(as_text=True)
    assert "新任 一括（市町課）" in page and ">承認<" not in page and "取下げ" in page
    client.post("/logout")
    login("admin2")
    page = client.get("/people/grant-requests").get_data(as_text=True)
    assert ">承認<" in page


def test_the_rights_review_page(client, login, world):
    login("security2")
    page = client.get("/people/rights-review").get_data(as_text=True)
    assert "税務課" in page and "登録 一郎（税務課）" in page and "未確認" in page
    response = client.post("/people/rights-review/zeimu/registrar/registrar/revoked", data={"reason": ""},
                           follow_redirects=True)
    assert "理由を入力してください" in response.get_data(as_text=True)
    response = client.post("/people/rights-review/zeimu/registrar/registrar/confirmed", data={},
                           follow_redirects=True)
    assert "継続を確認しました" in response.get_data(as_text=True)
    client.post("/logout")
    login("admin")
    page = client.get("/people/rights-review").get_data(as_text=True)
    assert "所属ごとの進み具合" in page


# --- 研修受講状況 ------------------------------------------------------------------------------------

def _pdf_text(data: bytes) -> str:
    import io

    from pypdf import PdfReader
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def _lapse(login_name: str) -> None:
    from lifecycle.auth import services as auth
    from tests.web.test_request_path import ADMIN
    auth.record_training(ADMIN, login_name, None)
    auth.record_training(ADMIN, login_name, today_jst() - timedelta(days=800), "前々年度の研修")
    db.session.remove()


def test_the_training_report_page_csv_and_pdf(client, login, world):
    import csv
    import io

    from lifecycle.clock import fiscal_year
    from lifecycle.wareki import wareki_date
    _lapse("registrar2")
    login("auditor")
    page = client.get("/reports/training").get_data(as_text=True)
    assert "旅券 二郎（旅券センター）" in page and "期限切れ（権限は無効）" in page and "未受講" in page

    response = client.get("/reports/training.csv")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0] == ["所属", "氏名", "権限", "今年度の受講日", "研修の名称", "有効期限", "状況"]
    by_name = {row[1]: row for row in rows[1:]}
    assert by_name["旅券 二郎"][3] == "未受講" and by_name["旅券 二郎"][6] == "期限切れ（権限は無効）"
    assert by_name["登録 一郎"][3] == wareki_date(get_user("registrar").trained_on)
    assert by_name["登録 一郎"][6] == "有効"

    pdf = client.get("/reports/training.pdf?department=ryoken")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = _pdf_text(pdf.data)
    year = fiscal_year(today_jst())
    assert "研修受講状況" in text and f"令和{year - 2018}年度" in text
    assert "旅券センター" in text and "旅券 二郎" in text and "期限切れ" in text and "登録 一郎" not in text
    from lifecycle.auth.services import training_expires_on
    assert wareki_date(training_expires_on(today_jst() - timedelta(days=800), 365)) in text  # 和暦


def test_the_training_report_refuses_a_bad_year_in_japanese(client, login, world):
    login("auditor")
    response = client.get("/reports/training?year=abc")
    assert response.status_code == 422 and "年度" in response.get_data(as_text=True)
    assert client.get("/reports/training.csv?department=nowhere").status_code == 422
    login_other = client.post("/logout")
    assert login_other.status_code in (200, 302)
    login("registrar")
    assert client.get("/reports/training").status_code == 403


def test_the_home_page_warns_of_training_ending(client, login, world):
    _lapse("registrar2")
    login("admin")
    page = client.get("/").get_data(as_text=True)
    assert "研修の有効期限" in page and "旅券 二郎（旅券センター）" in page and "期限切れ（権限は無効）" in page
    client.post("/logout")
    login("registrar2")
    page = client.get("/").get_data(as_text=True)
    assert "研修の有効期限" in page and "が過ぎたため、現在有効な権限はありません" in page


def test_the_training_pdf_is_signed(app, client, login, world, tmp_path):
    from lifecycle import crypto
    from tests.signatures import check
    login("security")
    response = client.get("/reports/training.pdf")
    verdict = check(response.data, crypto.signing_ca_pem(app.instance_path), tmp_path)
    assert verdict.pdfsig_valid and verdict.pyhanko_valid


def test_a_forced_leavers_item_is_on_the_exceptions_page_and_pdf(client, login, api, world):
    item = factories.form(world["registrar"])
    assert api("admin").post("/api/v1/users/registrar/leave",
                             json={"effective_on": TODAY(), "reason": "退職", "force": True}).status_code == 200
    login("auditor")
    page = client.get("/reports/exceptions").get_data(as_text=True)
    assert "所在確認待ちの帳票・媒体（保管者の強制離任）" in page and item.code in page
    text = _pdf_text(client.get("/reports/exceptions.pdf").data)
    assert item.code in text and "所在確認待ち" in text and "保護 守（税務課）" in text
