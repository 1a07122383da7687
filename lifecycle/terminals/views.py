"""Pages of the terminals and the 使用伺い簿: the terminals list (admins register), one terminal
with its book, the book per department (searchable), one use with its actions, the book as a
signed PDF and as CSV. Views parse and call the services; refused input re-renders the page
with every error beside its field and the values kept."""
from __future__ import annotations

from flask import Blueprint, Response, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user, login_required

from ..auth.services import list_businesses, list_departments
from ..errors import DomainError, Invalid
from ..items.queries import sees_all
from ..items.services import OutputApprovals, register_output_approvals
from ..documents.imprint import imprint_for, record_report
from ..documents.signing import sign_pdf
from ..roles import Role
from ..states import State
from ..web import act, flash_refusal
from . import queries, services, tasks
from .book import Book, book_csv, book_lines, render_book_pdf
from .forms import BOOK_STATES, CLOSE_FIELDS, REQUEST_FIELDS, TERMINAL_FIELDS, book_filter, pick
from ..items.panels import register_item_panel
from ..extensions import db
from .models import Terminal

bp = Blueprint("terminals", __name__)

#: The page's own search shows this many rows; the PDF and CSV hold every one.
PAGE_ROWS = 200


def init_app(app) -> None:
    app.register_blueprint(bp)
    register_output_approvals(OutputApprovals(services.output_use, services.link_form, queries.output_choices))
    tasks.register()
    register_item_panel("terminals/_item_panel.html", _item_panel, order=15)


def _item_panel(item, user):
    """On a form's page, the approval it was printed under; on a device's, the terminal it is."""
    from sqlalchemy import select


    if item.kind == "form":
        use_id = services.use_of_form(item.id)
        if use_id is None:
            return None
        use = services.get_use(use_id)
        return {"use": use, "visible": services.may_see(user, use), "period": services.use_period_text(use)}
    if item.kind == "device":
        terminal = db.session.scalar(select(Terminal).where(Terminal.device_item_id == item.id))
        return {"use": None, "terminal": terminal} if terminal is not None else None
    return None


def _may_request() -> bool:
    return current_user.has_role(*services.USER_ROLES)


def _reader():
    """Page guard: anyone with an effective role reads (what they may see is the services')."""
    services.list_terminals(current_user)  # raises Forbidden without an effective role


def _refusal_fields(exc: DomainError) -> dict:
    if isinstance(exc, Invalid):
        return exc.fields or {"_": exc.message}
    return {"_": exc.message}


# --- terminals ----------------------------------------------------------------------------------

def _render_terminals(values: dict | None = None, errors: dict | None = None, status: int = 200):
    every = sees_all(current_user)
    return render_template(
        "terminals/index.html",
        terminals=services.list_terminals(current_user, None if every else current_user.department_id),
        department_options=[(d.code, d.name) for d in list_departments(active_only=True)],
        may_register=current_user.has_role(Role.ADMIN),
        values=values or {}, errors=errors or {}), status


@bp.route("/terminals")
@login_required
def index():
    _reader()
    return _render_terminals()


@bp.route("/terminals", methods=["POST"])
@login_required
def create():
    data = pick(request.form, TERMINAL_FIELDS)
    try:
        terminal = services.register_terminal(current_user, data)
    except DomainError as exc:
        if exc.status in (401, 403):
            raise
        flash_refusal(exc)
        return _render_terminals(data, _refusal_fields(exc), exc.status)
    return redirect(url_for("terminals.terminal", terminal_code=terminal.code))


