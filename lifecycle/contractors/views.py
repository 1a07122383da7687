"""Pages of the contractor register: the list with its register form, one contractor with its
contracts, 誓約書, re-subcontractors and 実地確認, and the stored files (re-hashed on download)."""
from __future__ import annotations

import io

from flask import Blueprint, redirect, render_template, request, send_file, url_for
from flask_login import current_user

from ..auditlog.describe import register_master, register_vocabulary
from ..clock import today_jst
from ..errors import DomainError
from ..web import act, flash_refusal, role_required
from . import services
from .forms import contractor_data
from .models import Contractor

bp = Blueprint("contractors", __name__)


def init_app(app) -> None:
    app.register_blueprint(bp)
    register_vocabulary("services", services.SERVICES)
    register_vocabulary("clauses", services.CLAUSES)
    register_master("contractor", Contractor.id, Contractor.name)


def _render_index(values: dict | None = None, status: int = 200):
    return render_template("contractors/index.html", contractors=services.list_contractors(current_user),
                           may_edit=services.may_edit(current_user), values=values or {},
                           service_labels=services.SERVICES, clause_labels=services.CLAUSES,
                           today=today_jst(), exceptions_of=services.contractor_exceptions,
                           contract_on=services.contract_on), status


@bp.route("/contractors")
@role_required(*services.READERS)
def index():
    return _render_index()


@bp.route("/contractors", methods=["POST"])
@role_required(*services.READERS)
def create():
    data = contractor_data(request.form)
    upload = request.files.get("file")
    try:
        contractor = services.register_contractor(
            current_user, data, (upload.stream, upload.filename) if upload and upload.filename else None)
    except DomainError as exc:
        flash_refusal(exc)
        return _render_index(request.form.to_dict(flat=False), exc.status)
    return redirect(url_for("contractors.show", contractor_id=contractor.id))


@bp.route("/contractors/<int:contractor_id>")
@role_required(*services.READERS)
def show(contractor_id: int):
    contractor = services.get_visible_contractor(current_user, contractor_id)
    today = today_jst()
    return render_template("contractors/contractor.html", contractor=contractor,
                           may_edit=services.may_edit(current_user), today=today,
                           current=services.contract_on(contractor, today),
                           exceptions=services.contractor_exceptions(contractor, today),
                           missing_clauses=services.missing_clauses, service_labels=services.SERVICES,
                           clause_labels=services.CLAUSES, fiscal_year=services.fiscal_year(today))


def _upload():
    upload = request.files.get("file")
    return (upload.stream, upload.filename) if upload and upload.filename else None


def _action(contractor_id: int, do, success: str):
    return act(do, success, url_for("contractors.show", contractor_id=contractor_id))


@bp.route("/contractors/<int:contractor_id>/contracts", methods=["POST"])
@role_required(*services.READERS)
def add_contract(contractor_id: int):
    form = request.form
    data = {"number": form.get("number"), "start": form.get("start"), "end": form.get("end"),
            "clauses": form.getlist("clauses")}
    return _action(contractor_id, lambda: services.add_contract(current_user, contractor_id, data, _upload()),
                   "契約を登録しました。")


@bp.route("/contractors/<int:contractor_id>/pledges", methods=["POST"])
@role_required(*services.READERS)
def add_pledge(contractor_id: int):
    return _action(contractor_id, lambda: services.record_pledge(current_user, contractor_id,
                                                                 request.form.to_dict(), _upload()),
                   "誓約書の受領を記録しました。")


@bp.route("/contractors/<int:contractor_id>/subcontractors", methods=["POST"])
@role_required(*services.READERS)
def add_subcontractor(contractor_id: int):
    form = request.form
    data = {**form.to_dict(), "services": form.getlist("services")}
    return _action(contractor_id, lambda: services.approve_subcontractor(current_user, contractor_id, data),
                   "再委託先の承認を記録しました。")


@bp.route("/contractors/<int:contractor_id>/inspections", methods=["POST"])
@role_required(*services.READERS)
def add_inspection(contractor_id: int):
    return _action(contractor_id, lambda: services.record_inspection(current_user, contractor_id,
                                                                     request.form.to_dict()),
                   "実地確認を記録しました。")


@bp.route("/contractors/<int:contractor_id>/files/<int:file_id>")
@role_required(*services.READERS)
def file(contractor_id: int, file_id: int):
    stored, data = services.file_bytes(current_user, contractor_id, file_id)
    return send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True,
                     download_name=stored.original_name)
