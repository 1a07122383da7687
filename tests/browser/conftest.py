"""A real `lifecycle serve` in a subprocess (own instance, demo data) and a real Chromium."""
from __future__ import annotations

import os
import shutil

import pytest

from tests.servers import cli, free_port, server_env, start_server, stop_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """Base URL of a running server with the demo users (password lifecycle-demo-2026)."""
    instance = tmp_path_factory.mktemp("live") / "instance"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = server_env(instance, base_url)
    cli(env, "init")
    cli(env, "demo")
    server = start_server(instance, port, env)
    yield base_url
    stop_server(server)


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium); browser tests skipped")
    playwright_sync = pytest.importorskip("playwright.sync_api")
    with playwright_sync.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser, live_server):
    """new_page("registrar") → a page in a fresh browser context, logged in as that user."""
    contexts = []

    def make(login: str | None = None, password: str = "lifecycle-demo-2026"):
        context = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10000)
        if login:
            page.goto(live_server + "/login")
            page.fill("input[name=login]", login)
            page.fill("input[name=password]", password)
            page.click("button[type=submit]")
            page.wait_for_url(lambda url: "/login" not in url)
        return page

    yield make
    for context in contexts:
        context.close()

