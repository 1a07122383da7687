"""A real task with the keyboard alone, on Debian's chromium: sign in, register a 帳票, hand it over,
and the receiver signs in and accepts it — with Tab, Shift+Tab, Enter, Space, the arrow keys of a
list and typing, never the mouse. Every control reached shows where the focus is (JIS X 8341-3
level AA, WCAG 2.1.1 and 2.4.7)."""
from __future__ import annotations

import re

import pytest

from lifecycle.seeds import DEMO_PASSWORD

pytestmark = pytest.mark.browser

#: Where the focus is, and how it shows: the ring's style and width, or a shadow.
FOCUSED = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  return {tag: el.tagName.toLowerCase(), id: el.id, name: el.getAttribute('name') || '',
          text: (el.innerText || el.value || '').trim().slice(0, 40),
          outline: style.outlineStyle, width: parseFloat(style.outlineWidth) || 0,
          shadow: style.boxShadow};
}"""


def focused(page) -> dict:
    return page.evaluate(FOCUSED)


def assert_focus_visible(page) -> dict:
    """The focused control shows it: the page's ring of at least 2 px (the browser's own thin ring
    alone is lost on the blue bar, and a date field's parts do not show it) or a shadow."""
    now = focused(page)
    assert now["tag"] != "body", "the focus was lost (on <body>)"
    ring = now["outline"] not in ("none", "") and now["width"] >= 2
    assert ring or now["shadow"] not in ("none", ""), now
    return now


def tab_to(page, selector: str, *, presses: int = 80, backwards: bool = False) -> dict:
    """Presses Tab (Shift+Tab) until the focus is on `selector`, checking at every stop that the
    focus is seen; fails with the stops passed when the control cannot be reached."""
    stops = []
    for _ in range(presses):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        now = assert_focus_visible(page)
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return now
        stops.append(f"{now['tag']}#{now['id']}[{now['name']}] {now['text']}")
    pytest.fail(f"{selector} not reached by Tab: " + " → ".join(stops))


def choose(page, value: str, *, presses: int = 40) -> None:
    """In the focused list (a <select>), moves with the arrow keys until `value` is chosen."""
    for _ in range(presses):
        if page.evaluate("() => document.activeElement.value") == value:
            return
        page.keyboard.press("ArrowDown")
    pytest.fail(f"{value!r} not reached with the arrow keys")


def sign_in(page, base: str, login: str) -> None:
    page.goto(base + "/login")
    assert focused(page)["id"] == "login"  # the login field has the focus on arrival
    page.keyboard.type(login)
    tab_to(page, "#password")
    page.keyboard.type(DEMO_PASSWORD)
    tab_to(page, "form button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login" not in url)


def test_register_hand_over_and_accept_with_the_keyboard_alone(new_page, live_server):
    page = new_page()
    sign_in(page, live_server, "registrar")

    # The first stop skips the header and the menu: the skip link, seen when focused.
    first = tab_to(page, "a.skip-link", presses=1)
    assert first["text"] == "本文へ移動"
    assert page.locator("a.skip-link").bounding_box()["y"] >= 0  # on the screen, not off it
    # the menu's 帳票 ledger, then its registration link
    tab_to(page, "nav.mainnav a[href*='/items?kind=form']")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/items\?kind=form"))
    tab_to(page, "main a[href*='/items/new?kind=form']")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/items/new\?kind=form"))

    # The form: the title has the focus; the business is chosen with the arrow keys; Enter sends.
    assert focused(page)["id"] == "title"
    page.keyboard.type("自動車税 督促状 控え（キーボード）")
    tab_to(page, "#business")
    choose(page, "car-tax")
    tab_to(page, "#sheets")
    page.keyboard.type("2")
    tab_to(page, "#title", backwards=True)  # and back, to check the title once more
    assert page.input_value("#title") == "自動車税 督促状 控え（キーボード）"
    tab_to(page, "form.item-form button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/items/F-\d{4}-\d{6}$"))
    code = page.url.rsplit("/", 1)[-1]

    # The hand-off: the receiver from the grouped list, a note, and the button pressed with Space.
    tab_to(page, "#handoff select[name=to]")
    choose(page, "registrar2")
    tab_to(page, "#handoff textarea[name=note]")
    page.keyboard.type("書庫へ移します")
    tab_to(page, "#handoff button[data-action=transfer]")
    page.keyboard.press("Space")
    page.wait_for_selector(".flash-success")
    assert "引き継ぎました" in page.locator(".flash-success").inner_text()

    # The receiver signs in and accepts it from the home page's hand-off panel, with Enter.
    receiver = new_page()
    sign_in(receiver, live_server, "registrar2")
    row = f"#panel-handoffs li:has(a:text-is('{code}'))"
    assert receiver.locator(row).count() == 1
    transfer = receiver.locator(row).get_attribute("data-transfer")
    tab_to(receiver, f"#panel-handoffs li[data-transfer='{transfer}'] button[data-action=accept]")
    receiver.keyboard.press("Enter")
    receiver.wait_for_selector(".flash-success")
    assert "受領しました" in receiver.locator(".flash-success").inner_text()

    # The item is now the receiver's; its page is reached with the keyboard too (the scan box).
    tab_to(receiver, "#scan-input")
    receiver.keyboard.type(code)
    receiver.keyboard.press("Enter")
    receiver.wait_for_url(re.compile(re.escape(code) + "$"))
    assert "旅券センター" in receiver.locator("dl.facts").first.inner_text()


def test_the_skip_link_moves_the_reading_point_past_the_menu(new_page, live_server):
    page = new_page()
    sign_in(page, live_server, "auditor")
    tab_to(page, "a.skip-link", presses=1)
    page.keyboard.press("Enter")
    assert focused(page)["tag"] == "main"  # the next Tab goes to the page's own content
    now = tab_to(page, "main a, main button, main input, main select", presses=1)
    assert now["tag"] in ("a", "button", "input", "select")
