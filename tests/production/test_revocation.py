"""A change to a person's rights takes effect on their very next request, in another server process."""
import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from lifecycle.auth import services as auth
from lifecycle.actors import SystemActor
from lifecycle.extensions import db
from lifecycle.seeds import DEMO_PASSWORD
from tests.factories import form
from tests.servers import free_port, server_env, start_server, stop_server

ADMIN = SystemActor("system:test", "テスト")


@pytest.fixture
def server(app, world, tmp_path):
    from lifecycle import crypto

    crypto.ensure_keys(tmp_path / "srv")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start_server(tmp_path / "srv", port, server_env(tmp_path / "srv", base, app.config["DATABASE_URL"]),
                           workers=1)
    db.session.remove()
    yield base
    stop_server(process)


def _api(base, token, path):
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


class Browser:
    """Signs in through the real form (with its CSRF token) and keeps the session cookie."""

    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)

    def get(self, path):
        try:
            with self.opener.open(self.base + path, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def login(self, login):
        _status, page = self.get("/login")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode({"login": login, "password": DEMO_PASSWORD, "csrf_token": token}).encode()
        try:
            self.opener.open(self.base + "/login", data=data, timeout=30)
        except urllib.error.HTTPError as exc:
            assert exc.code == 302, exc.read().decode()[:300]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.mark.slow
def test_revoked_role_deactivation_and_training_take_effect_on_the_next_request(server, world):
    item = form(world["registrar"])
    token = auth.issue_token(ADMIN, "registrar")
    browser = Browser(server)
    browser.login("registrar")
    db.session.remove()
    assert _api(server, token, f"/api/v1/items/{item.code}") == 200
    assert browser.get(f"/items/{item.code}")[0] == 200

    auth.revoke_role(ADMIN, "registrar", "registrar")
    db.session.remove()
    assert _api(server, token, f"/api/v1/items/{item.code}") == 403
    assert browser.get(f"/items/{item.code}")[0] == 403

    auth.grant_role(ADMIN, "registrar", "registrar")
    auth.record_training(ADMIN, "registrar", None)
    db.session.remove()
    assert _api(server, token, f"/api/v1/items/{item.code}") == 403
    assert browser.get(f"/items/{item.code}")[0] == 403

    auth.set_active(ADMIN, "registrar", False)
    db.session.remove()
    assert _api(server, token, f"/api/v1/items/{item.code}") == 401
    status, _page = browser.get(f"/items/{item.code}")
    assert status == 302  # to the login page: the session ended with the deactivation
