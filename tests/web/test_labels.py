"""Label PDFs: one label, a sheet from the ledger (form post) or from a script (JSON), who may
print what, and that every printed label is in the audit log."""
from __future__ import annotations

import io
import shutil
import subprocess

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from lifecycle.audit.events import EventType
from lifecycle.audit.models import AuditEvent
from lifecycle.extensions import db
from lifecycle.items.schemas import qr_url
from tests.factories import form, medium


def printed(code: str | None = None) -> int:
    db.session.rollback()
    query = select(func.count()).select_from(AuditEvent).where(AuditEvent.type == EventType.LABEL_PRINTED.value)
    if code:
        query = query.where(AuditEvent.subject == code)
    return db.session.scalar(query)


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_one_label_is_a_pdf_and_an_audit_event(client, login, world):
    item = form(world["registrar"], title="課税台帳 令和8年度")
    login("registrar")
    response = client.get(f"/labels/{item.code}.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF") and "inline" in response.headers["Content-Disposition"]
    text = pdf_text(response.data)
    assert item.code in text and "課税台帳" in text and "税務課" in text
    assert printed(item.code) == 1
    assert "ラベル印刷" in client.get(f"/items/{item.code}").get_data(as_text=True)


def test_layout_can_be_chosen_and_an_unknown_one_is_refused(client, login, world):
    item = form(world["registrar"])
    login("registrar")
    roll = client.get(f"/labels/{item.code}.pdf?layout=roll-62mm")
    box = PdfReader(io.BytesIO(roll.data)).pages[0].mediabox
    assert round(float(box.width) / 72 * 25.4) == 62
    response = client.get(f"/labels/{item.code}.pdf?layout=a3-99", headers={"Referer": f"http://localhost/items/{item.code}"})
    assert response.status_code == 302
    assert "ラベルの様式「a3-99」はありません" in client.get(f"/items/{item.code}").get_data(as_text=True)
    assert printed(item.code) == 1


def test_another_departments_label_is_forbidden(client, login, world):
    item = form(world["registrar2"])
    login("registrar")
    response = client.get(f"/labels/{item.code}.pdf")
    assert response.status_code == 403 and "他の所属" in response.get_data(as_text=True)
    assert printed() == 0


def test_unknown_item_is_a_404(client, login, world):
    login("registrar")
    assert client.get("/labels/F-1999-000001.pdf").status_code == 404


def test_labels_need_a_login(client, world):
    item = form(world["registrar"])
    response = client.get(f"/labels/{item.code}.pdf")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.post("/labels/sheet.pdf", json={"codes": [item.code]}).status_code == 401
    assert printed() == 0


def test_sheet_from_the_ledger_form(client, login, world):
    items = [form(world["registrar"]) for _ in range(13)]
    login("registrar")
    response = client.post("/labels/sheet.pdf", data={"codes": [i.code for i in items], "layout": "a4-12"})
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert len(PdfReader(io.BytesIO(response.data)).pages) == 2  # 12 a page
    assert printed() == 13


