import re
import time

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from lifecycle.audit.models import AuditEvent
from lifecycle.extensions import db
from lifecycle.seeds import DEMO_PASSWORD


def test_login_page_is_japanese_with_csrf_field(app):
    app.config["WTF_CSRF_ENABLED"] = True
    page = app.test_client().get("/login").get_data(as_text=True)
    assert '<html lang="ja">' in page and "ログイン" in page and 'name="csrf_token"' in page


def test_login_redirects_away_and_shows_dashboard(client, login):
    response = login("admin")
    assert response.headers["Location"].endswith("/")
    page = client.get("/").get_data(as_text=True)
    assert "ホーム" in page and "システム管理者" in page


def test_bad_password_message(client, world):
    response = client.post("/login", data={"login": "admin", "password": "not-the-password"})
    assert response.status_code == 401
    assert "ログインIDまたはパスワードが正しくありません" in response.get_data(as_text=True)


def test_lockout_through_the_form(client, world):
    for _ in range(5):
        client.post("/login", data={"login": "auditor", "password": "not-the-password"})
    response = client.post("/login", data={"login": "auditor", "password": "lifecycle-demo-2026"})
    assert response.status_code == 401 and "15分間ログインできなくなります" in response.get_data(as_text=True)


def test_the_form_answers_a_locked_login_as_an_unknown_one(client, world):
    def answers(login):
        pages = [client.post("/login", data={"login": login, "password": "not-the-password"}) for _ in range(6)]
        return {(page.status_code, page.get_data(as_text=True).replace(login, "LOGIN")) for page in pages}

    assert answers("auditor") == answers("nobody-here")


def test_open_redirect_is_not_followed(client, world):
    response = client.post("/login?next=//evil.example/x",
                           data={"login": "admin", "password": "lifecycle-demo-2026"})
    assert response.headers["Location"] == "/"


def test_csrf_refusal(app, world):
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    response = client.post("/login", data={"login": "admin", "password": "lifecycle-demo-2026"})
    assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True)
    assert "_user_id" not in (client.get_cookie("lifecycle_session") or "")


def test_csrf_token_accepted(app, world):
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post("/login", data={"login": "admin", "password": "lifecycle-demo-2026",
                                           "csrf_token": token})
    assert response.status_code == 302


def test_idle_session_expires(app, client, login):
    login("admin")
    with client.session_transaction() as session:
        session["seen"] = int(time.time()) - 31 * 60
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get("/").status_code == 302


def test_security_headers_and_cookie_flags(client, world):
    response = client.post("/login", data={"login": "admin", "password": "lifecycle-demo-2026"})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"]


def test_unauthenticated_pages_redirect_to_login(client, world):
    response = client.get("/admin/users")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_japanese_404_without_traceback(client, login):
    login("registrar")
    response = client.get("/no/such/page")
    text = response.get_data(as_text=True)
    assert response.status_code == 404 and "見つかりません" in text and "Traceback" not in text


def test_japanese_500_without_traceback(app, login, client):
    @app.route("/boom")
    def boom():
        raise RuntimeError("secret detail")

    login("registrar")
    response = client.get("/boom")
    text = response.get_data(as_text=True)
    assert response.status_code == 500 and "システム内部でエラー" in text
    assert "secret detail" not in text and "Traceback" not in text


ADMIN_PAGES = ["/admin/users", "/admin/departments", "/admin/businesses", "/admin/users/registrar"]
AUDIT_PAGES = ["/audit/", "/audit/verify"]
ROLES = ["admin", "bulk", "registrar", "security", "auditor"]


@pytest.mark.parametrize("who", ROLES)
def test_page_authorisation_matrix(client, login, who):
    login(who)
    for path in ADMIN_PAGES:
        assert client.get(path).status_code == (200 if who == "admin" else 403), (who, path)
    for path in AUDIT_PAGES:
        assert client.get(path).status_code == (200 if who in ("admin", "auditor") else 403), (who, path)
    assert client.get("/").status_code == 200


