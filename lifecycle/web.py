"""Cross-cutting web behaviour: security headers, idle sessions, errors as Japanese pages or the
error JSON of API.md, and auditing of every refused request."""
from __future__ import annotations

import logging
import re
import time
from collections import namedtuple
from functools import wraps

from flask import (Flask, current_app, flash, g, jsonify, redirect, render_template, request, session,
                   url_for)
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user, logout_user
from flask_wtf.csrf import CSRFError
from itsdangerous import BadSignature
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BuildError

from . import clock, nav, states
from .audit.events import event_label
from .audit.services import record_denied
from .auth.cache import attach, is_shared
from .auth.roles import role_label
from .errors import DomainError, Forbidden
from .wareki import wareki_date, wareki_datetime

log = logging.getLogger(__name__)

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

HTTP_MESSAGES = {
    400: ("bad_request", "リクエストの形式が正しくありません。"),
    401: ("unauthenticated", "認証が必要です。ログインするか、正しいAPIトークンを指定してください。"),
    403: ("forbidden", "この操作を行う権限がありません。"),
    404: ("not_found", "お探しのページまたはデータは見つかりませんでした。"),
    405: ("method_not_allowed", "この方法（HTTPメソッド）ではこの操作を受け付けていません。"),
    409: ("conflict", "現在の状態ではこの操作を行えません。"),
    410: ("gone", "このデータは既に消去されています。"),
    413: ("too_large", "送信されたデータが大きすぎます。"),
    415: ("unsupported_media_type", "この形式のデータは受け付けていません。"),
    422: ("invalid", "入力内容に誤りがあります。"),
    429: ("too_many_requests", "短時間に多くのリクエストがありました。しばらくしてから再度お試しください。"),
    500: ("internal_error", "システム内部でエラーが発生しました。操作は反映されていません。時間をおいて再度お試しいただくか、システム管理者に連絡してください。"),
}


def wants_json() -> bool:
    return request.path.startswith("/api/")


_PLAIN = re.compile(r"[A-Za-z0-9_.-]+")


def shaped_url(endpoint: str, **values) -> str:
    """url_for for links that differ only by an item code or the like (the item page's own, a
    ledger's rows): the URL is built once per endpoint and script root with a marker in place of
    each value, and the values are put in after (building the item page's own links anew was a
    twentieth of the page). Values that would need quoting, and endpoints that take no text, go to
    url_for."""
    if not all(isinstance(v, str) and _PLAIN.fullmatch(v) for v in values.values()):
        return url_for(endpoint, **values)
    shapes = current_app.extensions.setdefault("lifecycle.url_shapes", {})
    key = (request.script_root, endpoint, *sorted(values))
    shape = shapes.get(key)
    if shape is None:
        try:
            built = url_for(endpoint, **{name: f"LCMARK{name}LCMARK" for name in values})
        except (BuildError, ValueError):
            return url_for(endpoint, **values)
        parts = re.split(r"LCMARK(\w+?)LCMARK", built)  # text, name, text, name, …, text
        shape = shapes[key] = (parts[0::2], parts[1::2])
    texts, names = shape
    out = [texts[0]]
    for name, text in zip(names, texts[1:]):
        out += (values[name], text)
    return "".join(out)


def _menu(user) -> list[tuple[str, str, bool]]:
    """(href, label, is the current page) of the menu: built once per set of roles and script
    root and kept on the app, only the current page is marked per request."""
    menus = current_app.extensions.setdefault("lifecycle.menus", {})
    key = (request.script_root, frozenset(user.effective_roles))
    menu = menus.get(key)
    if menu is None:
        menu = menus[key] = [(endpoint, args.get("kind"), label, url_for(endpoint, **args))
                             for endpoint, args, label in nav.entries_for(user, current_app.view_functions)]
    here, kind = request.endpoint, request.args.get("kind")
    return [(href, label, here == endpoint and (wanted is None or wanted == kind))
            for endpoint, wanted, label, href in menu]


def item_url(code: str) -> str:
    """The item page's address, for the pages of other domains that link to it (hand-offs,
    batches, devices) without importing the items blueprint, under the request's script root."""
    return shaped_url("items.show", code=code)


