"""A 使用伺い in two real browsers: 登録 一郎 asks to use the 税務課 terminal, 保護 守 approves it
with the pre-use check, the form printed in that session is registered under it, and the end of
use is recorded."""
from __future__ import annotations

import re

import pytest

from lifecycle.clock import today_jst

pytestmark = pytest.mark.browser


def test_request_approve_register_and_close(new_page, live_server):
    today = today_jst().isoformat()
    user = new_page("registrar")
    user.goto(f"{live_server}/terminals/ZEIMU-CS01")
    user.select_option("#r-business", "car-tax")
    user.fill("#r-starts_at", f"{today}T00:10")
    user.fill("#r-ends_at", f"{today}T23:50")
    user.fill("#r-purpose", "課税台帳の照会（ブラウザ試験）")
    user.click("#request-use button[type=submit]")
    user.wait_for_url(re.compile(r"/terminal-uses/\d+$"))
    use_url = user.url
    assert "承認待ち" in user.locator("h1").inner_text()

    manager = new_page("security2")
    manager.goto(live_server + "/inbox")
    assert "課税台帳" not in manager.content()  # tasks name numbers and people, not purposes
    manager.goto(use_url)
    manager.click("#approve-use button[type=submit]")  # without the check: told beside the box
    assert "持込みがないことを確認し" in manager.locator("#no_camera_phone_usb-error").inner_text()
    manager.check("#approve-use input[name=no_camera_phone_usb]")
    manager.click("#approve-use button[type=submit]")
    manager.wait_for_selector(".flash-success")
    assert "承認済" in manager.locator("h1").inner_text()

    user.goto(use_url)
    user.click("text=この使用で出力した帳票を登録する")
    user.fill("#title", "課税台帳 照会結果（ブラウザ試験）")
    user.select_option("#business", "car-tax")
    user.fill("#sheets", "1")
    user.click("form.item-form button[type=submit]")
    user.wait_for_url(re.compile(r"/items/F-\d{4}-\d{6}$"))
    code = user.url.rsplit("/", 1)[-1]
    assert "ZEIMU-CS01" in user.locator("#terminal-use").inner_text()

    user.goto(use_url)
    user.click("#close-use button[type=submit]")
    user.wait_for_selector(".flash-success")
    assert "使用終了" in user.locator("h1").inner_text()
    assert code in user.locator("#use-forms").inner_text()
