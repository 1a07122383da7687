"""The auditor's desk: the reports index, the 管理簿 as PDF and CSV, the exceptions page and PDF,
and the statistics for the council's annual report (page and CSV).

Every file that leaves the system (PDF, CSV) is recorded as report:generated with its filters and
row count. A refused or malformed request renders the index again with the message and the
status (403 through web.py, so it is audited as a denied request).
"""
from __future__ import annotations

from flask import (Blueprint, Response, render_template, request, stream_with_context, url_for)
from flask_login import current_user, login_required

from ..roles import Role
from ..auth.services import list_departments, parse_department
from ..clock import today_jst
from ..errors import DomainError
from ..items.queries import sees_all
from ..states import ITEM_KINDS, KIND_LABELS
from ..web import role_required
from . import council, queries, statistics
from ..documents.csvkit import iter_csv
from ..documents.signing import sign_pdf
from ..documents.render import CATEGORY_LABELS, LEDGER_TITLES, render_exceptions_pdf, render_ledger_pdf, section_label
from ..documents.svg import bar_chart
from ..documents.imprint import record_report
from .. import fiscal

bp = Blueprint("reports", __name__, url_prefix="/reports")

DESK = queries.DESK_ROLES


def init_app(app) -> None:
    app.register_blueprint(bp)


def _download(data, mimetype: str, filename: str, *, stream: bool = False) -> Response:
    response = Response(stream_with_context(data) if stream else data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _index(error: DomainError | None = None, status: int = 200):
    """The index page; with `error`, the refused request's parameters are shown again."""
    today = today_jst()
    year = fiscal.fiscal_year_of(today)
    every = sees_all(current_user)
    args = request.args if error is not None else {}
    return render_template(
        "reports/index.html", error=error, args=args, sees_all=every,
        departments=list_departments() if every else [current_user.department],
        kinds=[(k.value, KIND_LABELS[k]) for k in ITEM_KINDS], titles=LEDGER_TITLES,
        period_from=args.get("from", f"{year:04d}-04-01"), period_to=args.get("to", today.isoformat()),
        may_desk=current_user.has_role(*DESK), may_audit=current_user.has_role(Role.AUDITOR, Role.ADMIN),
        years=fiscal.year_choices(today), year=year, today=today), status


def _refusal(exc: DomainError):
    if exc.status in (401, 403):
        raise exc  # web.py renders the 403 page and records the denied request
    return _index(exc, exc.status)


@bp.route("")
@login_required
@role_required(*queries.LEDGER_ROLES)
def index():
    return _index()


@bp.route("/ledger.pdf")
@login_required
def ledger_pdf():
    try:
        req = queries.ledger_request(current_user, request.args)
    except DomainError as exc:
        return _refusal(exc)
    rows = queries.Counter(queries.ledger_rows(req, current_user))
    pdf = sign_pdf(render_ledger_pdf(queries.ledger_report(req, current_user, rows)))
    record_report(current_user, "ledger", format="pdf", rows=rows.count, **req.audit_details())
    return _download(pdf, "application/pdf", f"{req.file_stem()}.pdf")


@bp.route("/ledger.csv")
@login_required
def ledger_csv():
    try:
        req = queries.ledger_request(current_user, request.args)
    except DomainError as exc:
        return _refusal(exc)
    # Recorded before the first byte: an aborted download was still a read of the ledger.
    count = queries.ledger_row_count(req, current_user)
    record_report(current_user, "ledger", format="csv", rows=count, **req.audit_details())
    kind, actor = req.kind, current_user._get_current_object()
    rows = (queries.csv_cells(kind, row) for row in queries.ledger_rows(req, actor))
    return _download(iter_csv(queries.csv_headers(kind), rows), "text/csv",
                     f"{req.file_stem()}.csv", stream=True)


@bp.route("/exceptions")
@login_required
@role_required(*DESK)
def exceptions():
    try:
        as_of = queries.parse_as_of(request.args.get("as_of"))
    except DomainError as exc:
        return _refusal(exc)
    findings = queries.compute_findings(as_of)
    return render_template("reports/exceptions.html", findings=findings, as_of=as_of,
                           categories=list(CATEGORY_LABELS.items()), limit=queries.PAGE_LIMIT,
                           section_label=section_label)


@bp.route("/exceptions.pdf")
@login_required
def exceptions_pdf():
    try:
        queries.require_desk(current_user)
        as_of = queries.parse_as_of(request.args.get("as_of"))
    except DomainError as exc:
        return _refusal(exc)
    report, count = queries.exceptions_report(current_user, as_of)
    pdf = sign_pdf(render_exceptions_pdf(report))
    record_report(current_user, "exceptions", format="pdf", as_of=as_of.isoformat(), rows=count)
    return _download(pdf, "application/pdf", f"exceptions-{as_of.isoformat()}.pdf")


def _statistics_args():
    queries.require_desk(current_user)
    year = fiscal.parse_year(request.args.get("year"))
    department = parse_department(request.args.get("department"))
    return year, department


@bp.route("/statistics")
@login_required
@role_required(*DESK)
def statistics_page():
    try:
        year, department = _statistics_args()
    except DomainError as exc:
        return _refusal(exc)
    stats = statistics.compute_statistics(year, department)
    chart = bar_chart([f"{m}月" for _, m in stats.months],
                      [(legend, colour, stats.series(key)) for key, legend, colour in statistics.SERIES],
                      title=f"{stats.label} 月別件数"
                            + (f"（{department.name}）" if department else "（全所属）"))
    years = fiscal.year_choices()
    if year not in {y for y, _ in years}:
        years.append((year, fiscal.fiscal_year_label(year)))
    return render_template("reports/statistics.html", stats=stats, chart=chart, metrics=statistics.METRICS,
                           years=years, department=department, departments=list_departments(),
                           month_key=statistics.month_key,
                           council=council.council_figures(year, department),
                           fiscal_year_label=fiscal.fiscal_year_label,
                           council_csv_url=url_for("reports.council_csv", year=year,
                                                   department=department.code if department else None),
                           csv_url=url_for("reports.statistics_csv", year=year,
                                           department=department.code if department else None))


@bp.route("/statistics-council.csv")
@login_required
def council_csv():
    """The council's figures (利用事務別・根拠別・指摘事項・自己点検) in long format."""
    try:
        year, department = _statistics_args()
    except DomainError as exc:
        return _refusal(exc)
    figures = council.council_figures(year, department)
    rows = list(figures.csv_rows())
    record_report(current_user, "statistics", format="csv", year=year,
                          department=department.code if department else None, rows=len(rows))
    name = f"statistics-council-FY{year}" + (f"-{department.code}" if department else "") + ".csv"
    return _download(b"".join(iter_csv(figures.csv_headers(), rows)), "text/csv", name)


@bp.route("/statistics.csv")
@login_required
def statistics_csv():
    try:
        year, department = _statistics_args()
    except DomainError as exc:
        return _refusal(exc)
    stats = statistics.compute_statistics(year, department)
    rows = list(stats.csv_rows())
    record_report(current_user, "statistics", format="csv", year=year,
                          department=department.code if department else None, rows=len(rows))
    name = f"statistics-FY{year}" + (f"-{department.code}" if department else "") + ".csv"
    return _download(b"".join(iter_csv(stats.csv_headers(), rows)), "text/csv", name)
