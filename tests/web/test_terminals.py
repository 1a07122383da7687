"""Terminal-use approvals (使用伺い) over the API and as pages: the whole path, the refusals, the
exceptions, the auditor who only reads, and the 使用伺い簿 read back from its PDF and CSV."""
from __future__ import annotations

import csv
import io
import subprocess
from datetime import timedelta

from pypdf import PdfReader
from sqlalchemy import func, select

from lifecycle.audit.services import head
from lifecycle.clock import today_jst
from lifecycle.extensions import db
from lifecycle.reports.queries import compute_findings
from lifecycle.documents.render import ExceptionCategory
from lifecycle.terminals import services
from lifecycle.terminals.models import TerminalUse
from lifecycle.wareki import wareki_date
from tests import factories
from tests.unit.terminals.conftest import ask, at

TERMINAL = {"code": "ZEIMU-CS01", "department": "zeimu", "location": "税務課 執務室 窓際"}


def _terminal(api):
    created = api("admin").post("/api/v1/terminals", json=TERMINAL)
    assert created.status_code == 201, created.get_json()
    return created.get_json()


def _use_body(**extra):
    today = today_jst().isoformat()
    return {"terminal": "ZEIMU-CS01", "business": "car-tax", "starts_at": f"{today}T00:05",
            "ends_at": f"{today}T23:55", "purpose": "課税台帳の照会", **extra}


def test_api_request_approve_use_register_and_close(api, world):
    terminal = _terminal(api)
    assert terminal["department_name"] == "税務課"
    requested = api("registrar").post("/api/v1/terminal-uses", json=_use_body())
    assert requested.status_code == 201, requested.get_json()
    use = requested.get_json()
    assert use["status"] == "requested" and use["user"]["name"] == "登録 一郎"
    approved = api("security2").post(f"/api/v1/terminal-uses/{use['id']}/approve", json={"no_camera_phone_usb": True})
    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json()["approver"]["department_name"] == "税務課"
    form = api("registrar").post("/api/v1/items", json={
        "kind": "form", "title": "課税台帳 照会結果", "business": "car-tax", "sheets": 2,
        "location": "税務課 書庫A-3", "terminal_use": use["id"]})
    assert form.status_code == 201, form.get_json()
    closed = api("registrar").post(f"/api/v1/terminal-uses/{use['id']}/close", json={})
    assert closed.status_code == 200, closed.get_json()
    body = closed.get_json()
    assert body["status"] == "closed" and body["forms"] == [form.get_json()["code"]] and not body["without_approval"]
    listed = api("auditor").get("/api/v1/terminal-uses?department=zeimu").get_json()
    assert [u["id"] for u in listed["uses"]] == [use["id"]]


def test_api_refusals(api, world):
    _terminal(api)
    assert api("registrar").post("/api/v1/terminals", json={**TERMINAL, "code": "X2"}).status_code == 403
    own = api("security2").post("/api/v1/terminal-uses", json=_use_body()).get_json()
    refused = api("security2").post(f"/api/v1/terminal-uses/{own['id']}/approve", json={"no_camera_phone_usb": True})
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "separation_of_duties"
    unchecked = api("registrar").post("/api/v1/terminal-uses", json=_use_body()).get_json()
    missing = api("security2").post(f"/api/v1/terminal-uses/{unchecked['id']}/approve", json={})
    assert missing.status_code == 422 and "no_camera_phone_usb" in missing.get_json()["error"]["fields"]
    bad = api("registrar").post("/api/v1/terminal-uses", json={"terminal": "NONE", "business": "x",
                                                                "starts_at": "昨日", "ends_at": "x"})
    assert bad.status_code == 422
    assert set(bad.get_json()["error"]["fields"]) == {"terminal", "business", "starts_at", "ends_at"}
    denied = api("security2").post(f"/api/v1/terminal-uses/{unchecked['id']}/refuse", json={"reason": "業務外"})
    assert denied.status_code == 200 and denied.get_json()["status"] == "refused"
    again = api("security2").post(f"/api/v1/terminal-uses/{unchecked['id']}/approve", json={"no_camera_phone_usb": True})
    assert again.status_code == 409 and "却下" in again.get_json()["error"]["message"]
    assert api("registrar").get("/api/v1/terminal-uses/999999").status_code == 404


