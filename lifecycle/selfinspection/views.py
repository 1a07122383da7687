"""Pages of the self-inspection (自己点検): progress per department for a 年度, one department's
answers with the forms to answer, file and sample them, the checklist for admins, the PDFs."""
from __future__ import annotations

import io

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required

from ..auditlog.describe import load_names, register_vocabulary
from ..clock import fiscal_year, today_jst
from ..errors import DomainError, Forbidden, Invalid
from ..findings.services import fiscal_year_text
from ..items.queries import has_any_role, sees_all
from ..roles import Role
from ..web import act, flash_refusal
from . import report, services

bp = Blueprint("selfinspection", __name__)


def init_app(app) -> None:
    app.register_blueprint(bp)
    register_vocabulary("self_inspection_answer", services.ANSWERS)


def _reader() -> None:
    if not has_any_role(current_user):
        raise Forbidden("自己点検を閲覧する権限がありません。")


def _errors(exc: DomainError) -> dict:
    return (exc.fields or {"_": exc.message}) if isinstance(exc, Invalid) else {"_": exc.message}


def _year(status_holder: list) -> int:
    try:
        return services.parse_year(request.args.get("fiscal_year"))
    except Invalid as exc:
        flash(exc.message, "error")
        status_holder.append(422)
        return fiscal_year(today_jst())


@bp.route("/self-inspections")
@login_required
def index():
    _reader()
    status: list = []
    year = _year(status)
    rows = services.progress(year)
    if not sees_all(current_user):
        rows = [r for r in rows if r.department_code == current_user.department.code]
    own = services.find_inspection(current_user.department_id, year) if current_user.department_id else None
    return render_template("selfinspection/index.html", rows=rows, year=year, year_text=fiscal_year_text(year),
                           own=own, may_open=services.answer_problem(current_user, current_user.department_id) is None,
                           may_admin=current_user.has_role(Role.ADMIN), sees_all=sees_all(current_user),
                           this_year=fiscal_year(today_jst())), (status[0] if status else 200)


@bp.route("/self-inspections", methods=["POST"])
@login_required
def open_own():
    try:
        inspection = services.open_inspection(current_user, None, request.form.get("fiscal_year"))
    except DomainError as exc:
        flash_refusal(exc)
        return redirect(url_for("selfinspection.index"))
    return redirect(url_for("selfinspection.show", inspection_id=inspection.id))


def _render(inspection_id, values=None, errors=None, status=200, item_id=None):
    inspection = services.get_visible_inspection(current_user, inspection_id)
    answers = {a.item_id: a for a in inspection.answers}
    items = services.checklist() if inspection.status == "answering" else \
        sorted({a.item for a in inspection.answers}, key=lambda i: (i.position, i.id))
    names = load_names([login for a in inspection.answers for login in (a.answered_by, a.sampled_by) if login]
                       + ([inspection.filed_by] if inspection.filed_by else []), masters=False)
    return render_template(
        "selfinspection/inspection.html", inspection=inspection, items=items, answers=answers, names=names,
        labels=services.ANSWERS, year_text=fiscal_year_text(inspection.fiscal_year),
        may_answer=inspection.status == "answering"
        and services.answer_problem(current_user, inspection.department_id) is None,
        may_file=inspection.status == "answering"
        and services.file_problem(current_user, inspection.department_id) is None,
        may_sample=inspection.status == "filed" and current_user.has_role(Role.AUDITOR),
        missing=services.unanswered(inspection) if inspection.status == "answering" else [],
        values=values or {}, errors=errors or {}, error_item=item_id), status


@bp.route("/self-inspections/<int:inspection_id>")
@login_required
def show(inspection_id: int):
    _reader()
    return _render(inspection_id)


@bp.route("/self-inspections/<int:inspection_id>/items/<int:item_id>", methods=["POST"])
@login_required
def answer(inspection_id: int, item_id: int):
    values = {"answer": request.form.get("answer", ""), "note": request.form.get("note", "")}
    upload = request.files.get("file")
    try:
        services.answer_item(current_user, inspection_id, item_id, values,
                             (upload.stream, upload.filename) if upload and upload.filename else None)
    except DomainError as exc:
        if exc.status in (401, 403):
            raise
        flash_refusal(exc)
        return _render(inspection_id, values, _errors(exc), exc.status, item_id)
    flash("回答を記録しました。", "success")
    return redirect(url_for("selfinspection.show", inspection_id=inspection_id) + f"#item-{item_id}")


