"""A real `lifecycle serve` in a subprocess (own instance, demo data) and a real Chromium."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """Base URL of a running server with the demo users (password lifecycle-demo-2026)."""
    instance = tmp_path_factory.mktemp("live") / "instance"
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, LIFECYCLE_INSTANCE=str(instance), LIFECYCLE_BASE_URL=base_url,
               LIFECYCLE_LOGIN_RATE_LIMIT="1000 per minute")
    env.pop("LIFECYCLE_DATABASE_URL", None)
    cli = [sys.executable, "-m", "lifecycle.cli"]
    subprocess.run(cli + ["init"], env=env, check=True, capture_output=True)
    subprocess.run(cli + ["demo"], env=env, check=True, capture_output=True)
    log = open(instance / "server.log", "wb")
    server = subprocess.Popen(cli + ["serve", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(base_url + "/login", timeout=1)
            break
        except Exception:
            if server.poll() is not None:
                raise RuntimeError((instance / "server.log").read_text())
            time.sleep(0.2)
    else:
        server.kill()
        raise RuntimeError("server did not start: " + (instance / "server.log").read_text())
    yield base_url
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


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
