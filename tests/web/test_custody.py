"""Hand-offs, provision and return through the JSON API and the pages; custody reports; the CLI."""
import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from lifecycle.audit.models import AuditEvent
from lifecycle.audit.services import head
from lifecycle.auth.services import issue_token
from lifecycle.clock import today_jst
from lifecycle.custody.models import CustodyException, Transfer
from lifecycle.extensions import db
from lifecycle.items.services import get_item
from lifecycle.seeds import DEMO_PASSWORD
from tests import factories
from lifecycle.actors import SystemActor


def _item(code):
    db.session.expire_all()
    return get_item(code)


def _error(response, status, code=None):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"]["message"] and any("\u3040" <= ch <= "\u30ff" for ch in body["error"]["message"])
    if code:
        assert body["error"]["code"] == code
    return body


# --- API: hand-offs -----------------------------------------------------------------------

def test_api_transfer_accept_round_trip(api, world):
    code = factories.form(world["registrar"]).code
    created = api("registrar").post(f"/api/v1/items/{code}/transfers", json={"to": "registrar2", "note": "移管"})
    assert created.status_code == 201
    body = created.get_json()
    assert body["status"] == "pending" and isinstance(body["id"], int)
    assert body["item"]["status"] == "in_transfer" and body["item"]["holder"]["login"] == "registrar"

    shown = api("registrar2").get(f"/api/v1/transfers/{body['id']}")
    assert shown.status_code == 200 and shown.get_json()["receiver"]["login"] == "registrar2"

    accepted = api("registrar2").post(f"/api/v1/transfers/{body['id']}/accept")
    assert accepted.status_code == 200
    result = accepted.get_json()
    assert result["status"] == "accepted"
    assert result["item"]["status"] == "in_custody"
    assert result["item"]["holder"] == {**result["item"]["holder"], "login": "registrar2", "department": "ryoken"}