@bp.route("/self-inspections/<int:inspection_id>/file", methods=["POST"])
@login_required
def file_inspection(inspection_id: int):
    def success(inspection):
        raised = sum(1 for a in inspection.answers if a.finding_id)
        return "自己点検を提出しました。" + (f"「いいえ」の{raised}項目を指摘事項として記録しました。" if raised else "")
    return act(lambda: services.file_inspection(current_user, inspection_id), success,
               url_for("selfinspection.show", inspection_id=inspection_id))


@bp.route("/self-inspection-answers/<int:answer_id>/sample", methods=["POST"])
@login_required
def sample(answer_id: int):
    row = services.get_answer(answer_id)
    values = {"supported": request.form.get("supported", ""), "note": request.form.get("note", "")}
    try:
        services.sample_answer(current_user, answer_id, values)
    except DomainError as exc:
        if exc.status in (401, 403):
            raise
        flash_refusal(exc)
        return _render(row.inspection_id, values, _errors(exc), exc.status, row.item_id)
    flash("抽出確認を記録しました。", "success")
    return redirect(url_for("selfinspection.show", inspection_id=row.inspection_id) + f"#item-{row.item_id}")


@bp.route("/self-inspection-answers/<int:answer_id>/file")
@login_required
def evidence(answer_id: int):
    stored, data = services.evidence_bytes(current_user, answer_id)
    return send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True,
                     download_name=stored.original_name)


@bp.route("/self-inspections/<int:inspection_id>/report.pdf")
@login_required
def department_pdf(inspection_id: int):
    inspection = services.get_visible_inspection(current_user, inspection_id)
    return send_file(io.BytesIO(report.department_pdf(current_user, inspection)), mimetype="application/pdf",
                     as_attachment=True, download_name=f"self-inspection-{inspection.fiscal_year}.pdf")


@bp.route("/self-inspections/report.pdf")
@login_required
def prefecture_pdf():
    if not sees_all(current_user):
        raise Forbidden("全庁の自己点検結果を出力できるのは、監査担当・システム管理者・セキュリティ管理者です。")
    year = services.parse_year(request.args.get("fiscal_year"))
    return send_file(io.BytesIO(report.prefecture_pdf(current_user, year)), mimetype="application/pdf",
                     as_attachment=True, download_name=f"self-inspection-{year}-all.pdf")


# --- the checklist (admins) ---------------------------------------------------------------------

ITEM_FIELDS = ("theme", "question", "evidence_required", "position", "active")


def _render_checklist(values=None, errors=None, status=200, item_id=None):
    return render_template("selfinspection/checklist.html", items=services.checklist(active_only=False),
                           values=values or {}, errors=errors or {}, error_item=item_id), status


@bp.route("/self-inspections/checklist")
@login_required
def checklist():
    if not current_user.has_role(Role.ADMIN):
        raise Forbidden("自己点検の点検項目を変更できるのはシステム管理者です。")
    return _render_checklist()


@bp.route("/self-inspections/checklist/defaults", methods=["POST"])
@login_required
def seed_defaults():
    if not current_user.has_role(Role.ADMIN):
        raise Forbidden("自己点検の点検項目を変更できるのはシステム管理者です。")
    return act(lambda: services.seed_default_checklist(current_user),
               lambda added: f"既定の点検項目を{added}件登録しました。" if added else "点検項目は既に登録されています。",
               url_for("selfinspection.checklist"))


def _item_values() -> dict:
    return {name: request.form.get(name, "") for name in ITEM_FIELDS}


@bp.route("/self-inspections/checklist", methods=["POST"])
@login_required
def add_item():
    values = _item_values()
    try:
        services.add_checklist_item(current_user, values)
    except DomainError as exc:
        if exc.status in (401, 403):
            raise
        flash_refusal(exc)
        return _render_checklist(values, _errors(exc), exc.status)
    flash("点検項目を追加しました。", "success")
    return redirect(url_for("selfinspection.checklist"))


@bp.route("/self-inspections/checklist/<int:item_id>", methods=["POST"])
@login_required
def update_item(item_id: int):
    values = _item_values()
    try:
        services.update_checklist_item(current_user, item_id, values)
    except DomainError as exc:
        if exc.status in (401, 403):
            raise
        flash_refusal(exc)
        return _render_checklist(values, _errors(exc), exc.status, item_id)
    flash("点検項目を変更しました。", "success")
    return redirect(url_for("selfinspection.checklist"))