def _render_book(template: str, flt, *, terminal=None, values=None, errors=None, status=200, search_error=None):
    rows = queries.book_rows(flt, current_user, PAGE_ROWS + 1) if flt is not None else []
    more = len(rows) > PAGE_ROWS
    rows = rows[:PAGE_ROWS]
    every = sees_all(current_user)
    terminals = services.list_terminals(current_user, None if every else current_user.department_id)
    return render_template(
        template, terminal=terminal, rows=rows, more=more, forms=queries.forms_by_use([r.id for r in rows]),
        args=request.args, terminals=terminals,
        terminal_options=[(t.code, f"{t.code}（{t.department.name}、{t.location}）") for t in terminals if t.active],
        business_options=[(b.code, f"{b.name}（{b.basis}）") for b in list_businesses(active_only=True)],
        departments=list_departments(active_only=True) if every else [current_user.department],
        states=BOOK_STATES, may_request=_may_request(), may_admin=current_user.has_role(Role.ADMIN),
        values=values or {}, errors=errors or {}, search_error=search_error,
        period_text=services.use_period_text), status


@bp.route("/terminals/<terminal_code>")
@login_required
def terminal(terminal_code: str):
    _reader()
    found = services.get_terminal(terminal_code)
    try:
        flt = book_filter(request.args, terminal_id=found.id)
    except Invalid as exc:
        return _render_book("terminals/terminal.html", None, terminal=found, search_error=exc, status=422)
    return _render_book("terminals/terminal.html", flt, terminal=found)


@bp.route("/terminals/<terminal_code>/device", methods=["POST"])
@login_required
def link_device(terminal_code: str):
    return act(lambda: services.link_device(current_user, terminal_code, request.form.get("device")),
               "端末と機器の結び付けを記録しました。", url_for("terminals.terminal", terminal_code=terminal_code))


@bp.route("/terminals/<terminal_code>/active", methods=["POST"])
@login_required
def set_active(terminal_code: str):
    data = pick(request.form, ("active", "reason"))
    return act(lambda: services.set_active(current_user, terminal_code, data),
               lambda t: f"端末「{t.code}」を{'再開' if t.active else '使用停止に'}しました。",
               url_for("terminals.terminal", terminal_code=terminal_code))


# --- the book -----------------------------------------------------------------------------------

@bp.route("/terminal-uses")
@login_required
def book():
    _reader()
    try:
        flt = book_filter(request.args)
    except Invalid as exc:
        return _render_book("terminals/book.html", None, search_error=exc, status=422)
    return _render_book("terminals/book.html", flt)


@bp.route("/terminal-uses", methods=["POST"])
@login_required
def request_use():
    data = pick(request.form, REQUEST_FIELDS)
    try:
        use = services.request_use(current_user, data)
    except DomainError as exc:
        if exc.status in (401, 403):
            raise
        flash_refusal(exc)
        found = services.find_terminal(request.form.get("back_terminal") or "")
        template = "terminals/terminal.html" if found else "terminals/book.html"
        flt = book_filter({}, terminal_id=found.id if found else None)
        return _render_book(template, flt, terminal=found, values=data, errors=_refusal_fields(exc),
                            status=exc.status)
    return redirect(url_for("terminals.use", use_id=use.id))


def _render_use(use, values=None, errors=None, status=200):
    return render_template(
        "terminals/use.html", use=use, forms=services.linked_forms(use),
        may_decide=services.may_decide(current_user, use), may_close=services.may_close(current_user, use),
        may_cancel=use.status in (State.REQUESTED.value, State.APPROVED.value) and current_user.id == use.user_id
        and current_user.has_role(*services.USER_ROLES),
        may_register_form=use.status in (State.APPROVED.value, State.CLOSED.value) and use.approved_at is not None
        and current_user.has_role(Role.REGISTRAR, Role.BULK_OPERATOR),
        period_text=services.use_period_text(use), values=values or {}, errors=errors or {},
        to_local=services.to_local_input), status


@bp.route("/terminal-uses/<int:use_id>")
@login_required
def use(use_id: int):
    return _render_use(services.get_visible_use(current_user, use_id))