def test_denied_page_is_an_audit_event(client, login):
    login("registrar")
    assert client.get("/admin/users").status_code == 403
    denied = db.session.scalars(select(AuditEvent).where(AuditEvent.type == "access:denied")).all()
    assert denied and denied[-1].actor == "registrar" and "/admin/users" in denied[-1].data


def test_login_events_are_audited(client, world):
    client.post("/login", data={"login": "admin", "password": "bad-password-xx"})
    client.post("/login", data={"login": "admin", "password": "lifecycle-demo-2026"})
    types = db.session.scalars(select(AuditEvent.type).order_by(AuditEvent.seq)).all()
    assert "auth:login_failed" in types and types[-1] == "auth:login_succeeded"


def test_login_attempts_are_rate_limited_per_address(app, world):
    app.config["RATELIMIT_ENABLED"] = True
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    from lifecycle.extensions import limiter
    limiter.init_app(app)
    client = app.test_client()
    statuses = [client.post("/login", data={"login": f"nobody{i}", "password": "x" * 12}).status_code
                for i in range(5)]
    assert statuses[:3] == [401, 401, 401] and statuses[3] == 429
    assert "しばらくしてから" in client.post("/login", data={"login": "a", "password": "b"}).get_data(as_text=True)


def _limited_app(app, **extra):
    from lifecycle import create_app
    from lifecycle.extensions import limiter

    limited = create_app({"INSTANCE_PATH": app.instance_path, "DATABASE_URL": app.config["DATABASE_URL"],
                          "TESTING": True, "WTF_CSRF_ENABLED": False, "LOGIN_RATE_LIMIT": "2 per minute",
                          "RATELIMIT_ENABLED": True,
                          "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 64, **extra})
    limiter.init_app(limited)
    return limited.test_client()


def _attempts(client, forwarded_for: str, n: int = 3) -> list[int]:
    return [client.post("/login", data={"login": "nobody", "password": "x" * 12},
                        headers={"X-Forwarded-For": forwarded_for}).status_code for _ in range(n)]


def test_behind_a_trusted_proxy_the_limit_is_per_client_address(app, world):
    client = _limited_app(app, TRUSTED_PROXIES=1)
    assert _attempts(client, "10.0.0.1") == [401, 401, 429]
    assert _attempts(client, "10.0.0.2") == [401, 401, 429]  # another desk is not locked out


def test_without_a_trusted_proxy_a_forged_forwarded_for_does_not_escape_the_limit(app, world):
    client = _limited_app(app)
    assert _attempts(client, "10.0.0.1") == [401, 401, 429]
    assert _attempts(client, "10.0.0.2", 1) == [429]


def test_the_session_cookie_is_refreshed_once_a_minute_not_on_every_page(app, client, login):
    """An unchanged session is not signed and sent again on every page; its idle clock still moves."""
    login("auditor")
    assert client.get("/").status_code == 200
    assert "Set-Cookie" not in client.get("/").headers
    with client.session_transaction() as session:
        session["seen"] = int(time.time()) - 61
    refreshed = client.get("/")
    assert "lifecycle_session=" in refreshed.headers.get("Set-Cookie", "")
    with client.session_transaction() as session:
        assert int(time.time()) - session["seen"] < 5


def _menu(html: str) -> list[tuple[str, str, bool]]:
    nav = re.search(r'<nav class="mainnav".*?</nav>', html, re.S).group(0)
    return [(href, label, bool(current)) for href, current, label in
            re.findall(r'<a href="([^"]+)"( class="active" aria-current="page")?>([^<]+)</a>', nav)]


def test_the_menu_follows_each_users_roles_and_marks_the_page_shown(app, login, world):
    """The menu is kept per set of roles: users with other roles never get each other's entries."""
    admin, auditor = app.test_client(), app.test_client()
    admin.post("/login", data={"login": "admin", "password": DEMO_PASSWORD})
    auditor.post("/login", data={"login": "auditor", "password": DEMO_PASSWORD})
    admin_menu = _menu(admin.get("/items?kind=medium").get_data(as_text=True))
    auditor_menu = _menu(auditor.get("/items?kind=medium").get_data(as_text=True))
    assert ("/admin/users", "管理", False) in admin_menu
    assert "管理" not in [label for _h, label, _c in auditor_menu] and "監査ログ" in [l for _h, l, _c in auditor_menu]
    for menu in (admin_menu, auditor_menu):  # of the three ledgers only the one shown is marked
        assert [(label, current) for _h, label, current in menu if "管理簿" in label] == [
            ("帳票管理簿", False), ("媒体管理簿", True), ("機器管理簿", False)]
    again = _menu(admin.get("/").get_data(as_text=True))
    assert [label for _h, label, current in again if current] == ["ホーム"]
    assert [(h, label) for h, label, _c in again] == [(h, label) for h, label, _c in admin_menu]


def test_a_granted_or_revoked_role_changes_the_menu_on_the_next_page(client, login, world):
    from lifecycle.auth.services import grant_role, revoke_role

    def labels():
        return [label for _h, label, _c in _menu(client.get("/").get_data(as_text=True))]

    login("registrar")
    assert "監査ログ" not in labels()
    grant_role(world["admin"], "registrar", "auditor")
    assert "監査ログ" in labels()
    revoke_role(world["admin"], "registrar", "auditor")
    assert "監査ログ" not in labels()


def _open(app, cookie: str):
    with app.test_request_context("/", headers={"Cookie": f"lifecycle_session={cookie}"}) as ctx:
        return app.session_interface.open_session(app, ctx.request)


def test_a_remembered_session_cookie_is_refused_once_altered_or_expired(app, client, login, monkeypatch):
    login("admin")
    assert client.get("/").status_code == 200
    cookie = client.get_cookie("lifecycle_session").value
    assert _open(app, cookie)["_user_id"]  # verified once, now remembered
    altered = cookie[:-3] + ("AAA" if not cookie.endswith("AAA") else "BBB")
    assert "_user_id" not in _open(app, altered)
    client.set_cookie("lifecycle_session", altered)
    assert client.get("/").status_code == 302
    later = time.time() + 31 * 60  # past PERMANENT_SESSION_LIFETIME
    monkeypatch.setattr("lifecycle.web.time.time", lambda: later)
    assert "_user_id" not in _open(app, cookie)


def test_each_request_gets_its_own_copy_of_a_remembered_session(app, client, login):
    login("admin")
    cookie = client.get_cookie("lifecycle_session").value
    first = _open(app, cookie)
    first["_user_id"] = "999"
    first["extra"] = "x"
    again = _open(app, cookie)
    assert again["_user_id"] != "999" and "extra" not in again


def test_one_signed_csrf_token_serves_a_session_and_only_that_session(app, world):
    from flask import g
    app.config["WTF_CSRF_ENABLED"] = True

    def token_on(client, path: str) -> str:
        g.pop("csrf_token", None)  # the fixture's app context outlives each request; a server's does not
        page = client.get(path).get_data(as_text=True)
        return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)

    def raw(token: str) -> str:
        # Each page signs the session's token afresh with the current second,
        # so two pages share the token the signature carries, not its text.
        return URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="wtf-csrf-token").loads(token)

    client, other = app.test_client(), app.test_client()
    first = token_on(client, "/login")
    assert raw(token_on(client, "/login")) == raw(first)
    theirs = token_on(other, "/login")
    assert raw(theirs) != raw(first)
    refused = client.post("/login", data={"login": "admin", "password": DEMO_PASSWORD, "csrf_token": theirs})
    assert refused.status_code == 400 and "CSRF" in refused.get_data(as_text=True)
    assert client.post("/login", data={"login": "admin", "password": DEMO_PASSWORD,
                                       "csrf_token": first}).status_code == 302
    token = token_on(client, "/")
    assert raw(token_on(client, "/items?kind=form")) == raw(token)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302  # signed out
