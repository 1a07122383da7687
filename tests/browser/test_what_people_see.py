"""Forms and printing in a real browser: every error at once with the values kept, the reason
asked when a hand-off is sent back, and a label sheet started part-way down a used sheet."""
from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from tests.browser.helpers import register_form

pytestmark = pytest.mark.browser

MY_NUMBER = "123456789018"


def test_registration_shows_every_error_at_once_beside_its_field(new_page, live_server):
    page = new_page("registrar")
    page.goto(live_server + "/items/new?kind=form")
    assert page.locator("label[for=title] .required").inner_text() == "必須"
    assert page.locator("#title").get_attribute("aria-required") == "true"
    page.fill("#title", "")
    page.fill("#sheets", "0")
    page.fill("#location", "書庫A-3")
    page.click("form.form-grid button[type=submit]")
    page.wait_for_selector(".field.has-error")
    errors = page.locator(".field.has-error")
    assert errors.count() >= 2  # the title and the sheets, together (the business may be prefilled)
    assert "件名" in page.locator(".field.has-error:has(#title) .error").inner_text()
    assert "1から" in page.locator(".field.has-error:has(#sheets) .error").inner_text()
    assert page.input_value("#sheets") == "0" and page.input_value("#location") == "書庫A-3"


def test_a_refused_hand_off_keeps_the_receiver_and_the_note(new_page, live_server):
    page = new_page("registrar")
    code = register_form(page, live_server, "自動車税 督促状 控え")
    page.goto(f"{live_server}/items/{code}")
    page.select_option("#handoff select[name=to]", "registrar2")
    note = f"書庫へ 番号 {MY_NUMBER}"
    page.fill("#handoff textarea[name=note]", note)
    page.click("#handoff button[data-action=transfer]")
    page.wait_for_selector("#handoff .field.has-error")
    assert "個人番号と思われる" in page.locator(".field.has-error:has(#note) .error").inner_text()
    assert page.input_value("#handoff select[name=to]") == "registrar2"
    assert page.input_value("#handoff textarea[name=note]") == note
    assert "引継ぎ中" not in page.locator("h1").inner_text()


def test_sending_a_hand_off_back_asks_for_and_records_the_reason(new_page, live_server):
    giver = new_page("registrar")
    code = register_form(giver, live_server, "自動車税 還付通知 控え")
    giver.goto(f"{live_server}/items/{code}")
    giver.select_option("#handoff select[name=to]", "registrar2")
    giver.click("#handoff button[data-action=transfer]")
    giver.wait_for_selector(".flash-success")

    receiver = new_page("registrar2")
    receiver.on("dialog", lambda dialog: dialog.accept())  # the 差戻し button asks once more
    receiver.goto(live_server + "/custody")
    row = receiver.locator(f"tr:has(a:text-is('{code}'))").first
    reason = row.locator("input[name=reason]")
    assert reason.get_attribute("placeholder") == "差戻しの理由"
    assert receiver.locator(f"label[for='{reason.get_attribute('id')}']").count() == 1  # a real label
    reason.fill("担当外の帳票のため")
    row.locator("button[data-action=reject]").click()
    receiver.wait_for_selector(".flash-success")
    assert "差し戻しました" in receiver.locator(".flash-success").inner_text()
    assert "担当外の帳票のため" in receiver.locator("table.grid").last.inner_text()

    giver.goto(f"{live_server}/items/{code}")
    assert "担当外の帳票のため" in giver.locator("table.timeline").inner_text()


def test_a_label_sheet_starts_where_the_used_sheet_left_off(new_page, live_server):
    page = new_page("registrar")
    codes = [register_form(page, live_server, f"自動車税 ラベル開始位置 {n}") for n in range(2)]
    page.goto(live_server + "/items?kind=form&q=ラベル開始位置")
    for code in codes:
        page.check(f"input[name=codes][value='{code}']")
    page.select_option("#layout", "a4-12")
    page.fill("#start", "12")
    # The form opens the PDF in a new tab; the test passes the server's answer through and keeps it.
    received = []

    def keep(route):
        response = route.fetch()
        received.append(response.body())
        route.fulfill(response=response)

    page.context.route("**/labels/sheet.pdf", keep)
    page.click(".print-bar button[type=submit]")
    page.wait_for_timeout(100)
    for _ in range(100):
        if received:
            break
        page.wait_for_timeout(100)
    pdf = PdfReader(io.BytesIO(received[0]))
    assert len(pdf.pages) == 2  # position 12 of the first sheet, then position 1 of the next
    first, second = (p.extract_text() for p in pdf.pages)
    assert len(re.findall(r"F-\d{4}-\d{6}", first)) == 1 and len(re.findall(r"F-\d{4}-\d{6}", second)) == 1
