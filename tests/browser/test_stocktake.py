"""A 棚卸 in a real browser: the security manager plans it, the registrar scans with a
keyboard-wedge reader (the payload typed, then Enter) and sees each outcome at once in colour and
text, hears a tone of its own pitch (Web Audio), and the running count follows."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from tests.browser.helpers import register_form

pytestmark = pytest.mark.browser

#: Records the pitch of every oscillator the page starts, so the test can tell the tones apart.
RECORD_TONES = """
window.__tones = [];
const Original = window.AudioContext;
if (Original) {
  const create = Original.prototype.createOscillator;
  Original.prototype.createOscillator = function () {
    const osc = create.call(this);
    const start = osc.start.bind(osc);
    osc.start = (when) => { window.__tones.push(osc.frequency.value); return start(when); };
    return osc;
  };
}
"""


def _count(page, name: str) -> int:
    return int(page.locator(f"[data-count={name}]").inner_text())


def _scan(page, text: str, outcome: str) -> str:
    box = page.locator("#stocktake-scan-input")
    box.focus()
    page.keyboard.type(text, delay=5)  # a wedge reader types the payload …
    page.keyboard.press("Enter")  # … and ends with Enter
    page.wait_for_selector(f"#scan-outcome[data-outcome={outcome}]")
    page.wait_for_function("() => document.querySelector('#scan-log').children.length > 0")
    return page.locator("#scan-outcome").inner_text()


def test_plan_and_scan_with_a_keyboard_wedge(new_page, live_server):
    registrar = new_page("registrar")
    code = register_form(registrar, live_server, "自動車税 棚卸テスト用 控え")

    manager = new_page("security2")
    manager.goto(live_server + "/stocktakes")
    manager.select_option("#department", "zeimu")
    manager.uncheck("input[name=kinds][value=medium]")
    manager.fill("#due", (date.today() + timedelta(days=7)).isoformat())
    manager.fill("#scanners", "registrar")
    manager.click("#plan-stocktake button[type=submit]")
    manager.wait_for_url(re.compile(r"/stocktakes/\d+$"))
    url = manager.url

    registrar.add_init_script(RECORD_TONES)
    registrar.goto(url)
    assert registrar.evaluate("document.activeElement.id") == "stocktake-scan-input"  # ready for the reader
    expected, confirmed = _count(registrar, "expected"), _count(registrar, "confirmed")
    assert expected >= 1

    text = _scan(registrar, code, "confirmed")
    assert "確認" in text and code in text
    assert _count(registrar, "confirmed") == confirmed + 1
    assert _count(registrar, "remaining") == expected - confirmed - 1

    again = _scan(registrar, code, "duplicate")
    assert "読取り済み" in again and _count(registrar, "confirmed") == confirmed + 1

    unknown = _scan(registrar, "F-2026-999999", "unknown")
    assert "台帳にない" in unknown
    colour = registrar.evaluate("getComputedStyle(document.querySelector('#scan-outcome')).backgroundColor")
    assert colour == "rgb(253, 226, 225)"  # red for 台帳にない, with its text beside it

    tones = registrar.evaluate("window.__tones")
    assert tones[:1] == [880] and 520 in tones and 330 in tones  # one pitch per outcome
    log = registrar.locator("#scan-log").inner_text()
    assert log.count("確認") >= 1 and "台帳にない" in log

    # The page after reload shows the scans in the stocktake's record.
    registrar.reload()
    assert "F-2026-999999" in registrar.locator("#stocktake-scans").inner_text()


def test_cancel_a_stocktake_with_a_reason(new_page, live_server):
    manager = new_page("security2")
    manager.goto(live_server + "/stocktakes")
    manager.select_option("#department", "zeimu")
    manager.fill("#location", "税務課 中止テスト用の棚")
    manager.fill("#due", (date.today() + timedelta(days=7)).isoformat())
    manager.click("#plan-stocktake button[type=submit]")
    manager.wait_for_url(re.compile(r"/stocktakes/\d+$"))
    number = manager.url.rsplit("/", 1)[1]

    manager.on("dialog", lambda dialog: dialog.accept())  # 元に戻せません: asked once more
    manager.fill("#cancel-reason", "書庫の改修のため延期")
    manager.click("#stocktake-cancel button[type=submit]")
    manager.wait_for_selector("#stocktake-cancelled")
    assert manager.locator("#stocktake-status").inner_text() == "中止"
    assert "理由: 書庫の改修のため延期" in manager.locator("#stocktake-cancelled").inner_text()
    assert manager.locator("#stocktake-scan-input").count() == 0 and manager.locator("#stocktake-close").count() == 0

    auditor = new_page("auditor")
    auditor.goto(live_server + "/stocktakes")
    row = auditor.locator("#stocktakes tr", has_text=f"第{number}号")
    assert "中止" in row.inner_text()
