"""What a first tour shows, in the demo world: items in every state, and people by name with
their department (never by login ID) in pages, PDFs and CSVs."""
from __future__ import annotations

import io
import json
import re

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from lifecycle.auditlog import describe
from lifecycle.audit.models import AuditEvent
from lifecycle.destruction.models import DestructionBatchItem
from lifecycle.extensions import db
from lifecycle.items.models import Item
from lifecycle.mynumber.models import MyNumberCopy
from lifecycle.seeds import USERS, load_demo_items

LOGINS = [login for login, *_ in USERS]
#: A login as a word of its own (registrar inside registrar2 is the other login, not this one;
#: /admin/users in a recorded path is an address).
LOGIN_WORD = re.compile(r"(?<![A-Za-z0-9_.\-/])(" + "|".join(sorted(map(re.escape, LOGINS), key=len, reverse=True))
                        + r")(?![A-Za-z0-9_.\-])")


@pytest.fixture
def demo(world):
    """The demo world of `lifecycle demo`: the masters and users, then the sample items."""
    codes = load_demo_items()
    db.session.expire_all()
    items = {item.title: item for item in db.session.scalars(select(Item).where(Item.code.in_(codes)))}
    return {"codes": codes, "items": items, "users": world}


def _item(demo, words: str) -> Item:
    return next(item for title, item in demo["items"].items() if words in title)


def visible_text(html: str) -> str:
    """What a person reads: no tags or attributes, and not the stored JSON behind 詳細."""
    html = re.sub(r'<details class="raw">.*?</details>', " ", html, flags=re.S)
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def assert_no_login(text: str, where: str) -> None:
    found = sorted({m.group(1) for m in LOGIN_WORD.finditer(text)})
    assert not found, f"{where} shows login IDs {found} where names belong"


# --- the demo data --------------------------------------------------------------------------

def test_demo_items_cover_every_state(demo):
    statuses = set(db.session.scalars(select(Item.status)))
    assert statuses >= {"registered", "in_custody", "in_transfer", "awaiting_destruction", "destroyed",
                        "provided", "returned", "in_service", "erasure_requested"}
    (copy,) = db.session.scalars(select(MyNumberCopy)).all()
    assert copy.status == "retained"
    actors = set(db.session.scalars(select(AuditEvent.actor).where(AuditEvent.subject.in_(demo["codes"]))))
    assert {"registrar", "registrar2", "security2", "bulk"} <= actors  # the demo users did it, not "system"


def test_demo_if_empty_loads_once(runner):
    first = runner.invoke(args=["demo", "--if-empty"])
    assert first.exit_code == 0, first.output
    count = db.session.scalar(select(func.count(Item.id)))
    assert count >= 10
    second = runner.invoke(args=["demo", "--if-empty"])
    assert second.exit_code == 0 and "読み込みませんでした" in second.output
    again = runner.invoke(args=["demo"])  # without the flag: masters completed, no second set of items
    assert again.exit_code == 0, again.output
    assert db.session.scalar(select(func.count(Item.id))) == count


def test_demo_names_are_the_person_s_only(world):
    for _login, name, _department, _roles in USERS:
        assert "（" not in name and "課長" not in name


def test_header_shows_name_and_department_once(client, login, demo):
    login("admin")
    body = client.get("/").get_data(as_text=True)
    assert "市町 太郎（市町課）" in body and "市町課長" not in body


@pytest.mark.parametrize("who, expected", [
    ("registrar", ["F-2026-", "相手の受領待ち", "期限超過 1件"]),
    ("registrar2", ["受領待ち（あなた宛て） 1 件", "登録 一郎（税務課）から"]),
    ("bulk", ["提供中 1件", "消去依頼中 1件", "個人番号の一時保存"]),
    ("security", ["立会い待ちの廃棄", "保存期限を過ぎても廃棄されていない帳票・媒体 1 件"]),
    ("security2", ["立会い待ちの廃棄"]),
    ("auditor", ["保存期限を過ぎても廃棄されていない帳票・媒体 1 件"]),
    ("admin", ["リース満了が近い機器"]),
])
def test_first_tour_of_every_role_shows_a_populated_home_and_ledger(client, login, demo, who, expected):
    login(who)
    home = re.sub(r"\s+", " ", visible_text(client.get("/").get_data(as_text=True)))
    for word in expected:
        assert word in home, (who, word, home[:2000])
    ledger = client.get("/items?kind=form").get_data(as_text=True)
    assert "F-" in visible_text(ledger)