def test_each_exception(world):
    registrar, manager = world["registrar"], world["security2"]
    services.register_terminal(world["admin"], TERMINAL)
    # 1. a use recorded without approval
    unapproved = ask(registrar, start=timedelta(hours=-2), end=timedelta(hours=-1))
    services.close_use(registrar, unapproved.id, {"ended_at": at(timedelta(minutes=-61))})
    # 2. approved, its planned end two hours past, never closed
    open_use = ask(registrar, start=timedelta(hours=-3), end=timedelta(hours=-2))
    services.approve_use(manager, open_use.id, {"no_camera_phone_usb": True})
    # 3. a form printed at the terminal an hour ago, when no approval covered it
    stray = factories.form(registrar, terminal="zeimu-cs01", output_at=at(timedelta(hours=-1)))
    # …and one registered under its approval is in order
    fine = ask(registrar)
    services.approve_use(manager, fine.id, {"no_camera_phone_usb": True})
    covered = factories.form(registrar, terminal_use=fine.id)

    findings = compute_findings(today_jst(), limit=None)
    zeimu = next(d for d in findings.departments if d.code == "zeimu")
    rows = {cat: zeimu.rows_of(cat) for cat in (ExceptionCategory.TERMINAL_UNAPPROVED_USE,
                                                 ExceptionCategory.TERMINAL_NOT_CLOSED,
                                                 ExceptionCategory.TERMINAL_UNCOVERED_FORM)}
    assert [r.code for r in rows[ExceptionCategory.TERMINAL_UNAPPROVED_USE]] == [f"使用伺い 第{unapproved.id}号"]
    assert "承認のないまま使用されました" in rows[ExceptionCategory.TERMINAL_UNAPPROVED_USE][0].detail
    assert [r.code for r in rows[ExceptionCategory.TERMINAL_NOT_CLOSED]] == [f"使用伺い 第{open_use.id}号"]
    assert [r.code for r in rows[ExceptionCategory.TERMINAL_UNCOVERED_FORM]] == [stray.code]
    assert covered.code not in str(rows)
    # closing the open use takes it off the list
    services.close_use(registrar, open_use.id, {"started_at": at(timedelta(hours=-3)),
                                                 "ended_at": at(timedelta(hours=-2))})
    again = next(d for d in compute_findings(today_jst(), limit=None).departments if d.code == "zeimu")
    assert again.count(ExceptionCategory.TERMINAL_NOT_CLOSED) == 0


def test_inbox_task_for_the_approving_manager_only(api, world):
    _terminal(api)
    use = api("registrar").post("/api/v1/terminal-uses", json=_use_body()).get_json()
    tasks = api("security2").get("/api/v1/me/tasks").get_json()["tasks"]
    mine = [t for t in tasks if t["kind"] == "terminal_use_to_approve"]
    assert len(mine) == 1 and f"第{use['id']}号" in mine[0]["summary"] and "登録 一郎（税務課）" in mine[0]["summary"]
    assert not [t for t in api("security").get("/api/v1/me/tasks").get_json()["tasks"]
                if t["kind"] == "terminal_use_to_approve"]  # 市町課's manager: not his terminal
    api("security2").post(f"/api/v1/terminal-uses/{use['id']}/approve", json={"no_camera_phone_usb": True})
    assert not [t for t in api("security2").get("/api/v1/me/tasks").get_json()["tasks"]
                if t["kind"] == "terminal_use_to_approve"]


def test_pages_request_with_every_error_beside_its_field(client, login, world):
    services.register_terminal(world["admin"], TERMINAL)
    login("registrar")
    page = client.get("/terminals/ZEIMU-CS01")
    assert page.status_code == 200 and "使用伺い" in page.get_data(as_text=True)
    before = head()
    refused = client.post("/terminal-uses", data={"terminal": "ZEIMU-CS01", "back_terminal": "ZEIMU-CS01",
                                                   "business": "", "starts_at": "", "ends_at": "",
                                                   "purpose": "照会の目的"})
    body = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert 'id="r-business-error"' in body and 'id="r-starts_at-error"' in body and 'id="r-ends_at-error"' in body
    assert 'value="照会の目的"' in body
    db.session.rollback()
    assert head() == before
    done = client.post("/terminal-uses", data=_use_body())
    assert done.status_code == 302
    shown = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "承認待ち" in shown and "登録 一郎（税務課）" in shown