#: The links of every page's frame (base.html); scan is None where the app has no scanning page.
Frame = namedtuple("Frame", "css js home scan logout")


def _frame() -> Frame:
    """Built once per script root and kept on the app: the frame's links are the same on every
    page, and building them on each was 2 % of an item page (5.96 → 5.83 M instructions)."""
    frames = current_app.extensions.setdefault("lifecycle.frames", {})
    frame = frames.get(request.script_root)
    if frame is None:
        scan = url_for("items.scan") if "items.scan" in current_app.view_functions else None
        frame = frames[request.script_root] = Frame(
            url_for("static", filename="app.css"), url_for("static", filename="app.js"),
            url_for("home.dashboard"), scan, url_for("auth.logout"))
    return frame


def role_required(*roles):
    """Page guard; the services check again, this only spares rendering a page that cannot work."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                from .extensions import login_manager
                return login_manager.unauthorized()
            if not current_user.has_role(*roles):
                raise Forbidden("このページを表示する権限がありません。")
            return view(*args, **kwargs)
        return wrapped
    return decorator


def current_actor():
    """The acting user of this request (the API's token user or the signed-in user), in the
    request's session: what services that change anything are given. A shared snapshot (the
    token's user, or a page's that only shows: auth/views.load_user) is copied in once."""
    user = g.get("actor")
    if user is not None:
        return user
    user = g.get("api_snapshot")
    if user is None:
        if not current_user.is_authenticated:
            return None
        user = current_user._get_current_object()
    if is_shared(user):
        user = g.actor = attach(user)
    return user


def current_reader():
    """The acting user for a view that only reads. For an API request that is the shared snapshot
    of the token's user, not copied into the session (a twentieth of an item lookup): its
    attributes and roles are loaded, but it must never reach a service that writes."""
    return getattr(g, "api_snapshot", None) or current_actor()


#: Verified page cookies and signed CSRF tokens kept per process (see PageSessions); past this
#: many the memory is simply cleared, at the cost of verifying or signing once more.
KEPT_SESSIONS = 4096


class PageSessions(SecureCookieSessionInterface):
    """The signed session cookie is for pages only. The JSON API authenticates by bearer token
    alone, so a cookie sent with an API request is neither read nor answered: that spares
    verifying it and deriving its signer on every API call, and no browser session can ride on an
    API request. Nothing the API does may rely on the session; it gets an empty one.

    A page's cookie, once verified, is remembered until it would expire: a browser sends the same
    value on every page for a minute (idle_timeout renews it no more often), the same signed value
    always holds the same contents, and checking its signature and decoding it was a fifteenth of
    an item page. Only cookies holding plain values are kept, so each request's copy is its own.
    """

    def __init__(self) -> None:
        self._opened: dict[str, tuple[bytes | str, float, dict]] = {}  # value: (key, good until, data)
        self._signed_csrf: dict[tuple, str] = {}  # (secret key, the session's raw token): signed

    def open_session(self, app, request):
        if wants_json():
            return self.session_class()
        session = self._open(app, request)
        self._reuse_signed_csrf(app, session)
        return session

    def _open(self, app, request):
        value = request.cookies.get(self.get_cookie_name(app))
        if not value or not app.secret_key:
            return super().open_session(app, request)
        found = self._opened.get(value)
        if found is not None and found[0] == app.secret_key and time.time() < found[1]:
            return self.session_class(found[2])
        max_age = int(app.permanent_session_lifetime.total_seconds())
        try:
            data, signed_at = self.get_signing_serializer(app).loads(value, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        if isinstance(data, dict) and all(isinstance(v, (str, int, float, bool, type(None))) for v in data.values()):
            _keep(self._opened, value, (app.secret_key, signed_at.timestamp() + max_age, data))
        return self.session_class(data)

    def save_session(self, app, session, response) -> None:
        if wants_json():
            return
        self._keep_signed_csrf(app, session)
        super().save_session(app, session, response)

    def _reuse_signed_csrf(self, app, session) -> None:
        """Flask-WTF signs the session's CSRF token anew for every page (a twentieth of an item page),
    although tokens never expire here (WTF_CSRF_TIME_LIMIT is None: the session bounds them), so
    one signed form serves every page of a session. Flask-WTF takes a token already in `g`; the
        page's session is opened after its app context, so `g` is there."""
        raw = dict.get(session, "csrf_token")  # not session.get: looking must not mark it accessed
        if raw is not None:
            signed = self._signed_csrf.get((app.secret_key, raw))
            if signed is not None:
                g.csrf_token = signed

    def _keep_signed_csrf(self, app, session) -> None:
        signed, raw = g.get("csrf_token"), dict.get(session, "csrf_token")
        if signed is not None and raw is not None:
            _keep(self._signed_csrf, (app.secret_key, raw), signed)


