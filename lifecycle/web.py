"""Cross-cutting web behaviour: security headers, idle sessions, errors as Japanese pages or the
error JSON of docs/api.md, and auditing of every refused request."""
from __future__ import annotations

import logging
import re
import time
from functools import wraps
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from flask import (Flask, current_app, flash, g, jsonify, redirect, render_template, request, session,
                   url_for)
from flask_login import current_user, logout_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from . import clock, durations, nav, states
from .errors import DomainError, Forbidden, Invalid, Unauthenticated
from .extensions import db, login_manager
from .roles import role_label
from .wareki import wareki_date, wareki_datetime

if TYPE_CHECKING:
    from .auth.models import User

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


#: A 500 after the action was saved: saying "nothing was applied" would invite doing it twice.
AFTER_COMMIT_MESSAGE = ("操作は記録されましたが、その後の画面の表示中にエラーが発生しました。もう一度操作する前に、"
                        "管理簿で結果を確認してください。続く場合はシステム管理者に連絡してください。")


def wants_json() -> bool:
    return request.path.startswith("/api/")


def bearer_token() -> str | None:
    """The token of an `Authorization: Bearer …` header, or None when there is none."""
    match = re.fullmatch(r"Bearer\s+(\S+)", request.headers.get("Authorization", "").strip())
    return match.group(1) if match else None


class Hooks:
    """What the web layer asks of the domains, given by them at start-up (auth/views.py,
    auditlog/views.py) so that this module depends on none of them, as Flask-Login's user_loader."""
    #: token → the active user holding it, or None.
    load_token_user = None
    #: (actor or None, path=, method=, reason=, address=): records a refused request in the audit log.
    record_refusal = None


hooks = Hooks()


def authenticate_bearer() -> User:
    """The API's and the label scripts' one way in: the bearer token's active user becomes this
    request's actor, or the request is refused with 401. A cookie is never consulted here, so no
    browser session can ride on a request that skips the CSRF check."""
    token = bearer_token()
    user = hooks.load_token_user(token) if token else None
    if user is None:
        raise Unauthenticated("認証が必要です。Authorization ヘッダーに有効な Bearer トークンを指定してください。")
    g.actor = user
    return user


def current_actor() -> User | None:
    """Who acts in this request: the bearer token's user, or the signed-in user, loaded once per
    request (Flask-Login keeps it for the request); None when nobody is signed in."""
    actor = g.get("actor")
    if actor is not None:
        return actor
    if wants_json() or not current_user.is_authenticated:
        return None
    return current_user._get_current_object()


def safe_next(target: str | None, default: str) -> str:
    """A redirect target from a form or query string, if it is a path on this site; else `default`.
    Browsers drop tabs and line breaks from URLs and read a backslash as a slash, so "/", a tab
    and "/evil.example" would leave the site: anything but a plain printable path is refused."""
    if (not target or not target.startswith("/") or target.startswith("//") or "\\" in target
            or not target.isprintable() or urlsplit(target).netloc):
        return default
    return target


def same_site_referrer() -> str | None:
    """The page of this site the request came from, to return to; None for any other."""
    referrer = request.referrer
    return referrer if referrer and referrer.startswith(request.host_url) else None


def show_refusal(form, exc: DomainError) -> None:
    """Puts each refused field's message beside its field of a Flask-WTF form (the values typed
    stay in the form), and tells at the top of the page which fields to look at and whatever
    has no field of its own on the form. A form whose fields are named otherwise than the
    service's (a nested "contract.start" is the form's "start") maps them in `service_names`."""
    shown, elsewhere = [], []
    renamed = getattr(form, "service_names", {})
    for name, message in (getattr(exc, "fields", None) or {}).items():
        field = getattr(form, renamed.get(name, name), None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*field.errors, message]
            shown.append(field.label.text)
        else:
            elsewhere.append(message)
    if shown:
        flash(f"入力内容を確認してください（{'、'.join(shown)}）。" + "".join(elsewhere), "error")
    else:
        flash("".join(elsewhere) or exc.message, "error")


