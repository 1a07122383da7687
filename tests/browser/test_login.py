import pytest

pytestmark = pytest.mark.browser


def test_admin_logs_in_and_sees_the_japanese_dashboard(new_page, live_server):
    page = new_page()
    page.goto(live_server + "/")
    assert "/login" in page.url  # not logged in: sent to the login page
    assert page.locator("h1").inner_text() == "ログイン"
    page.fill("input[name=login]", "admin")
    page.fill("input[name=password]", "lifecycle-demo-2026")
    page.click("button[type=submit]")
    page.wait_for_url(live_server + "/")
    assert page.locator("h1").inner_text() == "ホーム"
    nav = page.locator("nav.mainnav").inner_text()
    assert "管理" in nav and "監査ログ" in nav
    assert "市町 太郎" in page.locator(".who").inner_text()


def test_wrong_password_is_refused_in_japanese(new_page, live_server):
    page = new_page()
    page.goto(live_server + "/login")
    page.fill("input[name=login]", "registrar")
    page.fill("input[name=password]", "wrong-password-123")
    page.click("button[type=submit]")
    assert "ログインIDまたはパスワードが正しくありません" in page.locator(".flash").inner_text()


def test_registrar_sees_no_admin_menu(new_page, live_server):
    page = new_page("registrar")
    nav = page.locator("nav.mainnav").inner_text()
    assert "管理" not in nav.split() and "監査ログ" not in nav
    page.goto(live_server + "/admin/users")
    assert "権限がありません" in page.locator("h1").inner_text()