def test_sheet_with_nothing_ticked_goes_back_with_a_message(client, login, world):
    login("registrar")
    response = client.post("/labels/sheet.pdf", data={"layout": "a4-12"},
                           headers={"Referer": "http://localhost/items?kind=form"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/items?kind=form")
    assert "チェックを付けて" in client.get("/items?kind=form").get_data(as_text=True)


def test_sheet_as_json_with_a_bearer_token(api, world):
    items = [form(world["registrar"]), form(world["registrar"])]
    response = api("registrar").post("/labels/sheet.pdf", json={"codes": [i.code for i in items],
                                                                "layout": "roll-62mm"})
    assert response.status_code == 200 and response.data.startswith(b"%PDF")
    assert len(PdfReader(io.BytesIO(response.data)).pages) == 2
    assert printed() == 2


@pytest.mark.parametrize("body,status,code", [
    ({"codes": []}, 422, "no_codes"),
    ({"codes": "F-1"}, 404, "unknown_item"),
    ({"codes": [1, 2]}, 422, "invalid"),
    ({"codes": None}, 422, "no_codes"),
    ({"codes": ["F-1999-000001"]}, 404, "unknown_item"),
    ({"codes": ["X"] * 3 + [f"F-2026-{n:06d}" for n in range(1, 1002)]}, 422, "too_many_labels"),
    ({"codes": ["<own>"], "layout": "no-such"}, 422, "unknown_layout"),
    ({"codes": ["<own>"], "layout": 12}, 422, "unknown_layout"),
    ({"codes": ["<own>", "<other>"]}, 403, "forbidden"),
])
def test_sheet_refusals_are_json_and_print_nothing(api, world, body, status, code):
    own, other = form(world["registrar"]), form(world["registrar2"])
    codes = body.get("codes")
    if isinstance(codes, list):
        body = {**body, "codes": [own.code if c == "<own>" else other.code if c == "<other>" else c for c in codes]}
    response = api("registrar").post("/labels/sheet.pdf", json=body)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == code and response.get_json()["error"]["message"]
    assert printed() == 0


def test_sheet_with_a_bad_token_is_401(client, world):
    response = client.post("/labels/sheet.pdf", json={"codes": ["F-2026-000001"]},
                           headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthenticated"


def test_session_post_needs_the_csrf_token(app, client, login, world):
    item = form(world["registrar"])
    login("registrar")
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        response = client.post("/labels/sheet.pdf", data={"codes": [item.code]})
        assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True)
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert printed() == 0


def test_the_ledger_page_posts_a_csrf_token_with_the_sheet(app, client, world):
    """With CSRF on (as in production), the ledger's own form is accepted."""
    import re

    from lifecycle.seeds import DEMO_PASSWORD
    item = form(world["registrar"])
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"', page)
        token = token.group(1) or token.group(2)
        assert client.post("/login", data={"login": "registrar", "password": DEMO_PASSWORD,
                                           "csrf_token": token}).status_code == 302
        # The app fixture keeps one app context (and so one `g`) for the whole test; a real
        # request has its own, so drop the token cached in g before the login's session.clear().
        from flask import g
        g.pop("csrf_token", None)
        ledger = client.get("/items?kind=form").get_data(as_text=True)
        token = re.search(r'<form method="post" action="/labels/sheet.pdf"[^>]*>\s*<input type="hidden" name="csrf_token" value="([^"]+)"', ledger).group(1)
        response = client.post("/labels/sheet.pdf", data={"codes": [item.code], "layout": "a4-12", "csrf_token": token})
        assert response.status_code == 200 and response.data.startswith(b"%PDF"), response.get_data(as_text=True)[-1500:]
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_bulk_operator_prints_media_labels(client, login, world):
    item = medium(world["bulk"])
    login("bulk")
    response = client.get(f"/labels/{item.code}.pdf")
    assert response.status_code == 200 and "媒体" in pdf_text(response.data)


@pytest.mark.skipif(not shutil.which("pdftoppm"), reason="pdftoppm (poppler-utils) is not installed")
def test_the_qr_code_carries_the_signed_scan_url(client, login, world, tmp_path):
    pyzbar = pytest.importorskip("pyzbar.pyzbar", reason="pyzbar / libzbar is not installed")
    from PIL import Image

    item = form(world["registrar"])
    login("registrar")
    (tmp_path / "label.pdf").write_bytes(client.get(f"/labels/{item.code}.pdf?layout=roll-62mm").data)
    subprocess.run(["pdftoppm", "-r", "300", "-png", str(tmp_path / "label.pdf"), str(tmp_path / "page")], check=True)
    image = Image.open(next(tmp_path.glob("page*.png")))
    found = [s.data.decode() for s in pyzbar.decode(image) if s.type == "QRCODE"]
    assert found == [qr_url(item.code)]
    assert found[0].startswith("http://lifecycle.test/s/" + item.code + ".")
    response = client.get(found[0].removeprefix("http://lifecycle.test"))
    assert response.headers["Location"] == f"/items/{item.code}"


@pytest.mark.parametrize("who, status", [("registrar", 200), ("bulk", 200), ("security", 200), ("admin", 200),
                                         ("auditor", 403)])
def test_the_roles_that_handle_items_print_labels_and_the_auditor_does_not(client, login, world, who, status):
    item = form(world["registrar"])
    login(who)
    response = client.get(f"/labels/{item.code}.pdf")
    assert response.status_code == status
    assert printed(item.code) == (1 if status == 200 else 0)


def test_the_auditor_prints_no_label_of_any_department_by_any_way(app, client, login, api, world):
    """The auditor sees every department's items; a printed label is genuine (HMAC-tagged)."""
    items = [form(world["registrar"]), form(world["registrar2"]), medium(world["bulk"])]
    codes = [item.code for item in items]
    by_token = api("auditor").post("/labels/sheet.pdf", json={"codes": codes})
    assert by_token.status_code == 403 and b"%PDF" not in by_token.data
    assert "監査担当は閲覧のみ" in by_token.get_json()["error"]["message"]
    login("auditor")
    for code in codes:
        page = client.get(f"/labels/{code}.pdf")
        assert page.status_code == 403 and "監査担当は閲覧のみ" in page.get_data(as_text=True)
    sheet = client.post("/labels/sheet.pdf", data={"codes": codes, "layout": "a4-12"})
    assert sheet.status_code == 403 and b"%PDF" not in sheet.data
    assert printed() == 0


@pytest.mark.parametrize("who, shown", [("registrar", True), ("auditor", False)])
def test_print_buttons_are_offered_only_to_those_who_may_print(client, login, world, who, shown):
    item = form(world["registrar"])
    login(who)
    assert ('id="print-label"' in client.get(f"/items/{item.code}").get_data(as_text=True)) is shown
    assert ("チェックしたもののラベルを印刷" in client.get("/items?kind=form").get_data(as_text=True)) is shown
