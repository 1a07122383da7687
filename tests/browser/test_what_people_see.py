"""Forms and printing in a real browser: every error at once with the values kept, the reason
asked when a hand-off is sent back, and a label sheet started part-way down a used sheet."""
from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from tests.browser.helpers import register_form
from tests.browser.test_accessibility import _axe_source, _violations

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
    assert reason.get_attribute("placeholder") == "差戻しの理由（必須）"
    label = receiver.locator(f"label[for='{reason.get_attribute('id')}']")
    assert label.count() == 1 and "必須" in label.inner_text()  # a real label, with the mark
    # Sent back without a reason: refused, told beside the field, and the hand-off still waits.
    row.locator("button[data-action=reject]").click()
    receiver.wait_for_selector(".field.has-error")
    row = receiver.locator(f"tr:has(a:text-is('{code}'))").first
    assert "差戻しの理由を入力してください" in row.locator(".error").inner_text()
    reason = row.locator("input[name=reason]")
    assert reason.get_attribute("aria-invalid") == "true"
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


def test_the_contractor_register_shows_every_error_at_once_beside_its_field(new_page, live_server):
    page = new_page("admin")
    page.goto(live_server + "/contractors")
    registered = page.locator("#contractors tbody tr").count()
    form = page.locator("#register-contractor")
    assert form.get_attribute("novalidate") is not None  # the browser does not stop at the first field
    assert form.locator("label[for=name] .required").inner_text() == "必須"
    assert "必須" in form.locator("fieldset#services legend").inner_text()
    page.fill("#number", "K-2027-01")
    page.fill("#start", "2027-04-01")
    page.fill("#end", "2027-03-31")
    page.check("#clauses input[value=confidentiality]")
    page.click("#register-contractor button[type=submit]")
    page.wait_for_selector("#register-contractor .has-error")

    # Every refusal at once, each beside its field and named by it to assistive technology.
    for control, words in (("#name", "委託先の名称を入力してください"), ("#end", "契約終了日は契約開始日以降")):
        described = page.get_attribute(control, "aria-describedby")
        assert page.get_attribute(control, "aria-invalid") == "true"
        assert words in page.locator(f"#{described}").inner_text()
    assert "委託業務を1つ以上選んでください" in page.locator("fieldset#services .error").inner_text()
    assert page.locator("#register-contractor .has-error").count() == 3
    # What was typed and ticked is still there; nothing was registered.
    assert page.input_value("#number") == "K-2027-01"
    assert page.input_value("#start") == "2027-04-01" and page.input_value("#end") == "2027-03-31"
    assert page.is_checked("#clauses input[value=confidentiality]")
    assert page.locator("#contractors tbody tr").count() == registered
    assert _violations(page, _axe_source()) == []  # the page of errors passes axe-core as every page does

    # Mended, it registers.
    page.fill("#name", "県北データ消去株式会社")
    page.check("#services input[value=erasure]")
    page.fill("#end", "2028-03-31")
    page.click("#register-contractor button[type=submit]")
    page.wait_for_selector(".flash-success")
    assert "県北データ消去株式会社" in page.locator("h1").inner_text()