def test_pages_approve_needs_the_check_beside_it(client, login, world):
    services.register_terminal(world["admin"], TERMINAL)
    use = ask(world["registrar"])
    login("security2")
    page = client.get(f"/terminal-uses/{use.id}").get_data(as_text=True)
    assert "カメラ・スマートフォン・USBメモリ等の持込みがないことを確認した" in page
    refused = client.post(f"/terminal-uses/{use.id}/approve", data={})
    assert refused.status_code == 422 and 'id="no_camera_phone_usb-error"' in refused.get_data(as_text=True)
    assert client.post(f"/terminal-uses/{use.id}/approve", data={"no_camera_phone_usb": "true"}).status_code == 302
    assert services.get_use(use.id).status == "approved"


def test_auditor_reads_and_changes_nothing(client, login, api, world):
    services.register_terminal(world["admin"], TERMINAL)
    use = ask(world["registrar"])
    login("auditor")
    for url in ("/terminals", "/terminals/ZEIMU-CS01", "/terminal-uses", f"/terminal-uses/{use.id}"):
        page = client.get(url)
        assert page.status_code == 200, url
        body = page.get_data(as_text=True)
        assert 'method="post"' not in body.split("</header>")[-1].replace('action="/logout"', ""), url
    db.session.rollback()
    before = (head(), db.session.scalar(select(func.count()).select_from(TerminalUse)))
    posts = [("/terminals", {**TERMINAL, "code": "AUD-1"}), ("/terminal-uses", _use_body()),
             (f"/terminal-uses/{use.id}/approve", {"no_camera_phone_usb": "true"}),
             (f"/terminal-uses/{use.id}/refuse", {"reason": "監査"}), (f"/terminal-uses/{use.id}/close", {}),
             (f"/terminal-uses/{use.id}/cancel", {}), ("/terminals/ZEIMU-CS01/device", {"device": ""})]
    for url, data in posts:
        response = client.post(url, data=data)
        assert response.status_code == 403 or (response.status_code == 302 and _flashed_error(client)), url
    auditor = api("auditor")
    for url, data in [("/api/v1/terminals", {**TERMINAL, "code": "AUD-1"}), ("/api/v1/terminal-uses", _use_body()),
                      (f"/api/v1/terminal-uses/{use.id}/approve", {"no_camera_phone_usb": True}),
                      (f"/api/v1/terminal-uses/{use.id}/close", {})]:
        assert auditor.post(url, json=data).status_code == 403, url
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(TerminalUse)) == before[1]
    assert services.get_use(use.id).status == "requested"


def _flashed_error(client) -> bool:
    with client.session_transaction() as session:
        return any(category == "error" for category, _ in session.pop("_flashes", []))


def _book_world(world):
    services.register_terminal(world["admin"], TERMINAL)
    use = ask(world["registrar"])
    services.approve_use(world["security2"], use.id, {"no_camera_phone_usb": True})
    form = factories.form(world["registrar"], terminal_use=use.id)
    services.close_use(world["registrar"], use.id, {})
    refused = ask(world["registrar"])
    services.refuse_use(world["security2"], refused.id, {"reason": "利用事務の確認が必要"})
    return use, form


def test_book_pdf_read_back(client, login, world, tmp_path):
    use, form = _book_world(world)
    login("auditor")
    response = client.get("/reports/terminal-uses.pdf?department=zeimu")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert b"/ByteRange" in response.data  # signed like every report
    path = tmp_path / "book.pdf"
    path.write_bytes(response.data)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    for heading in ("端末の使用伺い簿", "年月日", "利用者", "利用事務", "利用時間", "持込み確認", "承認者",
                    "終了確認", "出力帳票"):
        assert heading in text, heading
    assert wareki_date(today_jst()) in text and "令和" in text
    assert "登録 一郎（税務課）" in text and "保護 守（税務課）" in text
    assert form.code in text and "なし（確認済）" in text and "却下" in text
    assert "税務課" in text and "件数: 2件" in text
    assert "registrar" not in text and "security2" not in text  # people by name, never by login


