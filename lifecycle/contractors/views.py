"""Pages of the contractor register: the list with its register form, one contractor with its
contracts, 誓約書, re-subcontractors and 実地確認, and the stored files (re-hashed on download)."""
from __future__ import annotations

import io

from flask import Blueprint, render_template, send_file, url_for
from flask_login import current_user

from ..auditlog.describe import register_master, register_vocabulary
from ..clock import today_jst
from ..web import role_required, submit
from . import services
from .forms import ContractForm, ContractorForm, InspectionForm, PledgeForm, SubcontractorForm
from .models import Contractor

bp = Blueprint("contractors", __name__)


def init_app(app) -> None:
    app.register_blueprint(bp)
    register_vocabulary("services", services.SERVICES)
    register_vocabulary("clauses", services.CLAUSES)
    register_master("contractor", Contractor.id, Contractor.name)


def _render_index(form: ContractorForm | None = None, status: int = 200):
    form = form or ContractorForm(formdata=None)
    form.services.choices = list(services.SERVICES.items())
    form.clauses.choices = list(services.CLAUSES.items())
    return render_template("contractors/index.html", contractors=services.list_contractors(current_user),
                           may_edit=services.may_edit(current_user), form=form,
                           service_labels=services.SERVICES, clause_labels=services.CLAUSES,
                           today=today_jst(), exceptions_of=services.contractor_exceptions,
                           contract_on=services.contract_on), status


@bp.route("/contractors")
@role_required(*services.READERS)
def index():
    return _render_index()


# A refused form is shown again as typed, each error beside its field (web.submit); a file has to
# be chosen again, as no browser lets a page refill a file field.

@bp.route("/contractors", methods=["POST"])
@role_required(*services.READERS)
def create():
    form = ContractorForm()
    return submit(form, lambda: services.register_contractor(current_user, form.service_data(), form.upload()),
                  lambda contractor: f"委託先「{contractor.name}」を登録しました。",
                  lambda contractor: url_for("contractors.show", contractor_id=contractor.id),
                  lambda status: _render_index(form, status))


#: The forms of the contractor's page, by the name the template knows each by.
PAGE_FORMS = {"contract_form": ContractForm, "pledge_form": PledgeForm, "subcontractor_form": SubcontractorForm,
              "inspection_form": InspectionForm}


def _page_forms(contractor: Contractor, refused: dict) -> dict:
    forms = {name: refused.get(name) or cls(formdata=None) for name, cls in PAGE_FORMS.items()}
    forms["contract_form"].clauses.choices = list(services.CLAUSES.items())
    forms["subcontractor_form"].services.choices = [(key, services.SERVICES[key]) for key in contractor.service_keys]
    if "pledge_form" not in refused:
        forms["pledge_form"].fiscal_year.data = str(services.fiscal_year(today_jst()))
    return forms


@bp.route("/contractors/<int:contractor_id>")
@role_required(*services.READERS)
def show(contractor_id: int, status: int = 200, **refused):
    contractor = services.get_visible_contractor(current_user, contractor_id)
    today = today_jst()
    return render_template("contractors/contractor.html", contractor=contractor,
                           may_edit=services.may_edit(current_user), today=today,
                           current=services.contract_on(contractor, today),
                           exceptions=services.contractor_exceptions(contractor, today),
                           missing_clauses=services.missing_clauses, service_labels=services.SERVICES,
                           clause_labels=services.CLAUSES, refused=set(refused),
                           **_page_forms(contractor, refused)), status


def _submit(contractor_id: int, name: str, do, success: str):
    """One form of the contractor's page; refused, the page again with that form's section open."""
    form = PAGE_FORMS[name]()
    return submit(form, lambda: do(form), success, url_for("contractors.show", contractor_id=contractor_id),
                  lambda status: show(contractor_id, status, **{name: form}))


@bp.route("/contractors/<int:contractor_id>/contracts", methods=["POST"])
@role_required(*services.READERS)
def add_contract(contractor_id: int):
    return _submit(contractor_id, "contract_form", lambda form: services.add_contract(
        current_user, contractor_id, form.contract_data(), form.upload()), "契約を登録しました。")


@bp.route("/contractors/<int:contractor_id>/pledges", methods=["POST"])
@role_required(*services.READERS)
def add_pledge(contractor_id: int):
    return _submit(contractor_id, "pledge_form", lambda form: services.record_pledge(
        current_user, contractor_id, form.service_data(), form.upload()), "誓約書の受領を記録しました。")


@bp.route("/contractors/<int:contractor_id>/subcontractors", methods=["POST"])
@role_required(*services.READERS)
def add_subcontractor(contractor_id: int):
    return _submit(contractor_id, "subcontractor_form", lambda form: services.approve_subcontractor(
        current_user, contractor_id, form.service_data()), "再委託先の承認を記録しました。")


@bp.route("/contractors/<int:contractor_id>/inspections", methods=["POST"])
@role_required(*services.READERS)
def add_inspection(contractor_id: int):
    return _submit(contractor_id, "inspection_form", lambda form: services.record_inspection(
        current_user, contractor_id, form.service_data()), "実地確認を記録しました。")


@bp.route("/contractors/<int:contractor_id>/files/<int:file_id>")
@role_required(*services.READERS)
def file(contractor_id: int, file_id: int):
    stored, data = services.file_bytes(current_user, contractor_id, file_id)
    return send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True,
                     download_name=stored.original_name)