def _use_action(use_id: int, do, success: str, fields=()):
    """Runs an action on a use; a refused value re-renders the page with it beside its field."""
    data = pick(request.form, fields)
    try:
        do(data)
    except Invalid as exc:
        flash_refusal(exc)
        return _render_use(services.get_visible_use(current_user, use_id), data, _refusal_fields(exc), exc.status)
    except DomainError as exc:
        flash_refusal(exc)
    else:
        from flask import flash

        flash(success, "success")
    return redirect(url_for("terminals.use", use_id=use_id))


@bp.route("/terminal-uses/<int:use_id>/approve", methods=["POST"])
@login_required
def approve(use_id: int):
    return _use_action(use_id, lambda data: services.approve_use(current_user, use_id, data),
                       "使用を承認しました。", ("no_camera_phone_usb",))


@bp.route("/terminal-uses/<int:use_id>/refuse", methods=["POST"])
@login_required
def refuse(use_id: int):
    return _use_action(use_id, lambda data: services.refuse_use(current_user, use_id, data),
                       "使用伺いを却下しました。", ("reason",))


@bp.route("/terminal-uses/<int:use_id>/close", methods=["POST"])
@login_required
def close(use_id: int):
    return _use_action(use_id, lambda data: services.close_use(current_user, use_id, data),
                       "使用終了を記録しました。", CLOSE_FIELDS)


@bp.route("/terminal-uses/<int:use_id>/cancel", methods=["POST"])
@login_required
def cancel(use_id: int):
    return _use_action(use_id, lambda data: services.cancel_use(current_user, use_id, data),
                       "使用伺いを取り消しました。", ("reason",))


# --- the book as PDF and CSV --------------------------------------------------------------------

def _book_request():
    """(filter, scope words, terminal) of a download; a bad filter is a 422 page."""
    _reader()
    found = None
    if request.args.get("terminal"):
        found = services.get_terminal(request.args["terminal"])
    flt = book_filter(request.args, terminal_id=found.id if found else None)
    if found is not None:
        scope = f"端末 {found.code}（{found.department.name}、{found.location}）"
    elif flt.department_id is not None:
        scope = next((d.name for d in list_departments() if d.id == flt.department_id), "")
    else:
        scope = "全所属" if sees_all(current_user) else f"{current_user.department.name}（自所属）"
    return flt, scope, found


def _download(data, mimetype: str, filename: str, *, stream: bool = False) -> Response:
    response = Response(stream_with_context(data) if stream else data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _audit_details(flt, found) -> dict:
    details = {}
    if flt.department_id is not None:
        details["department"] = next(d.code for d in list_departments() if d.id == flt.department_id)
    if flt.day_from:
        details["from"] = flt.day_from.isoformat()
    if flt.day_to:
        details["to"] = flt.day_to.isoformat()
    return details


@bp.route("/reports/terminal-uses.pdf")
@login_required
def book_pdf():
    try:
        flt, scope, found = _book_request()
    except Invalid as exc:
        return _render_book("terminals/book.html", None, search_error=exc, status=422)
    rows = queries.book_rows(flt, current_user)
    lines = list(book_lines(rows, queries.forms_by_use([r.id for r in rows])))
    pdf = sign_pdf(render_book_pdf(Book(imprint_for(current_user), scope, flt.day_from, flt.day_to, lines)))
    record_report(current_user, "terminal_uses", format="pdf", rows=len(lines), **_audit_details(flt, found))
    return _download(pdf, "application/pdf", "terminal-uses.pdf")


@bp.route("/reports/terminal-uses.csv")
@login_required
def book_csv_download():
    try:
        flt, _scope, found = _book_request()
    except Invalid as exc:
        return _render_book("terminals/book.html", None, search_error=exc, status=422)
    rows = queries.book_rows(flt, current_user)
    lines = list(book_lines(rows, queries.forms_by_use([r.id for r in rows])))
    record_report(current_user, "terminal_uses", format="csv", rows=len(lines), **_audit_details(flt, found))
    return _download(book_csv(lines), "text/csv", "terminal-uses.csv", stream=True)
