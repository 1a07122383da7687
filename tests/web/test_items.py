"""Pages and API of the ledger: registration, the 管理簿, the item page, scanning."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from lifecycle.audit.events import EventType
from lifecycle.audit.models import AuditEvent
from lifecycle.clock import today_jst
from lifecycle.extensions import db
from lifecycle.items.models import Item
from lifecycle.items.schemas import label_payload
from lifecycle.wareki import wareki_date, wareki_datetime
from tests.factories import device, form, medium


def item_count() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Item))


def event_count(type_: EventType | None = None) -> int:
    db.session.rollback()
    query = select(func.count()).select_from(AuditEvent)
    if type_ is not None:
        query = query.where(AuditEvent.type == type_.value)
    return db.session.scalar(query)


def due(days: int = 14) -> str:
    return (today_jst() + timedelta(days=days)).isoformat()


FORM_POST = {"title": "住民票の写し 広域交付", "business": "car-tax", "sheets": "4",
             "location": "税務課 書庫A-3", "terminal": "", "output_at": ""}


# --- registration pages ------------------------------------------------------------------

def test_registrar_registers_a_form_and_lands_on_its_page(client, login, world):
    login("registrar")
    page = client.get("/items/new?kind=form")
    assert page.status_code == 200 and "帳票の登録" in page.get_data(as_text=True)
    assert "保存期限は出力日から30日後" in page.get_data(as_text=True)
    response = client.post("/items/new?kind=form", data={**FORM_POST, "contains_my_number": "y"})
    assert response.status_code == 302
    code = response.headers["Location"].rsplit("/", 1)[1]
    assert re.fullmatch(r"F-\d{4}-000001", code)
    html = client.get(f"/items/{code}").get_data(as_text=True)
    assert "登録しました" in html and wareki_date(today_jst() + timedelta(days=30)) in html
    item = db.session.scalar(select(Item).where(Item.code == code))
    assert item.sheets == 4 and item.contains_my_number is True and item.holder.login == "registrar"


def test_second_form_is_prefilled_with_the_last_business_and_location(client, login, world):
    login("registrar")
    client.post("/items/new?kind=form", data={**FORM_POST, "business": "housing-rent", "location": "金庫2"})
    html = client.get("/items/new?kind=form").get_data(as_text=True)
    assert re.search(r'<option selected value="housing-rent">|<option value="housing-rent" selected', html)
    assert 'value="金庫2"' in html


@pytest.mark.parametrize("field,value,message", [
    ("title", "", "件名を入力してください"),
    ("sheets", "0", "枚数は1から10000"),
    ("sheets", "10001", "枚数は1から10000"),
    ("sheets", "abc", "枚数は整数"),
    ("business", "nope", "利用事務「nope」は登録されていません"),
    ("title", "あ" * 201, "200文字以内"),
    ("location", "改行\nあり", "制御文字"),
])
def test_bad_form_input_is_shown_in_japanese_and_nothing_is_stored(client, login, world, field, value, message):
    login("registrar")
    before = (item_count(), event_count(EventType.ITEM_REGISTERED))
    response = client.post("/items/new?kind=form", data={**FORM_POST, field: value})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and message in html
    assert 'class="field has-error"' in html  # the field itself is marked
    assert (item_count(), event_count(EventType.ITEM_REGISTERED)) == before


MEDIUM_POST = {"title": "就学援助 一括提供", "business": "passport", "media_type": "CD-R",
               "record_count": "1200", "recipient": "教育委員会", "encrypted": "y", "location": ""}


def test_bulk_operator_registers_a_medium(client, login, world):
    login("bulk")
    response = client.post("/items/new?kind=medium", data={**MEDIUM_POST, "due_back": due()})
    assert response.status_code == 302 and "/items/M-" in response.headers["Location"]


@pytest.mark.parametrize("media", ["USB", "SD", "HDD", "OTHER", "フロッピー"])
def test_usb_and_other_media_are_refused_in_the_page_with_the_reason(client, login, world, media):
    login("bulk")
    html = client.get("/items/new?kind=medium").get_data(as_text=True)
    assert "USBメモリ（使用禁止）" in html  # the chooser says so before anyone tries
    before = (item_count(), event_count())
    response = client.post("/items/new?kind=medium", data={**MEDIUM_POST, "due_back": due(), "media_type": media})
    assert response.status_code == 422
    assert "USBメモリ等は使用が禁止されています" in response.get_data(as_text=True)
    assert (item_count(), event_count()) == before


@pytest.mark.parametrize("who", ["registrar", "security", "auditor", "admin"])
def test_medium_page_is_forbidden_without_the_bulk_role(client, login, world, who):
    login(who)
    assert client.get("/items/new?kind=medium").status_code == 403
    before = item_count()
    response = client.post("/items/new?kind=medium", data={**MEDIUM_POST, "due_back": due()})
    assert response.status_code == 403 and "一括利用担当" in response.get_data(as_text=True)
    assert item_count() == before
    assert event_count(EventType.ACCESS_DENIED) >= 2


def test_due_back_in_the_past_is_refused(client, login, world):
    login("bulk")
    response = client.post("/items/new?kind=medium", data={**MEDIUM_POST, "due_back": due(-1)})
    assert response.status_code == 422 and "過去の日付" in response.get_data(as_text=True)


DEVICE_POST = {"title": "業務端末 市町課3", "device_type": "業務端末", "asset_tag": "PC-3",
               "model": "FMV", "serial": "SN3", "lessor": "九州リース", "lease_contract": "L-9",
               "lease_start": "2021-04-01", "lease_end": "2027-03-31", "location": "市町課",
               "has_storage": "y", "storage_type_1": "HDD", "storage_serial_1": "HDD-SN3"}


def test_admin_registers_a_device_and_a_duplicate_serial_is_refused(client, login, world):
    login("admin")
    assert client.post("/items/new?kind=device", data=DEVICE_POST).status_code == 302
    response = client.post("/items/new?kind=device", data={**DEVICE_POST, "asset_tag": "PC-4"})
    assert response.status_code == 422
    assert "製造番号「SN3」の機器は既に登録されています" in response.get_data(as_text=True)
    response = client.post("/items/new?kind=device", data={**DEVICE_POST, "asset_tag": "PC-4", "serial": "SN4",
                                                           "lease_end": "2020-01-01"})
    assert "リース終了日はリース開始日より後" in response.get_data(as_text=True)
    assert item_count() == 1


def test_registrar_cannot_open_the_device_page(client, login, world):
    login("registrar")
    assert client.get("/items/new?kind=device").status_code == 403


def test_unknown_kind_is_a_404(client, login, world):
    login("registrar")
    assert client.get("/items/new?kind=usb").status_code == 404
    assert client.get("/items?kind=my_number_copy").status_code == 404


# --- the ledger -------------------------------------------------------------------------

def test_ledger_lists_rows_with_the_columns_people_need(client, login, world):
    item = form(world["registrar"], title="自動車税 課税台帳 出力")
    login("registrar")
    html = client.get("/items?kind=form").get_data(as_text=True)
    assert "帳票管理簿" in html and f'href="/items/{item.code}"' in html
    for text in ("自動車税の賦課徴収に関する事務", "税務課", "登録 一郎", "登録済",
                 wareki_date(today_jst()), wareki_date(item.retention_until)):
        assert text in html, text
    assert f'name="codes" value="{item.code}"' in html and 'action="/labels/sheet.pdf"' in html


def test_ledger_shows_a_registrar_only_his_department(client, login, world):
    mine, theirs = form(world["registrar"]), form(world["registrar2"])
    login("registrar")
    html = client.get("/items?kind=form").get_data(as_text=True)
    assert mine.code in html and theirs.code not in html and "全1件" in html


def test_ledger_filters_and_highlights_overdue(client, login, world):
    from datetime import datetime

    from lifecycle.clock import JST
    late = form(world["registrar"], title="期限切れ",
                output_at=(datetime.now(JST) - timedelta(days=45)).replace(microsecond=0).isoformat())
    fresh = form(world["registrar"], title="新しい")
    login("auditor")
    html = client.get("/items?kind=form&overdue=true").get_data(as_text=True)
    assert late.code in html and fresh.code not in html
    assert 'class="overdue"' in html and "期限超過" in html
    html = client.get("/items?kind=form&q=新しい").get_data(as_text=True)
    assert fresh.code in html and late.code not in html


def test_bad_filters_are_a_message_not_an_error(client, login, world):
    """The ledger is shown again, unfiltered, with the message; the status says it was refused."""
    login("auditor")
    response = client.get("/items?kind=form&sort=evil")
    assert response.status_code == 422 and "並べ替えの指定が正しくありません" in response.get_data(as_text=True)
    response = client.get("/items?kind=form&from=2026-99-99")
    assert response.status_code == 422 and "期間（開始）" in response.get_data(as_text=True)
    assert 'id="f-from"' in response.get_data(as_text=True)  # the filter form, to try again
    assert client.get("/items?kind=form&page=-5").status_code == 200
    assert client.get("/items?kind=form&page=abc").status_code == 200


def test_ledger_pages_and_sort_links_keep_the_filters(client, login, world):
    for n in range(3):
        form(world["registrar"], title=f"帳票{n}")
    login("auditor")
    html = client.get("/items?kind=form&status=registered&sort=title").get_data(as_text=True)
    assert "status=registered" in html and "sort=-title" in html  # the header toggles the order
    assert html.index("帳票0") < html.index("帳票1") < html.index("帳票2")
    client.application.config["PER_PAGE"] = 2
    html = client.get("/items?kind=form&status=registered&sort=title&page=2").get_data(as_text=True)
    assert "帳票2" in html and "帳票0" not in html and "2 / 2 ページ" in html and "全3件" in html
    assert "page=1" in html and "status=registered" in html


def test_ledger_requires_login(client, world):
    response = client.get("/items?kind=form")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- the item page ----------------------------------------------------------------------

def test_item_page_shows_facts_timeline_and_print_button(client, login, world):
    item = medium(world["bulk"], recipient="公安委員会")
    login("bulk")
    html = client.get(f"/items/{item.code}").get_data(as_text=True)
    for text in ("公安委員会", "CD-R", "1,200件", "返却予定日", wareki_date(item.due_back), "操作履歴",
                 "登録", "一括 花子（市町課）", f'action="/labels/{item.code}.pdf"'):
        assert text in html, text
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.subject == item.code))
    assert event.hash[:16] in html and f'title="{event.hash}"' in html
    assert f'<td class="num">{event.seq}</td><td>{wareki_datetime(event.at)}</td><td>登録</td>' in html
    assert "件名: 旅券 一括提供データ" in html  # event details in words, not JSON
    assert "保管者: 一括 花子（市町課）" in html and "種別: 媒体" in html and "利用事務: 旅券の発給に関する事務" in html


def test_item_page_of_another_department_is_forbidden(client, login, world):
    item = form(world["registrar2"])
    login("registrar")
    response = client.get(f"/items/{item.code}")
    assert response.status_code == 403 and "他の所属" in response.get_data(as_text=True)
    assert client.get("/items/F-1999-000001").status_code == 404


def test_device_page_warns_when_the_lease_ends_soon(client, login, world):
    soon = (today_jst() + timedelta(days=30)).isoformat()
    item = device(world["admin"], lease_start="2020-04-01", lease_end=soon)
    login("admin")
    html = client.get(f"/items/{item.code}").get_data(as_text=True)
    assert "満了間近" in html and "FMV-D7000" in html


# --- scanning ---------------------------------------------------------------------------

def test_scanning_the_label_url_or_payload_or_code_opens_the_item(client, login, world):
    item = form(world["registrar"])
    payload = label_payload(item.code)
    login("registrar")
    for typed in (f"http://lifecycle.test/s/{payload}", payload, item.code.lower(), item.code):
        response = client.get("/scan", query_string={"q": typed})
        assert response.status_code == 302, typed
        location = response.headers["Location"]
        if location.startswith("/s/"):
            location = client.get(location).headers["Location"]
        assert location == f"/items/{item.code}", typed


def test_opening_a_label_url_shows_the_item(client, login, world):
    item = form(world["registrar"])
    login("registrar")
    response = client.get(f"/s/{label_payload(item.code)}", follow_redirects=True)
    assert response.status_code == 200 and item.code in response.get_data(as_text=True)


def test_a_forged_label_shows_a_warning_and_is_audited(client, login, world):
    item = form(world["registrar"])
    login("registrar")
    forged = item.code + ".AAAAAAAAAAAAAAAA"
    before = event_count(EventType.LABEL_FORGED)
    response = client.get(f"/s/{forged}")
    html = response.get_data(as_text=True)
    assert response.status_code == 404 and "偽造または改変されたラベルの可能性があります" in html
    assert event_count(EventType.LABEL_FORGED) == before + 1
    # through the scan box too, and the item's timeline shows it
    client.get("/scan", query_string={"q": f"http://lifecycle.test/s/{forged}"}, follow_redirects=True)
    assert event_count(EventType.LABEL_FORGED) == before + 2
    page = client.get(f"/items/{item.code}").get_data(as_text=True)
    rows = re.findall(r"<tr( class=\"highlight\")?>\s*<td class=\"num\">(\d+)</td><td>[^<]*</td><td>([^<]*)</td>", page)
    assert [label for _h, _seq, label in rows].count("偽造ラベルの読取り") == 2
    assert all(bool(h) == (label == "偽造ラベルの読取り") for h, _seq, label in rows)  # only those stand out


def test_scanning_an_unknown_code_says_so(client, login, world):
    login("registrar")
    response = client.get("/scan?q=F-2026-999999")
    assert response.status_code == 404 and "管理番号「F-2026-999999」の登録はありません" in response.get_data(as_text=True)
    response = client.get("/scan?q=", headers={"Referer": "http://localhost/items?kind=form"})
    assert response.status_code == 302


def test_label_urls_need_a_login(client, world):
    item = form(world["registrar"])
    response = client.get(f"/s/{label_payload(item.code)}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert event_count(EventType.LABEL_FORGED) == 0


# --- dashboard --------------------------------------------------------------------------

def test_dashboard_shows_my_items_per_status(client, login, world):
    form(world["registrar"])
    form(world["registrar"])
    form(world["registrar2"])
    login("registrar")
    html = client.get("/").get_data(as_text=True)
    assert "保管しているもの" in html and "帳票（2件）" in html
    assert "holder=registrar" in html and "status=registered" in html


def test_dashboard_panel_is_hidden_from_auditors(client, login, world):
    login("auditor")
    assert "保管しているもの" not in client.get("/").get_data(as_text=True)


# --- API --------------------------------------------------------------------------------

def test_api_registers_a_form(api, world):
    response = api("registrar").post("/api/v1/items", json={
        "kind": "form", "title": "帳票", "business": "car-tax", "sheets": 3,
        "contains_my_number": False, "location": "書庫"})
    assert response.status_code == 201
    body = response.get_json()
    assert re.fullmatch(r"F-\d{4}-\d{6}", body["code"]) and body["status"] == "registered"
    assert body["holder"] == {"login": "registrar", "name": "登録 一郎", "department": "zeimu",
                              "department_name": "税務課"}
    assert body["retention_until"] == (today_jst() + timedelta(days=30)).isoformat()
    assert body["created_at"].endswith("+09:00")
    assert body["label_url"].endswith(f"/labels/{body['code']}.pdf")
    assert body["qr_payload"].startswith(body["code"] + ".")


@pytest.mark.parametrize("media", ["USB", "SD", "HDD", "usb-memory", "CD-RW", ""])
def test_api_refuses_forbidden_media_with_422(api, world, media):
    before = item_count()
    response = api("bulk").post("/api/v1/items", json={
        "kind": "medium", "title": "x", "business": "passport", "media_type": media,
        "record_count": 1, "recipient": "教育委員会", "encrypted": True, "due_back": due()})
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "media_type_forbidden"
    assert item_count() == before


def test_api_medium_without_the_role_is_403(api, world):
    response = api("registrar").post("/api/v1/items", json={
        "kind": "medium", "title": "x", "business": "passport", "media_type": "CD-R",
        "record_count": 1, "recipient": "教育委員会", "encrypted": True, "due_back": due()})
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("body,status,code", [
    ({"kind": "form", "title": "", "business": "car-tax", "sheets": 1}, 422, "invalid"),
    ({"kind": "form", "title": "x", "business": "car-tax", "sheets": 0}, 422, "invalid"),
    ({"kind": "form", "title": "x", "business": "ghost", "sheets": 1}, 422, "unknown_business"),
    ({"kind": "spaceship"}, 422, "invalid"),
])
def test_api_refusals(api, world, body, status, code):
    response = api("registrar").post("/api/v1/items", json=body)
    assert response.status_code == status and response.get_json()["error"]["code"] == code
    assert response.get_json()["error"]["message"]


def test_api_malformed_json_is_400(api, world):
    client = api("registrar")
    response = client.client.post("/api/v1/items", data="{nope", headers={**client.headers,
                                                                          "Content-Type": "application/json"})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "malformed_json"
    assert client.post("/api/v1/items", json=[1, 2]).status_code == 400


def test_api_duplicate_serial_is_409(api, world):
    body = {"kind": "device", "title": "端末", "device_type": "業務端末", "asset_tag": "A-1", "model": "M",
            "serial": "S-1", "lessor": "L", "lease_contract": "C", "lease_start": "2021-04-01",
            "lease_end": "2027-03-31", "location": "市町課", "storage": [{"media_type": "SSD", "serial": "SSD-1"}]}
    assert api("admin").post("/api/v1/items", json=body).status_code == 201
    response = api("admin").post("/api/v1/items", json={**body, "asset_tag": "A-2"})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "duplicate_serial"


def test_api_item_has_its_events_with_hashes(api, world):
    item = form(world["registrar"])
    body = api("registrar").get(f"/api/v1/items/{item.code}").get_json()
    [event] = body["events"]
    assert event["type"] == "item:registered" and event["actor"] == "registrar"
    assert len(event["hash"]) == 64 and event["at"].endswith("+09:00") and event["seq"] >= 1
    assert event["data"]["title"] == item.title
    assert api("registrar2").get(f"/api/v1/items/{item.code}").status_code == 403
    assert api("registrar").get("/api/v1/items/F-1999-000001").status_code == 404


def test_api_listing_filters_and_totals(api, world):
    for _ in range(3):
        form(world["registrar"])
    form(world["registrar2"])
    medium(world["bulk"])
    body = api("auditor").get("/api/v1/items?kind=form&per_page=2").get_json()
    assert body["total"] == 4 and len(body["items"]) == 2
    body = api("auditor").get("/api/v1/items?kind=form&per_page=2&page=2").get_json()
    assert len(body["items"]) == 2
    assert api("auditor").get("/api/v1/items?kind=form&page=9").get_json()["items"] == []
    assert api("registrar").get("/api/v1/items?kind=form").get_json()["total"] == 3
    assert api("auditor").get("/api/v1/items?department=ryoken").get_json()["total"] == 1
    assert api("auditor").get("/api/v1/items").get_json()["total"] == 5


def test_api_listing_overdue_as_of(api, world):
    from lifecycle.custody.services import provide_medium

    item = medium(world["bulk"], due_back=due(5))
    provide_medium(world["bulk"], item.code)
    form(world["registrar"])
    auditor = api("auditor")
    assert auditor.get("/api/v1/items?overdue=true").get_json()["total"] == 0
    body = auditor.get(f"/api/v1/items?overdue=true&as_of={due(6)}").get_json()
    assert [i["code"] for i in body["items"]] == [item.code] and body["items"][0]["overdue"] is True
    body = auditor.get(f"/api/v1/items?overdue=true&as_of={due(40)}").get_json()
    assert body["total"] == 2  # the form's retention has passed by then too


@pytest.mark.parametrize("query", ["kind=usb", "status=nope", "per_page=0", "per_page=201", "page=x",
                                   "page=1_0", "per_page=%206", "as_of=tomorrow", "overdue=perhaps", "sort=;drop"])
def test_api_listing_bad_parameters_are_422(api, world, query):
    response = api("auditor").get(f"/api/v1/items?{query}")
    assert response.status_code == 422 and response.get_json()["error"]["message"]


def test_api_scan(api, world):
    item = form(world["registrar"])
    payload = label_payload(item.code)
    body = api("registrar").get(f"/api/v1/scan/{payload}").get_json()
    assert body["genuine"] is True and body["item"]["code"] == item.code
    forged = api("registrar").get(f"/api/v1/scan/{item.code}.AAAAAAAAAAAAAAAA")
    assert forged.status_code == 404
    body = forged.get_json()
    assert body["genuine"] is False and body["error"]["code"] == "label_forged"
    assert "偽造" in body["error"]["message"]
    assert event_count(EventType.LABEL_FORGED) == 1
    assert api("registrar2").get(f"/api/v1/scan/{payload}").status_code == 403


def test_a_business_added_meanwhile_reads_as_its_name_on_the_next_item_page(client, login, world):
    """Item pages keep the masters' names between requests; a change is seen on the next page."""
    from lifecycle.auth.services import create_business
    login("bulk")
    assert client.get(f"/items/{form(world['bulk']).code}").status_code == 200  # names read and kept
    create_business(world["admin"], "new-tax", "新しい税の事務", "条例第1号")
    item = form(world["bulk"], business="new-tax")
    html = client.get(f"/items/{item.code}").get_data(as_text=True)
    assert "利用事務: 新しい税の事務" in html and "新しい税の事務<span" in html


def test_item_page_of_each_kind_reads_its_masters_from_the_ledger_row(client, login, world):
    """The page shows the row, not the Item object: holder, department and business as words."""
    login("bulk")
    for item, texts in ((form(world["bulk"]), ("自動車税", "市町課", "一括 花子（市町課）", "3枚")),
                        (medium(world["bulk"]), ("旅券の発給に関する事務", "教育委員会", "1,200件")),
                        (device(world["admin"]), ("FMV-D7000", "九州リース株式会社", "記憶装置"))):
        html = client.get(f"/items/{item.code}").get_data(as_text=True)
        for text in texts:
            assert text in html, (item.code, text)