def test_exceptions_list_is_populated_and_labelled_by_what_it_holds(client, login, demo):
    login("auditor")
    body = visible_text(client.get("/reports/exceptions").get_data(as_text=True))
    assert "保存期限超過の帳票（1件）" in body
    assert _item(demo, "期限超過").code in body


# --- names, not login IDs -------------------------------------------------------------------

def test_item_pages_name_people_with_their_departments(client, login, demo):
    login("auditor")
    handed = _item(demo, "旅券 住民票照会結果")
    body = client.get(f"/items/{handed.code}").get_data(as_text=True)
    text = visible_text(body)
    assert_no_login(text, "the item page")
    assert "旅券 二郎（旅券センター）" in text and "登録 一郎（税務課）" in text
    assert "引継ぎ元: 旅券 二郎（旅券センター）" in text
    assert '<details class="raw"><summary>詳細</summary>' in body  # the hashed JSON, one click away
    destroyed = _item(demo, "令和7年度")
    text = visible_text(client.get(f"/items/{destroyed.code}").get_data(as_text=True))
    assert_no_login(text, "a destroyed item's page")
    assert "保護 守（税務課）" in text and "方法: 裁断（シュレッダー）" in text


def test_the_audit_log_reads_in_words(client, login, demo):
    login("auditor")
    body = client.get("/audit/").get_data(as_text=True)
    text = visible_text(body)
    assert_no_login(text, "the audit log")
    assert "利用者 監査 正（市町課）" in text  # the auditor's own sign-in
    assert "個人番号の一時保存 No." in text
    assert "管理番号 F-" in text
    assert "登録 一郎（税務課）" in text and "旅券 二郎（旅券センター）" in text
    assert "{&#34;" not in text and '{"' not in text  # raw JSON only behind 詳細


def test_the_custody_pdf_names_people(client, login, demo):
    login("auditor")
    for words in ("旅券 住民票照会結果", "令和7年度"):
        item = _item(demo, words)
        response = client.get(f"/reports/custody/{item.code}.pdf")
        assert response.status_code == 200
        text = pdf_text(response.data)
        assert_no_login(text, f"the custody PDF of {item.code}")
        assert "batch:" not in text and "layout:" not in text
    handed = pdf_text(client.get(f"/reports/custody/{_item(demo, '旅券 住民票照会結果').code}.pdf").data)
    assert "旅券 二郎" in handed and "登録 一郎" in handed
    destroyed = pdf_text(client.get(f"/reports/custody/{_item(demo, '令和7年度').code}.pdf").data)
    assert "保護 守" in destroyed


def test_the_ledger_csv_names_holders(client, login, demo):
    login("auditor")
    text = client.get("/reports/ledger.csv?kind=form").get_data().decode("utf-8-sig", errors="replace")
    assert_no_login(text, "the ledger CSV")
    assert "登録 一郎" in text


def test_the_destruction_pages_name_performer_and_witness(client, login, demo):
    login("auditor")
    destroyed = _item(demo, "令和7年度")
    (batch_id,) = db.session.scalars(select(DestructionBatchItem.batch_id)
                                     .where(DestructionBatchItem.item_id == destroyed.id)).all()
    text = visible_text(client.get(f"/destructions/{batch_id}").get_data(as_text=True))
    assert_no_login(text, "the destruction batch page")
    assert "登録 一郎（税務課）" in text and "保護 守（税務課）" in text
    pdf = pdf_text(client.get(f"/reports/destruction/{batch_id}.pdf").data)
    assert_no_login(pdf, "the destruction record PDF")
    assert "保護 守" in pdf