def test_book_csv_and_the_report_is_audited(client, login, world):
    use, form = _book_world(world)
    login("security2")
    response = client.get("/reports/terminal-uses.csv?terminal=ZEIMU-CS01")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["番号", "年月日", "端末"]
    first = rows[1]
    assert first[0] == str(use.id) and first[5] == "登録 一郎" and form.code in first
    assert len(rows) == 3
    bad = client.get("/reports/terminal-uses.pdf?from=2026-13-01")
    assert bad.status_code == 422 and "期間（開始）" in bad.get_data(as_text=True)


def test_a_registrar_sees_only_their_departments_book(api, world):
    _terminal(api)
    api("registrar").post("/api/v1/terminal-uses", json=_use_body())
    assert api("registrar2").get("/api/v1/terminal-uses").get_json()["total"] == 0
    assert api("registrar").get("/api/v1/terminal-uses").get_json()["total"] == 1


def test_the_forms_page_names_its_approval_and_the_device_its_terminal(client, login, world):
    use, form = _book_world(world)
    device = factories.device(world["admin"])
    services.link_device(world["admin"], "ZEIMU-CS01", device.code)
    login("registrar")
    page = client.get(f"/items/{form.code}").get_data(as_text=True)
    assert f"第{use.id}号" in page and "保護 守（税務課）" in page and "ZEIMU-CS01" in page
    login("admin")
    page = client.get(f"/items/{device.code}").get_data(as_text=True)
    assert "端末 <a" in page and "ZEIMU-CS01" in page


def test_the_registration_page_offers_the_persons_approved_uses(client, login, world):
    services.register_terminal(world["admin"], TERMINAL)
    use = ask(world["registrar"])
    services.approve_use(world["security2"], use.id, {"no_camera_phone_usb": True})
    login("registrar")
    page = client.get(f"/items/new?kind=form&terminal_use={use.id}").get_data(as_text=True)
    assert f'<option selected value="{use.id}">' in page or f'value="{use.id}" selected' in page
    done = client.post("/items/new?kind=form", data={"title": "照会結果", "business": "car-tax", "sheets": "1",
                                                     "location": "税務課 書庫", "terminal": "", "output_at": "",
                                                     "terminal_use": str(use.id)})
    assert done.status_code == 302, done.get_data(as_text=True)[:500]
    assert len(services.linked_forms(services.get_use(use.id))) == 1
    login("registrar2")  # 旅券センター: not their approval, and not offered
    assert f'value="{use.id}"' not in client.get("/items/new?kind=form").get_data(as_text=True)


def test_the_exceptions_pdf_lists_a_use_without_approval(client, login, world):
    services.register_terminal(world["admin"], TERMINAL)
    use = ask(world["registrar"], start=timedelta(hours=-2), end=timedelta(hours=-1))
    services.close_use(world["registrar"], use.id, {"ended_at": at(timedelta(minutes=-61))})
    login("auditor")
    page = client.get("/reports/exceptions").get_data(as_text=True)
    assert "承認のない端末の使用" in page and f"使用伺い 第{use.id}号" in page
    response = client.get("/reports/exceptions.pdf")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages)
    assert "承認のない端末の使用" in text and "登録 一郎（税務課）" in text


def test_odd_search_values_are_told_not_crashed_on(client, login, api, world):
    _terminal(api)
    login("auditor")
    for query in ("department=%00", "status=bogus", "from=2026-02-30", "to=x", "q=" + "長" * 101):
        response = client.get(f"/terminal-uses?{query}")
        assert response.status_code == 422, query
        assert api("auditor").get(f"/api/v1/terminal-uses?{query}").status_code == 422, query
    assert client.get("/terminals/%00").status_code == 404
    assert client.get("/terminal-uses/99999999999").status_code == 404
    assert api("auditor").get("/api/v1/terminal-uses/abc").status_code == 404


def test_an_admin_retires_a_terminal_from_its_page(client, login, world):
    services.register_terminal(world["admin"], TERMINAL)
    login("admin")
    assert client.post("/terminals/ZEIMU-CS01/active", data={"active": "false", "reason": "機器更新"}).status_code == 302
    page = client.get("/terminals/ZEIMU-CS01").get_data(as_text=True)
    assert "使用停止（新しい使用伺いは受け付けません）" in page and "使用を再開する" in page
    login("registrar")
    refused = client.post("/terminal-uses", data={**_use_body(), "back_terminal": "ZEIMU-CS01"})
    assert refused.status_code == 422 and "ZEIMU-CS01" in refused.get_data(as_text=True)
