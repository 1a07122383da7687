"""The inbox in the header and at /inbox, the same list over the API, and the admin's mail pages."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from lifecycle.clock import utcnow
from lifecycle.custody.services import accept_transfer, request_transfer
from lifecycle.custody.tasks import queue_waiting_transfers
from lifecycle.extensions import db
from lifecycle.notifications import services
from lifecycle.notifications.models import MailPreference, MailSettings
from tests import factories


def header_count(html: str) -> str | None:
    found = re.search(r'href="/inbox">やること(?: \((\d+)\))?</a>', html)
    return found.group(1) if found else None


def test_every_page_shows_how_much_waits_and_the_inbox_lists_it(client, login, world):
    item = factories.form(world["registrar"])
    transfer = request_transfer(world["registrar"], item.code, "security2")
    login("security2")
    assert header_count(client.get("/").get_data(as_text=True)) == "1"
    assert header_count(client.get("/custody").get_data(as_text=True)) == "1"
    page = client.get("/inbox").get_data(as_text=True)
    assert f"引継ぎ 第{transfer.id}号" in page and 'href="/custody"' in page
    accept_transfer(world["security2"], transfer.id)
    assert header_count(client.get("/").get_data(as_text=True)) == "0"
    assert "いま対応を待っているものはありません" in client.get("/inbox").get_data(as_text=True)


def test_the_giver_has_nothing_to_do(client, login, world):
    request_transfer(world["registrar"], factories.form(world["registrar"]).code, "security2")
    login("registrar")
    assert header_count(client.get("/").get_data(as_text=True)) == "0"


def test_the_api_gives_the_same_list(api, world):
    item = factories.form(world["registrar"])
    transfer = request_transfer(world["registrar"], item.code, "security2")
    body = api("security2").get("/api/v1/me/tasks").get_json()
    assert body == {"tasks": [{"kind": "transfer_to_accept", "summary": body["tasks"][0]["summary"],
                               "url": "/custody"}]}
    assert f"第{transfer.id}号" in body["tasks"][0]["summary"]
    assert api("registrar").get("/api/v1/me/tasks").get_json() == {"tasks": []}


def test_the_api_needs_a_token(client, world):
    response = client.get("/api/v1/me/tasks")
    assert response.status_code == 401 and response.get_json()["error"]["message"]


def test_the_endpoint_is_in_the_openapi_document(client, world):
    document = client.get("/api/v1/openapi.json").get_json()
    assert "/me/tasks" in str(document["paths"].keys())


def test_a_person_chooses_digest_only(client, login, world):
    login("registrar")
    response = client.post("/inbox/settings", data={"urgent": "false"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(MailPreference, world["registrar"].id).urgent is False
    assert "まとめメールだけを受け取る" in client.get("/inbox").get_data(as_text=True)


def test_the_admin_sets_smtp_and_the_password_is_never_shown_again(client, login, world, mail_server):
    login("admin")
    password = "Smtp-Pass-9471"
    response = client.post("/admin/mail", data={"host": "127.0.0.1", "port": str(mail_server.port), "username": "",
                                                "password": password, "sender": "lifecycle@pref.example.lg.jp",
                                                "enabled": "on"})
    assert response.status_code == 302
    page = client.get("/admin/mail").get_data(as_text=True)
    assert "登録済みです（表示しません）" in page and password not in page
    assert password not in client.get("/audit/").get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(MailSettings, 1).password_sealed is not None
    # saving again without a password keeps the stored one
    client.post("/admin/mail", data={"host": "127.0.0.1", "port": str(mail_server.port), "password": "",
                                     "sender": "lifecycle@pref.example.lg.jp", "enabled": "on"})
    db.session.expire_all()
    assert services.server().password == password


def test_the_test_button_sends_or_says_why_not_in_japanese(client, login, world, mail_server, configure_mail):
    configure_mail(mail_server)
    login("admin")
    client.post("/admin/mail/test", data={"to": "admin@pref.example.lg.jp"})
    page = client.get("/admin/mail").get_data(as_text=True)
    assert "テストメールを送信しました" in page
    assert [m.rcpt_tos for m in mail_server.received] == [["admin@pref.example.lg.jp"]]
    mail_server.stop()
    client.post("/admin/mail/test", data={"to": "admin@pref.example.lg.jp"})
    page = client.get("/admin/mail").get_data(as_text=True)
    assert "テスト送信に失敗しました" in page and "接続できませんでした" in page


def test_the_admin_records_addresses_and_sees_recent_sends(client, login, world, mail_server, configure_mail):
    configure_mail(mail_server)
    login("admin")
    assert client.post("/admin/mail/addresses", data={"login": "security2", "email": "mamoru@pref.example.lg.jp"}
                       ).status_code == 302
    assert client.post("/admin/mail/addresses", data={"login": "security2", "email": "not an address"}
                       ).status_code == 422
    db.session.expire_all()
    assert world["security2"].email == "mamoru@pref.example.lg.jp"
    request_transfer(world["registrar"], factories.form(world["registrar"]).code, "security2")
    queue_waiting_transfers(utcnow() + timedelta(days=2))
    mail_server.stop()
    services.send_pending()
    page = client.get("/admin/mail").get_data(as_text=True)
    assert "mamoru@pref.example.lg.jp" in page and "送信待ち" in page and "接続できませんでした" in page


def test_only_admins_open_the_mail_pages(client, login, world):
    for who in ("registrar", "security", "auditor", "bulk"):
        login(who)
        assert client.get("/admin/mail").status_code == 403, who
        assert client.get("/admin/mail/addresses").status_code == 403, who
        assert client.post("/admin/mail", data={"host": "x", "sender": "a@b.jp"}).status_code == 403, who
        client.post("/logout")
    assert db.session.scalar(select(MailSettings)) is None