# --- every key recorded is declared -----------------------------------------------------------

def test_every_key_recorded_in_a_full_world_is_declared(client, login, demo):
    """The demo world, and the reports pulled on top of it (their keys come from the views)."""
    login("auditor")
    for path in ("/reports/ledger.csv?kind=form", "/reports/ledger.pdf?kind=medium&from=2026-01-01",
                 "/reports/exceptions.pdf", "/reports/statistics.csv",
                 f"/reports/custody/{demo['codes'][1]}.pdf", f"/reports/custody/{demo['codes'][1]}.json"):
        assert client.get(path).status_code == 200, path
    events = db.session.execute(select(AuditEvent.type, AuditEvent.data)).all()
    assert {"report:generated", "custody:accepted", "item:destroyed", "mynumber:retained"} <= {t for t, _ in events}
    undeclared = {(type_, key) for type_, data in events for key in describe.undeclared_keys(type_, json.loads(data))}
    assert not undeclared, f"keys without a Japanese label in lifecycle/auditlog/describe.py: {sorted(undeclared)}"


def test_a_cancelled_batch_and_an_early_purge_name_who_did_them(client, login, demo):
    from lifecycle.destruction import services as destruction
    from lifecycle.mynumber import services as mynumber

    users = demo["users"]
    waiting = _item(demo, "廃棄予定")
    (batch_id,) = db.session.scalars(select(DestructionBatchItem.batch_id)
                                     .where(DestructionBatchItem.item_id == waiting.id)).all()
    destruction.cancel_batch(users["registrar"], batch_id, "対象の誤り")
    (copy,) = db.session.scalars(select(MyNumberCopy)).all()
    mynumber.purge_copy(users["bulk"], copy.id, "照会が終わったため")
    login("security")
    for path in (f"/destructions/{batch_id}", "/destructions", "/my-number-copies", f"/my-number-copies/{copy.id}"):
        response = client.get(path)
        assert response.status_code in (200, 410), path
        text = visible_text(response.get_data(as_text=True))
        assert_no_login(text, path)
        assert "登録 一郎（税務課）" in text or "一括 花子（市町課）" in text, path


def test_the_audit_log_is_filtered_by_a_person_chosen_by_name(client, login, demo):
    login("auditor")
    body = client.get("/audit/").get_data(as_text=True)
    assert '<option value="registrar2">旅券 二郎（旅券センター）</option>' in body
    assert "システム（自動処理）" in body and "実施者（ログインID）" not in body
    text = re.sub(r"\s+", " ", visible_text(client.get("/audit/?actor=registrar2").get_data(as_text=True)))
    rows = re.findall(r"令和\d+年\d+月\d+日 \d+時\d+分 \S+ (\S+ \S+)", text)
    assert rows and set(rows) == {"旅券 二郎（旅券センター）"}


#: Where an administrator needs the login: the account pages and the mail address book.
ADMIN_PAGES = ("/admin/users", "/admin/mail")


@pytest.mark.parametrize("who", ["registrar", "bulk", "auditor", "admin"])
def test_no_page_of_the_first_tour_shows_a_login_where_a_name_belongs(app, client, login, demo, who):
    """Every page without parameters, and every demo item's page, as each kind of user sees it."""
    login(who)
    shown = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.arguments - {"code"} or rule.rule.startswith(("/api", "/static")):
            continue
        if rule.rule.startswith(ADMIN_PAGES) or re.search(r"\.(pdf|csv|json|zip)$|logout|/file", rule.rule):
            continue
        paths = [rule.rule.replace("<code>", code) for code in demo["codes"]] if rule.arguments else [rule.rule]
        for path in paths:
            response = client.get(path)
            if response.status_code == 200 and response.mimetype == "text/html":
                shown.append(path)
                assert_no_login(visible_text(response.get_data(as_text=True)), f"{path} (as {who})")
    assert len(shown) > 10