def test_api_reject_and_cancel(api, world):
    code = factories.form(world["registrar"]).code
    first = api("registrar").post(f"/api/v1/items/{code}/transfers", json={"to": "registrar2"}).get_json()
    rejected = api("registrar2").post(f"/api/v1/transfers/{first['id']}/reject", json={"reason": "別件"})
    assert rejected.status_code == 200 and rejected.get_json()["status"] == "rejected"
    # back with the giver, in a department the receiver does not see: the hand-off's own facts only
    assert rejected.get_json()["item"] == {"code": code, "kind": "form", "title": _item(code).title}
    shown = api("registrar").get(f"/api/v1/transfers/{first['id']}").get_json()
    assert shown["item"]["holder"]["login"] == "registrar" and shown["item"]["status"] == "in_custody"
    second = api("registrar").post(f"/api/v1/items/{code}/transfers", json={"to": "security2"}).get_json()
    cancelled = api("registrar").post(f"/api/v1/transfers/{second['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"


def test_api_reject_keeps_a_reason_and_its_contract_lets_one_be_left_out(api, world):
    """The pages insist on a reason (test_a_refused_reject_*); over the API a reason sent is kept
    and checked like every free text, and a system that sends none still sends the hand-off back."""
    receiver = api("registrar2")

    def handed() -> tuple[str, int]:
        code = factories.form(world["registrar"]).code
        return code, api("registrar").post(f"/api/v1/items/{code}/transfers", json={"to": "registrar2"}).get_json()["id"]

    code, transfer = handed()
    before = head()
    too_long = _error(receiver.post(f"/api/v1/transfers/{transfer}/reject", json={"reason": "長" * 501}), 422, "invalid")
    assert set(too_long["error"]["fields"]) == {"reason"}
    assert head() == before and _item(code).status == "in_transfer"
    rejected = receiver.post(f"/api/v1/transfers/{transfer}/reject", json={"reason": "担当外の帳票のため"})
    assert rejected.status_code == 200 and rejected.get_json()["reason"] == "担当外の帳票のため"
    events = api("registrar").get(f"/api/v1/items/{code}").get_json()["events"]
    assert events[-1]["type"] == "custody:rejected" and events[-1]["data"]["reason"] == "担当外の帳票のため"
    for body in (None, {}):
        code, transfer = handed()
        sent = (receiver.client.post(f"/api/v1/transfers/{transfer}/reject", headers=receiver.headers)
                if body is None else receiver.post(f"/api/v1/transfers/{transfer}/reject", json=body))
        assert sent.status_code == 200 and sent.get_json()["status"] == "rejected"
        assert _item(code).status == "in_custody"


def test_a_former_giver_reads_the_hand_off_but_not_the_items_state_now(api, world):
    """Once the item is another department's, the giver's old hand-off shows what he handed over
    (code, kind, title, the parties, when) and nothing of the item now: status, holder, location,
    label payload are for those who may see the item itself."""
    item = factories.form(world["registrar"], title="課税台帳 引継ぎ分", location="税務課 書庫A-3")
    transfer = api("registrar").post(f"/api/v1/items/{item.code}/transfers", json={"to": "registrar2"}).get_json()
    assert api("registrar2").post(f"/api/v1/transfers/{transfer['id']}/accept",
                                  json={"location": "旅券センター 金庫2"}).status_code == 200

    shown = api("registrar").get(f"/api/v1/transfers/{transfer['id']}")
    assert shown.status_code == 200
    body = shown.get_json()
    assert body["item"] == {"code": item.code, "kind": "form", "title": "課税台帳 引継ぎ分"}
    assert (body["status"], body["giver"]["login"], body["receiver"]["login"]) == ("accepted", "registrar", "registrar2")
    assert "金庫2" not in shown.get_data(as_text=True)
    _error(api("registrar").get(f"/api/v1/items/{item.code}"), 403)  # as the item itself answers

    for who in ("registrar2", "auditor"):  # the holder now, and one who sees every department
        full = api(who).get(f"/api/v1/transfers/{transfer['id']}").get_json()["item"]
        assert full["location"] == "旅券センター 金庫2" and full["holder"]["login"] == "registrar2"


def test_api_refusals_change_nothing(api, world):
    code = factories.form(world["registrar"]).code
    registrar = api("registrar")
    before = (head()[0], _item(code).status)
    _error(registrar.post(f"/api/v1/items/{code}/transfers", json={"to": "nobody"}), 422, "unknown_user")
    _error(registrar.post(f"/api/v1/items/{code}/transfers", json={"to": "registrar"}), 422, "self_transfer")
    _error(registrar.post(f"/api/v1/items/{code}/transfers", json={}), 422)
    _error(registrar.post(f"/api/v1/items/{code}/transfers", data="not json",
                          content_type="application/json"), 400)
    _error(registrar.post(f"/api/v1/items/{code}/transfers", json=["registrar2"]), 400)
    _error(registrar.post("/api/v1/items/F-2026-999999/transfers", json={"to": "registrar2"}), 404)
    assert (head()[0], _item(code).status) == before  # 4xx other than 401/403 leave no trace

    denied = api("security2").post(f"/api/v1/items/{code}/transfers", json={"to": "registrar2"})
    _error(denied, 403, "not_holder")
    _error(api("auditor").post(f"/api/v1/items/{code}/transfers", json={"to": "registrar2"}), 403)
    assert _item(code).status == "registered"
    denials = db.session.scalars(select(AuditEvent).where(AuditEvent.type == "access:denied")).all()
    assert len(denials) == 2  # every denied request is an event (SPEC "Audit log")


def test_api_second_transfer_and_foreign_accept(api, world):
    code = factories.form(world["registrar"]).code
    transfer = api("registrar").post(f"/api/v1/items/{code}/transfers", json={"to": "registrar2"}).get_json()
    _error(api("registrar").post(f"/api/v1/items/{code}/transfers", json={"to": "security2"}), 409,
           "transfer_pending")
    for who in ("registrar", "security2", "auditor", "admin"):
        _error(api(who).post(f"/api/v1/transfers/{transfer['id']}/accept"), 403)
    _error(api("registrar2").post(f"/api/v1/transfers/{transfer['id']}/cancel"), 403, "not_giver")
    _error(api("registrar2").post("/api/v1/transfers/999999/accept"), 404)
    _error(api("registrar2").post(f"/api/v1/transfers/{transfer['id']}/accept", data="{",
                                  content_type="application/json"), 400)
    assert _item(code).status == "in_transfer"
    assert db.session.get(Transfer, transfer["id"]).status == "pending"


def test_api_four_receivers_pressing_at_once(app, world):
    code = factories.form(world["registrar"]).code
    token = issue_token(SystemActor("system:test", "テスト"), "registrar2")
    client = app.test_client()
    created = client.post(f"/api/v1/items/{code}/transfers", json={"to": "registrar2"},
                          headers={"Authorization": f"Bearer {issue_token(SystemActor('system:test', 'テスト'), 'registrar')}"})
    transfer_id = created.get_json()["id"]
    db.session.remove()
    barrier = threading.Barrier(4)
    statuses = []

    def press():
        own = app.test_client()
        barrier.wait()
        statuses.append(own.post(f"/api/v1/transfers/{transfer_id}/accept",
                                 headers={"Authorization": f"Bearer {token}"}).status_code)

    threads = [threading.Thread(target=press) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(statuses) == [200, 409, 409, 409]
    accepted = db.session.scalars(select(AuditEvent).where(AuditEvent.type == "custody:accepted",
                                                           AuditEvent.subject == code)).all()
    assert len(accepted) == 1


# --- API: media ---------------------------------------------------------------------------

def test_api_provide_and_return(api, world):
    code = factories.medium(world["bulk"]).code
    bulk = api("bulk")
    provided = bulk.post(f"/api/v1/items/{code}/provide", json={"recipient": "公安委員会"})
    assert provided.status_code == 200
    assert provided.get_json()["status"] == "provided" and provided.get_json()["recipient"] == "公安委員会"
    assert provided.get_json()["provided_at"].endswith("+09:00")
    returned = bulk.post(f"/api/v1/items/{code}/return")
    assert returned.status_code == 200
    body = returned.get_json()
    assert body["status"] == "returned" and body["returned_at"]
    assert body["retention_until"] == (today_jst() + timedelta(days=30)).isoformat()


def test_api_provide_without_body_uses_registered_recipient(api, world):
    code = factories.medium(world["bulk"], recipient="教育委員会").code
    response = api("bulk").post(f"/api/v1/items/{code}/provide")
    assert response.status_code == 200 and response.get_json()["recipient"] == "教育委員会"


def test_api_media_refusals(api, world):
    medium = factories.medium(world["bulk"]).code
    form = factories.form(world["bulk"]).code
    for who in ("registrar", "security", "auditor", "admin"):
        _error(api(who).post(f"/api/v1/items/{medium}/provide", json={}), 403)
    _error(api("bulk").post(f"/api/v1/items/{form}/provide", json={}), 409, "not_a_medium")
    _error(api("bulk").post(f"/api/v1/items/{medium}/return"), 409, "not_provided")
    _error(api("bulk").post(f"/api/v1/items/{medium}/provide", json={"due_back": "昨日"}), 422)
    _error(api("bulk").post(f"/api/v1/items/{medium}/provide", json={"recipient": 5}), 422)
    assert _item(medium).status == "registered" and _item(medium).provided_at is None


def test_api_custody_json_and_exceptions(api, world):
    code = factories.form(world["registrar"]).code
    body = api("auditor").get(f"/api/v1/items/{code}/custody").get_json()
    assert body["code"] == code and body["events"][0]["type"] == "item:registered"
    _error(api("registrar2").get(f"/api/v1/items/{code}/custody"), 403)
    assert api("auditor").get("/api/v1/custody/exceptions").get_json() == {"exceptions": []}
    _error(api("registrar").get("/api/v1/custody/exceptions"), 403)


def test_openapi_lists_the_custody_endpoints(client, world):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/api/v1/items/{code}/transfers", "/api/v1/transfers/{transfer_id}/accept",
                 "/api/v1/items/{code}/provide", "/api/v1/items/{code}/return",
                 "/api/v1/items/{code}/custody"):
        assert any(p.replace("/api/v1", "") == path.replace("/api/v1", "") for p in paths), path


# --- pages --------------------------------------------------------------------------------

class Web:
    """A logged-in test client whose every request runs in a fresh app context: the test's own
    app context would otherwise carry Flask-Login's cached user (g) from one client to another."""

    def __init__(self, app, login):
        self.app, self.client = app, app.test_client()
        response = self.post("/login", data={"login": login, "password": DEMO_PASSWORD})
        assert response.status_code == 302

    def get(self, *args, **kw):
        with self.app.app_context():
            return self.client.get(*args, **kw)

    def post(self, *args, **kw):
        with self.app.app_context():
            return self.client.post(*args, **kw)

    def session_transaction(self):
        return self.client.session_transaction()


@pytest.fixture
def browser_as(app, world):
    """browser_as("registrar") → a client logged in through the login form (CSRF off in tests)."""
    return lambda login: Web(app, login)


def _flashes(web):
    with web.session_transaction() as session:
        return [m for _c, m in session.get("_flashes", [])]


def test_hand_over_and_accept_in_the_pages(browser_as, world):
    code = factories.form(world["registrar"]).code
    giver, receiver = browser_as("registrar"), browser_as("registrar2")

    page = giver.get(f"/items/{code}").get_data(as_text=True)
    assert "引き継ぐ" in page
    assert 'value="registrar2"' in page and 'value="auditor"' not in page and 'value="registrar"' not in page
    # receivers are grouped under their department's name
    ryoken = page.split('<optgroup label="旅券センター">', 1)[1].split("</optgroup>", 1)[0]
    assert 'value="registrar2">旅券 二郎（旅券センター）</option>' in ryoken and 'value="bulk"' not in ryoken

    response = giver.post(f"/custody/items/{code}/transfer",
                          data={"to": "registrar2", "note": "窓口から書庫へ", "next": f"/items/{code}"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/items/{code}")
    assert _item(code).status == "in_transfer"

    dashboard = receiver.get("/").get_data(as_text=True)
    assert code in dashboard and "受領待ち（あなた宛て）" in dashboard
    item_page = receiver.get(f"/items/{code}").get_data(as_text=True)
    assert "受領する" in item_page and "差し戻す" in item_page
    giver_page = giver.get(f"/items/{code}").get_data(as_text=True)
    assert "引継ぎを取り消す" in giver_page and "受領する" not in giver_page

    transfer_id = db.session.scalar(select(Transfer.id).where(Transfer.status == "pending"))
    response = receiver.post(f"/custody/transfers/{transfer_id}/accept", data={"next": "/"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/")
    item = _item(code)
    assert (item.status, item.holder.login, item.department.code) == ("in_custody", "registrar2", "ryoken")
    assert "受領しました" in " ".join(_flashes(receiver))


def test_page_refusals_flash_and_change_nothing(browser_as, world):
    code = factories.form(world["registrar"]).code
    giver = browser_as("registrar")
    before = head()
    response = giver.post(f"/custody/items/{code}/transfer", data={"to": "registrar"})
    assert response.status_code == 422
    assert "自分自身" in response.get_data(as_text=True)
    assert head() == before and _item(code).status == "registered"
    response = giver.post(f"/custody/items/{code}/transfer", data={"to": "ghost"})
    assert "登録されていません" in response.get_data(as_text=True)
    assert head() == before


def test_sending_back_from_the_inbox_needs_a_reason_told_beside_the_field(browser_as, world):
    code = factories.form(world["registrar"]).code
    giver, receiver = browser_as("registrar"), browser_as("registrar2")
    giver.post(f"/custody/items/{code}/transfer", data={"to": "registrar2"})
    transfer_id = db.session.scalar(select(Transfer.id).where(Transfer.status == "pending"))
    inbox = receiver.get("/custody").get_data(as_text=True)
    assert f'for="reject-reason-{transfer_id}">第{transfer_id}号の差戻しの理由<span class="required">必須</span>' in inbox
    before = head()
    refused = receiver.post(f"/custody/transfers/{transfer_id}/reject", data={"reason": " ", "next": "/custody"})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    row = html.split(f'<tr data-transfer="{transfer_id}">', 1)[1].split("</tr>", 1)[0]
    assert 'aria-invalid="true"' in row and "差戻しの理由を入力してください。" in row
    assert f'id="reject-reason-{transfer_id}-error"' in row
    assert 'name="next" value="/custody"' in row  # mended, it comes back here, not to the POST's address
    assert head() == before and _item(code).status == "in_transfer"

    done = receiver.post(f"/custody/transfers/{transfer_id}/reject", data={"reason": "担当外の帳票のため",
                                                                           "next": "/custody"})
    assert done.status_code == 302
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.type == "custody:rejected",
                                                       AuditEvent.subject == code))
    assert json.loads(event.data)["reason"] == "担当外の帳票のため"
    timeline = giver.get(f"/items/{code}").get_data(as_text=True).split('class="grid timeline"', 1)[1]
    assert "担当外の帳票のため" in timeline


def test_sending_back_from_the_item_page_needs_a_reason_told_beside_the_field(browser_as, world):
    code = factories.form(world["registrar"]).code
    browser_as("registrar").post(f"/custody/items/{code}/transfer", data={"to": "registrar2"})
    transfer_id = db.session.scalar(select(Transfer.id).where(Transfer.status == "pending"))
    receiver = browser_as("registrar2")
    page = receiver.get(f"/items/{code}").get_data(as_text=True)
    assert '<label for="reject-reason">差戻しの理由<span class="required">必須</span></label>' in page
    refused = receiver.post(f"/custody/transfers/{transfer_id}/reject", data={"reason": "", "next": f"/items/{code}"})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    block = html[html.rindex('<div class="field', 0, html.index('id="reject-reason"')):]
    block = block[:block.index("</div>")]
    assert "has-error" in block and "差戻しの理由を入力してください。" in block
    assert f'name="next" value="/items/{code}"' in html  # mended, it comes back to the item's page
    assert _item(code).status == "in_transfer"


def test_page_foreign_accept_is_refused_told_and_recorded(browser_as, world):
    code = factories.form(world["registrar"]).code
    transfer = browser_as("registrar").post(f"/custody/items/{code}/transfer", data={"to": "registrar2"})
    assert transfer.status_code == 302
    transfer_id = db.session.scalar(select(Transfer.id))
    response = browser_as("security2").post(f"/custody/transfers/{transfer_id}/accept", follow_redirects=True)
    assert "引継ぎ先" in response.get_data(as_text=True)
    assert _item(code).status == "in_transfer"
    denied = db.session.scalars(select(AuditEvent).where(AuditEvent.type == "access:denied")).all()
    assert [e.actor for e in denied] == ["security2"]


def test_auditor_cannot_use_custody_writes(browser_as, world):
    code = factories.medium(world["bulk"]).code
    auditor = browser_as("auditor")
    for path in (f"/custody/items/{code}/transfer", "/custody/transfers/1/accept",
                 "/custody/transfers/1/reject", "/custody/transfers/1/cancel",
                 f"/custody/items/{code}/provide", f"/custody/items/{code}/return"):
        assert auditor.post(path, data={"to": "bulk"}).status_code == 403, path
    assert auditor.get("/custody").status_code == 403
    assert _item(code).status == "registered"


def test_inbox_page(browser_as, world):
    code = factories.form(world["registrar"]).code
    giver = browser_as("registrar")
    giver.post(f"/custody/items/{code}/transfer", data={"to": "registrar2"})
    page = giver.get("/custody").get_data(as_text=True)
    assert "相手の受領待ち" in page and code in page and "取消し" in page
    receiver_page = browser_as("registrar2").get("/custody").get_data(as_text=True)
    assert code in receiver_page and "受領" in receiver_page


def test_provide_and_return_in_the_pages(browser_as, world):
    code = factories.medium(world["bulk"]).code
    bulk = browser_as("bulk")
    page = bulk.get(f"/items/{code}").get_data(as_text=True)
    assert "提供を記録" in page
    assert "提供を記録" not in browser_as("security").get(f"/items/{code}").get_data(as_text=True)
    bulk.post(f"/custody/items/{code}/provide", data={"recipient": "公安委員会"})
    assert _item(code).status == "provided"
    assert "返却を記録" in bulk.get(f"/items/{code}").get_data(as_text=True)
    bulk.post(f"/custody/items/{code}/return", data={})
    assert _item(code).status == "returned"
    bulk.get("/")
    response = bulk.post(f"/custody/items/{code}/return", data={})
    assert response.status_code == 302 and any("提供中ではない" in m for m in _flashes(bulk))


def test_overdue_panel_for_the_system_owner_department(app, browser_as, world):
    code = factories.medium(world["bulk"]).code
    from lifecycle.custody.services import provide_medium
    provide_medium(world["bulk"], code)
    overdue = db.session.scalar(select(CustodyException))
    assert overdue is None
    # make it overdue: the due-back date is in the past
    item = _item(code)
    with db.transaction():
        item.due_back = today_jst() - timedelta(days=3)
    page = browser_as("security").get("/").get_data(as_text=True)
    assert "返却期限を過ぎた提供中の媒体" in page and code in page and "3日超過" in page
    assert "返却期限を過ぎた提供中の媒体" not in browser_as("registrar").get("/").get_data(as_text=True)


def test_custody_report_routes(browser_as, world):
    code = factories.form(world["registrar"]).code
    auditor = browser_as("auditor")
    pdf = auditor.get(f"/reports/custody/{code}.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    data = auditor.get(f"/reports/custody/{code}.json")
    assert data.status_code == 200 and data.get_json()["code"] == code
    assert browser_as("registrar2").get(f"/reports/custody/{code}.pdf").status_code == 403
    assert auditor.get("/reports/custody/F-2026-999999.pdf").status_code == 404
    item_page = browser_as("registrar").get(f"/items/{code}").get_data(as_text=True)
    assert f"/reports/custody/{code}.pdf" in item_page


# --- command line -------------------------------------------------------------------------

def test_exceptions_scan_command(runner, world):
    form = factories.form(world["registrar"])
    as_of = (form.retention_until + timedelta(days=1)).isoformat()
    result = runner.invoke(args=["exceptions", "scan", "--as-of", as_of])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("recorded 1 resolved 0 open 1")
    again = runner.invoke(args=["exceptions", "scan", "--as-of", as_of])
    assert again.output.startswith("recorded 0 resolved 0 open 1")
    bad = runner.invoke(args=["exceptions", "scan", "--as-of", "2026-02-30"])
    assert bad.exit_code != 0 and "YYYY-MM-DD" in bad.output
