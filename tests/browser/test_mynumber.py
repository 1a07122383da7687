"""A bulk operator keeps a 個人番号, a security manager reveals it once, the purge runs page answers."""
import re

import pytest

pytestmark = pytest.mark.browser


def test_record_reveal_and_purge_in_the_browser(new_page, live_server):
    bulk = new_page("bulk")
    bulk.goto(live_server + "/my-number-copies")
    bulk.fill("input[name=my_number]", "１２３４－５６７８－９０１８")
    bulk.fill("input[name=provided_to]", "〇〇市 市民課")
    bulk.fill("textarea[name=reason]", "附票本人確認情報の再送に備えて")
    bulk.click("button.primary")
    bulk.wait_for_url(re.compile(r"/my-number-copies/\d+$"))
    assert "暗号化して一時保存しました" in bulk.locator(".flash").inner_text()
    assert "********9018" in bulk.content() and "123456789018" not in bulk.content()
    copy_url = bulk.url

    security = new_page("security")
    security.goto(copy_url)
    security.click("form[action$='/reveal'] button[type=submit]")  # no reason: refused in Japanese
    assert "表示の理由を入力してください" in security.content()
    security.fill("textarea[name=reason]", "受領できなかったため再送")
    security.click("form[action$='/reveal'] button[type=submit]")
    assert security.locator("[data-revealed]").inner_text() == "1234 5678 9018"
    assert "9018" not in security.url and "1234" not in security.url
    security.goto(copy_url)
    assert security.locator("[data-revealed]").count() == 0

    bulk.once("dialog", lambda dialog: dialog.accept())  # the confirm() of the destructive button
    bulk.fill("form[action$='/purge'] textarea[name=reason]", "受領を確認したため")
    bulk.click("form[action$='/purge'] button[type=submit]")
    bulk.wait_for_url(live_server + "/my-number-copies")
    assert "消去しました" in bulk.locator(".flash").inner_text()
    response = bulk.goto(copy_url)
    assert response.status == 410 and "消去済" in bulk.content()


def test_admin_sees_the_purge_runs_page(new_page, live_server):
    admin = new_page("admin")
    admin.goto(live_server + "/admin/purge-runs")
    assert admin.locator("h1").inner_text() == "自動消去の実行状況"
    assert "次回の実行予定" in admin.content()
