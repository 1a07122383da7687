"""Label PDFs: one item's label, or a sheet of the items ticked in the ledger (or posted as JSON).

Both accept the logged-in session or an API bearer token, so a script can print a sheet too.
A session POST needs the CSRF token; a bearer-token request carries no cookie to ride on.
"""
from __future__ import annotations

from flask import (Blueprint, Response, current_app, flash, jsonify, redirect, render_template, request,
                   url_for)
from flask_login import current_user, login_required

from ..auditlog.describe import register_vocabulary
from .. import web
from ..errors import DomainError, Unauthenticated
from ..extensions import csrf, db, login_manager
from ..items.services import get_visible_row
from . import services
from .layouts import get_layout

bp = Blueprint("labels", __name__, url_prefix="/labels")
#: Scanning: the scan box of every page, and the address a label's QR code holds.
scan_bp = Blueprint("scan", __name__)


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(scan_bp)
    register_vocabulary("layout", lambda name: get_layout(name).title)

    @app.context_processor
    def label_layouts():
        """The layouts the ledger and the item page offer for printing."""
        return {"label_layouts": services.layouts, "last_label_layout": services.last_layout}
    app.add_template_global(services.may_print, "may_print_labels")  # print buttons only for them


def _json_wanted() -> bool:
    return request.is_json or web.bearer_token() is not None


def _actor():
    """The token's user (the API's bearer path), the session's user, or None (not logged in)."""
    if web.bearer_token() is not None:
        return web.authenticate_bearer()
    if current_user.is_authenticated:
        return current_user._get_current_object()
    if _json_wanted():
        raise Unauthenticated("認証が必要です。ログインするか、正しいAPIトークンを指定してください。")
    return None


@scan_bp.route("/scan")
@login_required
def scan():
    scanned = services.parse_scan(request.args.get("q"))
    if scanned.payload:
        return redirect(url_for("scan.open_label", payload=scanned.payload))
    if not scanned.code:
        flash("読み取った内容が空です。ラベルの QR コードをもう一度読み取ってください。", "warning")
        return redirect(web.same_site_referrer() or url_for("home.dashboard"))
    code = services.find_code(scanned.code)
    if code is None:
        return render_template("labels/scan_missing.html", q=scanned.code[:40]), 404
    return redirect(url_for("items.show", code=code))


@scan_bp.route("/s/<path:payload>")
@login_required
def open_label(payload: str):
    """Where a label's QR code points: a genuine tag opens the item, a false one warns."""
    try:
        item = services.resolve_label(current_user, services.parse_scan("/s/" + payload).payload or payload,
                                      find=get_visible_row)
    except services.LabelForged as exc:
        return render_template("labels/forged.html", message=exc.message), 404
    return redirect(url_for("items.show", code=item.code))


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError):
    """JSON callers get the error JSON of docs/api.md; people get a message on the page they came from."""
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
    return web.same_site_referrer()


def _pdf(data: bytes, filename: str) -> Response:
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


@bp.route("/<code>.pdf")
def label(code: str):
    actor = _actor()
    if actor is None:
        return login_manager.unauthorized()
    pdf, _layout = services.print_labels(actor, [code], request.args.get("layout"), request.args.get("start"))
    return _pdf(pdf, f"label-{code[:20]}.pdf")


@bp.route("/sheet.pdf", methods=["POST"])
@csrf.exempt
def sheet():
    actor = _actor()
    if actor is None:
        return login_manager.unauthorized()
    if web.bearer_token() is None and current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()  # a session request: a form post from the ledger, or JSON with X-CSRFToken
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise DomainError("リクエスト本文は JSON オブジェクトで送信してください。", code="malformed_json")
        codes, layout, start = body.get("codes"), body.get("layout"), body.get("start")
    else:
        codes, layout, start = request.form.getlist("codes"), request.form.get("layout"), request.form.get("start")
        if not codes:
            # In the words of the ledger page: its left-hand tick boxes and its print button.
            flash("印刷するものが選ばれていません。一覧の左端のチェックボックスで印刷するものにチェックを付けてから、"
                  "「チェックしたもののラベルを印刷」を押してください。", "warning")
            return redirect(_back() or url_for("items.ledger"))
    pdf, _layout = services.print_labels(actor, codes, layout, start)
    count = len(codes) if isinstance(codes, list) else 1
    return _pdf(pdf, f"labels-{count}.pdf")