def submit(form, do, success, back, again):
    """A page's form with fields: runs `do()`; tells its success (a text, or a function of what
    `do` returned) and goes to `back` (a path, or a function of that result). A refusal shows the
    page again, `again(status)`, with the form as typed and every refused field's message beside
    its field (show_refusal); a refusal of permission is also audited (flash_refusal)."""
    if not form.validate_on_submit():  # CSRFProtect checks the token first; nothing else is checked here
        flash("フォームの送信内容を確認できませんでした。もう一度操作してください。", "error")
        return again(400)
    try:
        done = do()
    except Invalid as exc:
        show_refusal(form, exc)
        return again(exc.status)
    except DomainError as exc:
        flash_refusal(exc)
        return again(exc.status)
    flash(success(done) if callable(success) else success, "success")
    return redirect(back(done) if callable(back) else back)


def act(do, success, back: str):
    """A page's action button: runs `do()`, tells its success (a text, or a function of what
    `do` returned) or its refusal, and goes back to `back`."""
    try:
        done = do()
    except DomainError as exc:
        flash_refusal(exc)
    else:
        flash(success(done) if callable(success) else success, "success")
    return redirect(back)


def flash_refusal(exc: DomainError) -> None:
    """A refused action, told on the page the user returns to; a refusal of permission (401, 403)
    is also recorded in the audit log, as every denied request is."""
    if exc.status in (401, 403):
        _audit_refusal(exc.status, exc.code)
    flash(exc.message, "error")


def role_required(*roles):
    """Page guard; the services check again, this only spares rendering a page that cannot work."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.has_role(*roles):
                raise Forbidden("このページを表示する権限がありません。")
            return view(*args, **kwargs)
        return wrapped
    return decorator


def _audit_refusal(status: int, reason: str) -> None:
    try:
        db.session.rollback()
        hooks.record_refusal(current_actor(), path=request.path, method=request.method, reason=reason,
                             address=request.remote_addr)
    except Exception:  # the refusal must still reach the user even if the log write fails
        log.exception("could not record a denied request")


def _error_response(status: int, code: str, message: str, extra: dict | None = None,
                    fields: dict | None = None):
    if status in (401, 403):
        _audit_refusal(status, code)
    if wants_json():
        body = {"error": {"code": code, "message": message, **({"fields": fields} if fields else {})}}
        body.update(extra or {})
        return jsonify(body), status
    template = f"errors/{status}.html" if status in (403, 404, 500) else "errors/error.html"
    return render_template(template, status=status, message=message, code=code), status


def _menu() -> list[tuple[str, str, bool]]:
    """(href, label, is the current page) of the signed-in user's menu."""
    here, kind = request.endpoint, request.args.get("kind")
    return [(url_for(endpoint, **args), label, here == endpoint and args.get("kind", kind) == kind)
            for endpoint, args, label in nav.entries_for(current_user, current_app.view_functions)]


def init_app(app: Flask) -> None:
    @app.before_request
    def nothing_committed_yet():
        db.forget_commits()

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
        db.session.rollback()
        return _error_response(exc.status, exc.code, exc.message, exc.extra, getattr(exc, "fields", None))

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
        log.error("unhandled error on %s %s: %s", request.method, request.path, type(exc).__name__,
                  exc_info=exc)
        committed = db.committed()
        db.session.rollback()
        code, message = HTTP_MESSAGES[500]
        if committed:
            message = AFTER_COMMIT_MESSAGE
        return _error_response(500, code, message)

    app.jinja_env.filters.update(
        wareki=wareki_date,
        wareki_dt=wareki_datetime,
        state_label=states.label,
        kind_label=lambda k: states.KIND_LABELS.get(states.Kind(k), k) if k else "",
        role_label=role_label,
        iso=clock.iso,
        duration=durations.text,
    )

    @app.context_processor
    def navigation():
        return {"nav_links": _menu() if current_user.is_authenticated else [],
                "organisation": app.config["ORGANISATION_NAME"],
                "has_endpoint": lambda name: name in app.view_functions,
                "today": clock.today_jst()}
