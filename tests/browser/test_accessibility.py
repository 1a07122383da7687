"""axe-core over every page each demo role reaches from the menu (and the first item page of
each ledger), on Debian's chromium: no serious or critical violation (JIS X 8341-3 level AA is
what Japanese public bodies aim for). axe-core comes from npm (package-lock.json, `npm ci`)."""
from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from lifecycle.seeds import DEMO_PASSWORD, USERS

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
#: The standards axe checks; WCAG 2.1 AA is what JIS X 8341-3:2016 level AA follows.
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
#: Pages a walk must not open: they act or leave (a GET is never meant to, but a walk should not try).
SKIP = re.compile(r"/logout|\.(pdf|csv|json|zip|pem)$|/export")


def _axe_source() -> str:
    if not AXE.exists():
        pytest.fail("node_modules/axe-core is missing: run `npm ci --no-audit --no-fund` (make test does)")
    return AXE.read_text(encoding="utf-8")


def _violations(page, source: str) -> list[str]:
    page.evaluate(source)
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS)
    found = []
    for violation in result["violations"]:
        if violation["impact"] not in ("serious", "critical"):
            continue
        targets = "; ".join(" ".join(node["target"]) for node in violation["nodes"][:3])
        found.append(f"{violation['id']} ({violation['impact']}): {violation['help']} — {targets}")
    return found


def _shape(url: str) -> str:
    """/items/F-2026-000123 and /items/F-2026-000124 are one page to check, as are batches 1 and 2."""
    parts = urlsplit(url)
    return re.sub(r"\d+", "N", parts.path) + "?" + re.sub(r"=\d+", "=N", parts.query)


#: Links within a page that lead to further pages of the same role: tabs, toolbars, the first row of
#: every table (an item, a batch, a contractor…).
FOLLOW = ".tabs a, .toolbar a, main table tbody tr:first-child a"


def _walk(page, base: str, source: str) -> tuple[list[str], list[str]]:
    """The home page, every menu entry, and the pages their tabs, toolbars and tables lead to:
    the pages walked, and the serious or critical violations found on them."""
    menu = page.locator("nav.mainnav a").evaluate_all("links => links.map(a => a.href)")
    queue, seen, shapes, failures = [base + "/", *menu], [], set(), []
    while queue and len(seen) < 60:
        url = queue.pop(0)
        if not url.startswith(base) or SKIP.search(urlsplit(url).path) or _shape(url) in shapes:
            continue
        shapes.add(_shape(url))
        seen.append(url)
        page.goto(url)
        failures += [f"{urlsplit(url).path}: {v}" for v in _violations(page, source)]
        queue += page.locator(FOLLOW).evaluate_all("links => links.map(a => a.href.split('#')[0])")
    return seen, failures


@pytest.mark.parametrize("login", [login for login, *_ in USERS])
def test_every_page_of_every_role_passes_axe(browser, live_server, login):
    source = _axe_source()
    # The pages' CSP allows only their own scripts; axe is injected by the test, not served.
    context = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo", bypass_csp=True,
                                  viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(15000)
        page.goto(live_server + "/login")
        failures = [f"/login: {v}" for v in _violations(page, source)]
        page.fill("input[name=login]", login)
        page.fill("input[name=password]", DEMO_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/login" not in url)
        walked, found = _walk(page, live_server, source)
        failures += found
        assert len(walked) >= 8, walked  # the menu was walked, not only the home page
    finally:
        context.close()
    assert not failures, f"{login}:\n" + "\n".join(failures)