def _keep(cache: dict, key, value) -> None:
    if len(cache) >= KEPT_SESSIONS:
        cache.clear()
    cache[key] = value


def _audit_refusal(status: int, reason: str) -> None:
    try:
        from .extensions import db
        db.session.rollback()
        record_denied(current_actor(), path=request.path, method=request.method, reason=reason,
                      address=request.remote_addr)
    except Exception:  # the refusal must still reach the user even if the log write fails
        log.exception("could not record a denied request")


def _error_response(status: int, code: str, message: str, extra: dict | None = None):
    if status in (401, 403):
        _audit_refusal(status, code)
    if wants_json():
        body = {"error": {"code": code, "message": message}}
        body.update(extra or {})
        return jsonify(body), status
    template = f"errors/{status}.html" if status in (403, 404, 500) else "errors/error.html"
    return render_template(template, status=status, message=message, code=code), status


def init_app(app: Flask) -> None:
    app.session_interface = PageSessions()

    @app.before_request
    def idle_timeout():
        if request.path.startswith(("/static/", "/api/")) or not current_user.is_authenticated:
            return None
        now = int(time.time())
        seen = session.get("seen", now)
        if now - seen > app.config["IDLE_TIMEOUT_SECONDS"]:
            logout_user()
            session.clear()
            flash("30分間操作がなかったため、ログアウトしました。もう一度ログインしてください。", "warning")
            return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))
        # Noted once a minute, not on every page: an unchanged session is not signed and sent
        # again (SESSION_REFRESH_EACH_REQUEST is off), and the timeout is as exact as it needs to be.
        if now - seen >= 60 or "seen" not in session:
            session["seen"] = now
            session.permanent = True
        return None

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers.setdefault("Cache-Control", "no-store")
        if app.config.get("SESSION_COOKIE_SECURE"):
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        return response

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        from .extensions import db
        db.session.rollback()
        return _error_response(exc.status, exc.code, exc.message, exc.extra)

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return _error_response(400, "csrf_failed",
                               "フォームの有効期限が切れたか、不正な送信です（CSRFトークンの不一致）。"
                               "ページを読み込み直してから、もう一度操作してください。")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        code, message = HTTP_MESSAGES.get(status, ("error", exc.description or "エラーが発生しました。"))
        if status == 413:
            limit = app.config.get("UPLOAD_MAX_BYTES", 0) // (1024 * 1024)
            message = f"送信されたファイルが大きすぎます（上限 {limit} MB）。"
        response = app.make_response(_error_response(status, code, message))
        allow = dict(exc.get_headers()).get("Allow")
        if allow:  # a 405 names the methods that do work (RFC 9110)
            response.headers["Allow"] = allow
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        from .extensions import db
        log.error("unhandled error on %s %s: %s", request.method, request.path, type(exc).__name__,
                  exc_info=exc)
        db.session.rollback()
        code, message = HTTP_MESSAGES[500]
        return _error_response(500, code, message)

    app.jinja_env.filters.update(
        wareki=wareki_date,
        wareki_dt=wareki_datetime,
        state_label=states.label,
        kind_label=lambda k: states.KIND_LABELS.get(states.Kind(k), k) if k else "",
        role_label=role_label,
        event_label=event_label,
        iso=clock.iso,
    )

    @app.context_processor
    def navigation():
        user = current_user if current_user.is_authenticated else None
        return {"nav_links": _menu(user) if user is not None else [],
                "frame": _frame(),
                "shaped_url": shaped_url,
                "organisation": app.config["ORGANISATION_NAME"],
                "has_endpoint": lambda name: name in app.view_functions,
                "today": clock.today_jst()}
