"""Label PDFs: one item's label, or a sheet of the items ticked in the ledger (or posted as JSON).

Both accept the logged-in session or an API bearer token, so a script can print a sheet too.
A session POST needs the CSRF token; a bearer-token request carries no cookie to ride on.
"""
from __future__ import annotations

import re

from flask import (Blueprint, Response, current_app, flash, g, jsonify, redirect, request,
                   url_for)
from flask_login import current_user

from .. import web
from ..auth.services import user_for_token
from ..errors import DomainError, Unauthenticated
from ..extensions import csrf, db, login_manager
from . import services

bp = Blueprint("labels", __name__, url_prefix="/labels")


def init_app(app) -> None:
    app.register_blueprint(bp)


def _bearer() -> str | None:
    match = re.fullmatch(r"Bearer\s+(\S+)", request.headers.get("Authorization", "").strip())
    return match.group(1) if match else None


def _json_wanted() -> bool:
    return request.is_json or _bearer() is not None


def _actor():
    """The token's user, the session's user, or None (not logged in)."""
    token = _bearer()
    if token is not None:
        user = user_for_token(token)
        if user is None:
            raise Unauthenticated("認証が必要です。Authorization ヘッダーに有効な Bearer トークンを指定してください。")
        g.actor = user  # so a refusal is audited under this user's name
        return user
    if current_user.is_authenticated:
        return current_user._get_current_object()
    if _json_wanted():
        raise Unauthenticated("認証が必要です。ログインするか、正しいAPIトークンを指定してください。")
    return None


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError):
    """JSON callers get the error JSON of API.md; people get a message on the page they came from."""
    db.session.rollback()
    if _json_wanted():
        if exc.status in (401, 403):
            web._audit_refusal(exc.status, exc.code)
        return jsonify(exc.to_json()), exc.status
    if exc.status in (401, 403) or not _back():
        return web._error_response(exc.status, exc.code, exc.message, exc.extra)
    flash(exc.message, "error")
    return redirect(_back())


def _back() -> str | None:
    """The same-site page the request came from (the ledger or the item page)."""
    referrer = request.referrer
    if referrer and referrer.startswith(request.host_url):
        return referrer
    return None


def _pdf(data: bytes, filename: str) -> Response:
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


@bp.route("/<code>.pdf")
def label(code: str):
    actor = _actor()
    if actor is None:
        return login_manager.unauthorized()
    pdf, _layout = services.print_labels(actor, [code], request.args.get("layout"))
    return _pdf(pdf, f"label-{code[:20]}.pdf")


@bp.route("/sheet.pdf", methods=["POST"])
@csrf.exempt
def sheet():
    actor = _actor()
    if actor is None:
        return login_manager.unauthorized()
    if _bearer() is None and current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()  # a session request: a form post from the ledger, or JSON with X-CSRFToken
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise DomainError("リクエスト本文は JSON オブジェクトで送信してください。", code="malformed_json")
        codes, layout = body.get("codes"), body.get("layout")
    else:
        codes, layout = request.form.getlist("codes"), request.form.get("layout")
        if not codes:
            flash("印刷するものにチェックを付けてから「ラベル印刷」を押してください。", "warning")
            return redirect(_back() or url_for("items.ledger"))
    pdf, _layout = services.print_labels(actor, codes, layout)
    count = len(codes) if isinstance(codes, list) else 1
    return _pdf(pdf, f"labels-{count}.pdf")

