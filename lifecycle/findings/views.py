"""Pages of findings (指摘事項): the lists by view, audit and department with the raise form, one
finding with its whole history and the step its reader may take, the evidence files, the report."""
from __future__ import annotations

import io

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required

from ..auditlog.describe import event_rows, names_for_events, register_vocabulary
from ..audit.services import events_for
from ..auth.services import list_departments
from ..clock import today_jst
from ..errors import DomainError, Forbidden, Invalid
from ..items.queries import has_any_role, sees_all
from ..panels import Panels
from ..web import flash_refusal
from . import report, services, tasks

bp = Blueprint("findings", __name__)

RAISE_FIELDS = ("source", "department", "summary", "severity", "due_on", "audit", "ref_kind", "ref")

#: Sections other domains add to a finding's page (the access-log review: the records it was found
#: in and the look-back opened from them); each provider takes (finding, user).
FINDING_SECTIONS = Panels()


def register_finding_section(template: str, provide, order: int = 50) -> None:
    FINDING_SECTIONS.register(template, provide, order)


def init_app(app) -> None:
    app.register_blueprint(bp)
    register_vocabulary("finding_source", services.SOURCES)
    register_vocabulary("finding_severity", services.SEVERITIES)
    tasks.register()


def _reader() -> None:
    if not has_any_role(current_user):
        raise Forbidden("指摘事項を閲覧する権限がありません。")


def _errors(exc: DomainError) -> dict:
    return (exc.fields or {"_": exc.message}) if isinstance(exc, Invalid) else {"_": exc.message}


def _render_list(values=None, errors=None, status=200, search_error=None):
    try:
        flt = services.parse_filter(request.args)
    except Invalid as exc:
        flt, search_error, status = services.FindingFilter(view="all"), exc, 422
    rows = services.list_findings(current_user, flt)
    every = sees_all(current_user)
    return render_template(
        "findings/index.html", rows=rows, flt=flt, views=services.LIST_VIEWS, search_error=search_error,
        audits=services.audits(current_user), sources=services.SOURCES, severities=services.SEVERITIES,
        ref_kinds=services.REF_KINDS, departments=list_departments(active_only=True) if every
        else [current_user.department], may_raise=current_user.has_role(*services.RAISERS),
        values=values or {}, errors=errors or {}, today=today_jst(), is_overdue=services.is_overdue,
        fiscal_year_text=services.fiscal_year_text), status


@bp.route("/findings")
@login_required
def index():
    _reader()
    return _render_list()


@bp.route("/findings", methods=["POST"])
@login_required
def create():
    _reader()
    values = {name: request.form.get(name, "") for name in RAISE_FIELDS}
    refs = [{"kind": values["ref_kind"], "ref": values["ref"]}] if values["ref"].strip() else []
    try:
        finding = services.raise_finding(
            current_user, source=values["source"], department_code=values["department"], summary=values["summary"],
            severity=values["severity"], due_on=values["due_on"], refs=refs, audit=values["audit"] or None)
    except DomainError as exc:
        if exc.status in (401, 403):
            raise
        flash_refusal(exc)
        errors = {("ref" if key.startswith("refs") else key): message for key, message in _errors(exc).items()}
        return _render_list(values, errors, exc.status)
    flash(f"指摘事項 第{finding.id}号を記録しました。", "success")
    return redirect(url_for("findings.show", finding_id=finding.id))


def _render_finding(finding_id, values=None, errors=None, status=200, form=None):
    finding = services.get_visible_finding(current_user, finding_id)
    events = events_for(finding.audit_subject)
    names = names_for_events(events, also=[finding.raised_by, finding.planned_by, finding.reported_by,
                                           finding.confirmed_by])
    return render_template(
        "findings/finding.html", finding=finding, timeline=event_rows(events, names), names=names,
        sources=services.SOURCES, severities=services.SEVERITIES, ref_kinds=services.REF_KINDS,
        overdue=services.is_overdue(finding), may_answer=services.may_answer(current_user, finding),
        may_confirm=services.may_confirm(current_user, finding),
        confirm_problem=services.confirm_problem(current_user, finding),
        sections=FINDING_SECTIONS.shown(finding, current_user),
        values=values or {}, errors=errors or {}, form=form), status


@bp.route("/findings/<int:finding_id>")
@login_required
def show(finding_id: int):
    _reader()
    return _render_finding(finding_id)


def _step(finding_id: int, form: str, fields: tuple[str, ...], do, success: str):
    """One step's form: done → back to the finding; refused → the page again with the values kept
    and every refused field's message beside it."""
    values = {name: request.form.get(name, "") for name in fields}
    try:
        do(values)
    except DomainError as exc:
        if exc.status in (401, 403) and exc.code != services.SOD_CODE:
            raise
        flash_refusal(exc)
        return _render_finding(finding_id, values, _errors(exc), exc.status, form)
    flash(success, "success")
    return redirect(url_for("findings.show", finding_id=finding_id))


def _uploads() -> list:
    return [(f.stream, f.filename) for f in request.files.getlist("file") if f and f.filename]


@bp.route("/findings/<int:finding_id>/plan", methods=["POST"])
@login_required
def plan(finding_id: int):
    return _step(finding_id, "plan", ("plan",),
                 lambda values: services.submit_plan(current_user, finding_id, values), "改善計画を提出しました。")


@bp.route("/findings/<int:finding_id>/action", methods=["POST"])
@login_required
def action(finding_id: int):
    return _step(finding_id, "action", ("action",),
                 lambda values: services.report_action(current_user, finding_id, values, _uploads()),
                 "措置の完了を報告しました。現地確認を待ちます。")


@bp.route("/findings/<int:finding_id>/confirm", methods=["POST"])
@login_required
def confirm(finding_id: int):
    return _step(finding_id, "confirm", ("note",),
                 lambda values: services.confirm_on_site(current_user, finding_id, values),
                 "現地確認を記録し、指摘事項を完了としました。")


@bp.route("/findings/<int:finding_id>/send-back", methods=["POST"])
@login_required
def send_back(finding_id: int):
    return _step(finding_id, "send_back", ("reason",),
                 lambda values: services.send_back(current_user, finding_id, values), "所属に差し戻しました。")


@bp.route("/findings/<int:finding_id>/files/<int:file_id>")
@login_required
def file(finding_id: int, file_id: int):
    stored, data = services.evidence_bytes(current_user, finding_id, file_id)
    return send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True,
                     download_name=stored.original_name)


@bp.route("/findings/report.pdf")
@login_required
def report_pdf():
    """The report of one audit or one department (the list's filter), signed like other reports."""
    _reader()
    flt = services.parse_filter(request.args)
    data, name = report.findings_report(current_user, flt)
    return send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True, download_name=name)
