"""A destruction from selection to witnessed completion, in two real browsers: the registrar
registers and scans two forms into a batch, a security manager witnesses it elsewhere."""
from __future__ import annotations

import re

import pytest

from tests.browser.helpers import register_form

pytestmark = pytest.mark.browser


def test_batch_from_selection_to_witnessed_completion(new_page, live_server):
    registrar = new_page("registrar")
    codes = [register_form(registrar, live_server, f"課税台帳 出力 {n}") for n in (1, 2)]

    # The item page offers the way into a batch; the batch page then takes scans one by one.
    registrar.goto(f"{live_server}/items/{codes[0]}")
    registrar.click("#destruction-panel a:has-text('廃棄を申請する')")
    registrar.wait_for_url(re.compile(r"/destructions\?"))
    registrar.fill("#scan-add", codes[1].lower())  # as a clerk might type it
    registrar.press("#scan-add", "Enter")
    registrar.wait_for_selector(f"#selection >> text={codes[1]}")
    assert registrar.locator("#selection tbody tr").count() == 2
    registrar.select_option("#method", "shred")
    registrar.fill("#place", "税務課 執務室")
    registrar.click("#create-batch button[type=submit]")
    registrar.wait_for_url(re.compile(r"/destructions/\d+$"))
    batch_url = registrar.url
    assert "立会い待ち" in registrar.locator("h1").inner_text()
    assert "立会いを記録" not in registrar.content()  # the performer cannot witness

    witness = new_page("security")
    witness.goto(live_server + "/")
    assert "立会い待ちの廃棄" in witness.locator("#destruction-dashboard").inner_text()
    witness.goto(batch_url)
    witness.on("dialog", lambda dialog: dialog.accept())  # the "cannot be undone" confirmation
    witness.click("#witness-form button[type=submit]")
    witness.wait_for_selector(".flash-success")
    assert "立会いを記録しました" in witness.locator(".flash-success").inner_text()
    assert "完了" in witness.locator("h1").inner_text()
    assert witness.locator("#batch-items").inner_text().count("廃棄済") == 2

    registrar.reload()
    assert "完了" in registrar.locator("h1").inner_text()
    assert "安全 管理子" in registrar.locator("dl.facts").inner_text()
    for code in codes:
        registrar.goto(f"{live_server}/items/{code}")
        assert "廃棄済" in registrar.content()
