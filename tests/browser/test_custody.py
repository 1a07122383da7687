"""A two-sided hand-off in two real browsers: the registrar of 税務課 hands a form over, the
registrar of 旅券センター sees it on the dashboard, scans the label and accepts it."""
from __future__ import annotations

import re

import pytest

from tests.browser.helpers import register_form

pytestmark = pytest.mark.browser


def my_items_total(page, base: str) -> int:
    page.goto(base + "/")
    panel = page.locator("section[aria-labelledby=panel-mine]")
    counter = panel.locator(".count")
    return int(counter.inner_text()) if counter.count() else 0


def test_hand_over_seen_on_the_dashboard_and_accepted_by_scan(new_page, live_server):
    giver = new_page("registrar")
    code = register_form(giver, live_server, "自動車税 納税通知書 控え")
    held_before = my_items_total(giver, live_server)

    giver.goto(f"{live_server}/items/{code}")
    giver.select_option("#handoff select[name=to]", "registrar2")
    giver.fill("#handoff textarea[name=note]", "旅券センターへ移管")
    giver.click("#handoff button[data-action=transfer]")
    giver.wait_for_selector(".flash-success")
    assert "引き継ぎました" in giver.locator(".flash-success").inner_text()
    assert "引継ぎ中" in giver.locator("h1").inner_text()
    assert "受領を待っています" in giver.locator("#handoff").inner_text()

    receiver = new_page("registrar2")
    receiver.goto(live_server + "/")
    incoming = receiver.locator("#panel-handoffs .incoming").inner_text()
    assert code in incoming and "登録 一郎" in incoming

    # The label is scanned (or the code typed) into the scan box: the item page offers 受領.
    receiver.fill("#scan-input", code)
    receiver.press("#scan-input", "Enter")
    receiver.wait_for_url(re.compile(rf"/items/{code}$"))
    receiver.click("#handoff button[data-action=accept]")
    receiver.wait_for_selector(".flash-success")
    assert "受領しました" in receiver.locator(".flash-success").inner_text()
    assert "保管中" in receiver.locator("h1").inner_text()
    facts = receiver.locator("dl.facts").inner_text()
    assert "旅券 二郎" in facts and "旅券センター" in facts
    receiver.goto(live_server + "/")
    assert code not in receiver.locator("#panel-handoffs").inner_text()

    # For the giver the form is gone from "my items" and from the pending hand-offs.
    assert my_items_total(giver, live_server) == held_before - 1
    assert code not in giver.locator("#panel-handoffs").inner_text()
