"""Pages for people: a person's 異動・退職 page (training records, what he still holds, the bulk
hand-off, leave and 異動, grant requests), the second admin's approvals, the rights review and
the items 所在確認待ち."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import current_user

from .. import fiscal
from ..auth import services as auth
from ..auth.services import parse_department
from ..auth.views import role_form, user_form_submit
from ..auth.models import User
from ..clock import today_jst
from ..custody.services import eligible_receivers
from ..errors import DomainError, Invalid
from ..home.views import register_panel
from ..documents import training as training_pdf
from ..documents.imprint import imprint_for, record_report
from ..documents.signing import sign_pdf
from ..roles import ROLE_LABELS, Role
from ..web import act, flash_refusal, role_required, show_refusal, submit
from . import queries, services, tasks
from .forms import (
    ConfirmCustodyForm,
    DecisionReasonForm,
    DepartmentChangeForm,
    GrantRequestForm,
    HandOffForm,
    LeaveForm,
    TrainingRecordForm,
)

bp = Blueprint("people", __name__, url_prefix="/people")

#: Who opens the rights review: each department's security manager, and admins for the progress.
REVIEWERS = (Role.SECURITY_MANAGER, Role.ADMIN)
#: Who sees the items 所在確認待ち (auditors read them too).
UNCONFIRMED_READERS = (Role.SECURITY_MANAGER, Role.ADMIN, Role.AUDITOR)


#: The admin's grant of a role, on the user's admin page: a role that needs a second admin becomes a
#: request (services.grant_or_request), so the grant belongs with the requests here.
admin_bp = Blueprint("people_admin", __name__, url_prefix="/admin")

#: The training report sits with the other reports, so its PDF is one of /reports/'s signed files.
reports_bp = Blueprint("people_reports", __name__, url_prefix="/reports")
#: Who pulls the training report: the desk (auditors, admins, security managers).
REPORT_READERS = (Role.AUDITOR, Role.ADMIN, Role.SECURITY_MANAGER)


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(reports_bp)
    tasks.register()
    register_panel("people/_panel_training.html", _training_panel, order=15)


@admin_bp.post("/users/<login>/roles")
@role_required(Role.ADMIN)
def grant(login: str):
    form = role_form()

    def success(request) -> str:
        label = ROLE_LABELS.get(Role(form.role.data), form.role.data)
        if request:
            return f"「{label}」の付与を依頼しました。別のシステム管理者が承認すると有効になります。"
        return f"「{label}」の権限を付与しました。"

    return user_form_submit(login, form, "role_form",
                            lambda: services.grant_or_request(current_user, login, form.role.data), success)


def _training_panel(user):
    """The person's own training when it ends within 30 days (or has ended), and for an admin
    (every department) or a security manager (his own) the people whose training does."""
    if not isinstance(user, User):
        return None
    today = today_jst()
    own = user.training_valid_until
    own_warning = own is not None and today >= own - timedelta(days=queries.TRAINING_WARNING_DAYS)
    others: list = []
    if user.has_role(Role.ADMIN):
        others = queries.training_expiring(today)
    elif user.has_role(Role.SECURITY_MANAGER):
        others = queries.training_expiring(today, user.department_id)
    others = [u for u in others if u.id != user.id]
    if not own_warning and not others:
        return None
    return {"own": own if own_warning else None, "own_expired": own_warning and today > own, "others": others,
            "today": today}


def _forms(target, **refused) -> dict:
    """The page's forms, empty, except the one refused (with its values and errors)."""
    hand_off = refused.get("hand_off_form") or HandOffForm(formdata=None)
    hand_off.to.choices = [(r.login, f"{r.name}（{r.department_name}）")
                           for r in eligible_receivers(target)]
    department = refused.get("department_form") or DepartmentChangeForm(formdata=None)
    department.department.choices = [(d.code, d.name) for d in auth.list_departments(active_only=True)
                                     if d.id != target.department_id]
    grant = refused.get("grant_form") or GrantRequestForm(formdata=None)
    grant.role.choices = [(r.value, ROLE_LABELS[r]) for r in auth.NEEDS_SECOND_ADMIN]
    return {"training_form": refused.get("training_form") or TrainingRecordForm(formdata=None),
            "hand_off_form": hand_off, "leave_form": refused.get("leave_form") or LeaveForm(formdata=None),
            "department_form": department, "grant_form": grant}


def _person_page(login: str, status: int = 200, **refused):
    target = auth.get_user(login)
    return render_template("people/person.html", target=target, obligations=services.obligations_of(target),
                           records=auth.training_records(target),
                           requests=services.pending_grant_requests(target),
                           role_labels=ROLE_LABELS, **_forms(target, **refused)), status


@bp.route("/users/<login>")
@role_required(Role.ADMIN)
def person(login: str):
    return _person_page(login)


def _submit(login: str, form, name: str, do, success):
    """Runs a person-page form: on a refusal the page again, the form as typed, errors beside it."""
    return submit(form, do, success, url_for("people.person", login=login),
                  lambda status: _person_page(login, status, **{name: form}))


@bp.post("/users/<login>/training")
@role_required(Role.ADMIN)
def training(login: str):
    form = TrainingRecordForm()
    return _submit(login, form, "training_form",
                   lambda: auth.record_training(current_user, login, form.completed_on.data, form.course.data),
                   "研修受講を記録しました。")


@bp.post("/users/<login>/training/withdraw")
@role_required(Role.ADMIN)
def withdraw_training(login: str):
    return act(lambda: auth.record_training(current_user, login, None),
               "研修受講記録を取り消しました。新しい記録があるまで、この利用者の権限は無効です。",
               url_for("people.person", login=login))


@bp.post("/users/<login>/hand-off")
@role_required(Role.ADMIN)
def hand_off(login: str):
    form = HandOffForm()
    return _submit(login, form, "hand_off_form",
                   lambda: services.hand_off_all(current_user, login, form.to.data, form.note.data),
                   lambda transfers: f"{len(transfers)}件を引き継ぎました。引継ぎ先が一件ずつ受領するまでお待ちください。")


@bp.post("/users/<login>/leave")
@role_required(Role.ADMIN)
def leave(login: str):
    form = LeaveForm()
    return _submit(login, form, "leave_form",
                   lambda: services.leave(current_user, login, form.effective_on.data, form.reason.data,
                                          force=bool(form.force.data)),
                   "退職・担当替えを記録しました。権限はすべて終了し、利用は停止されました。")


@bp.post("/users/<login>/department")
@role_required(Role.ADMIN)
def department(login: str):
    form = DepartmentChangeForm()
    return _submit(login, form, "department_form",
                   lambda: services.change_department(current_user, login, form.department.data,
                                                      form.effective_on.data, form.reason.data),
                   lambda user: f"{user.department.name}への異動を記録しました。")


@bp.post("/users/<login>/grant-requests")
@role_required(Role.ADMIN)
def grant_request(login: str):
    form = GrantRequestForm()
    return _submit(login, form, "grant_form",
                   lambda: services.request_grant(current_user, login, form.role.data, form.reason.data),
                   "権限付与の承認を依頼しました。別のシステム管理者が承認すると有効になります。")


# --- the second admin ---------------------------------------------------------------------------

@bp.route("/grant-requests")
@role_required(Role.ADMIN)
def grant_requests():
    return render_template("people/grant_requests.html", requests=services.pending_grant_requests(),
                           may_decide={r.id for r in services.grant_requests_to_approve(current_user)},
                           role_labels=ROLE_LABELS, reason_form=DecisionReasonForm(formdata=None))


@bp.post("/grant-requests/<int:request_id>/approve")
@role_required(Role.ADMIN)
def approve(request_id: int):
    return act(lambda: services.approve_grant(current_user, request_id),
               lambda r: f"「{r.user.name}」さんへの「{ROLE_LABELS[Role(r.role)]}」の付与を承認しました。",
               url_for("people.grant_requests"))


@bp.post("/grant-requests/<int:request_id>/refuse")
@role_required(Role.ADMIN)
def refuse(request_id: int):
    form = DecisionReasonForm()
    form.validate_on_submit()
    return act(lambda: services.refuse_grant(current_user, request_id, form.reason.data),
               lambda r: "承認依頼を取り下げました。" if r.status == "cancelled" else "承認依頼を却下しました。",
               url_for("people.grant_requests"))


# --- 権限の棚卸 -------------------------------------------------------------------------------------

@bp.route("/rights-review")
@bp.route("/rights-review/<department>")
@role_required(*REVIEWERS)
def rights_review(department: str | None = None):
    departments = services.review_departments(current_user)
    year = services.review_year()
    chosen = next((d for d in departments if d.code == department), None) if department else \
        next((d for d in departments if d.id == current_user.department_id), departments[0] if departments else None)
    return render_template("people/rights_review.html", departments=departments, chosen=chosen, year=year,
                           deadline=services.review_deadline(year),
                           rows=services.review_rows(chosen, year) if chosen else [],
                           progress=services.review_progress(year) if current_user.has_role(Role.ADMIN) else [],
                           decision_labels=services.DECISION_LABELS, role_labels=ROLE_LABELS,
                           reason_form=DecisionReasonForm(formdata=None))


@bp.post("/rights-review/<department>/<login>/<role>/<decision>")
@role_required(*REVIEWERS)
def decide(department: str, login: str, role: str, decision: str):
    form = DecisionReasonForm()
    form.validate_on_submit()
    return act(lambda: services.decide_role(current_user, login, role, decision, form.reason.data),
               lambda c: ("継続を確認しました。" if c.decision == services.CONFIRMED else "権限を取り消しました。"),
               url_for("people.rights_review", department=department))


# --- 所在確認待ち ------------------------------------------------------------------------------------

@bp.route("/unconfirmed")
@role_required(*UNCONFIRMED_READERS)
def unconfirmed(status: int = 200, refused: tuple[str, ConfirmCustodyForm] | None = None):
    return render_template("people/unconfirmed.html", items=services.unconfirmed_items(),
                           refused=refused, empty_form=ConfirmCustodyForm(formdata=None)), status


@bp.post("/unconfirmed/<code>/confirm")
@role_required(*UNCONFIRMED_READERS)
def confirm(code: str):
    form = ConfirmCustodyForm()
    if not form.validate_on_submit():
        flash("フォームの送信内容を確認できませんでした。ページを読み込み直してください。", "error")
        return redirect(url_for("people.unconfirmed"))
    try:
        item = services.confirm_custody(current_user, code, form.location.data, form.note.data)
    except Invalid as exc:
        show_refusal(form, exc)
        return unconfirmed(422, (code, form))
    except DomainError as exc:
        flash_refusal(exc)
        return redirect(url_for("people.unconfirmed"))
    flash(f"{item.code}の所在を確認し、保管を引き受けました。", "success")
    return redirect(url_for("people.unconfirmed"))


# --- 研修受講状況 -----------------------------------------------------------------------------------

def _training_rows():
    """The 年度 (default: this one), an optional department, and the rows (Invalid when malformed)."""
    year = fiscal.parse_year(request.args.get("year"))
    department = parse_department(request.args.get("department"))
    code = department.code if department else None
    return year, code, queries.training_rows(year, today_jst(), code)


def _training_page(year, department, rows, status: int = 200):
    return render_template("people/training_report.html", rows=rows, summary=training_pdf.summary(rows),
                           year=year, years=fiscal.year_choices(today_jst()), department=department,
                           departments=auth.list_departments(), label=fiscal.fiscal_year_label), status


@reports_bp.route("/training")
@role_required(*REPORT_READERS)
def training_report():
    try:
        year, department, rows = _training_rows()
    except Invalid as exc:
        flash(exc.message, "error")
        return _training_page(fiscal.fiscal_year_of(today_jst()), None, [], 422)
    return _training_page(year, department, rows)


def _download(data: bytes, mimetype: str, filename: str) -> Response:
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@reports_bp.route("/training.csv")
@role_required(*REPORT_READERS)
def training_csv():
    year, department, rows = _training_rows()
    record_report(current_user, "training", format="csv", rows=len(rows), year=year, department=department)
    return _download(b"".join(training_pdf.iter_training_csv(rows)), "text/csv", f"training-{year}.csv")


@reports_bp.route("/training.pdf")
@role_required(*REPORT_READERS)
def training_report_pdf():
    year, department, rows = _training_rows()
    report = training_pdf.TrainingReport(fiscal.fiscal_year_label(year), today_jst(), rows,
                                         imprint_for(current_user))
    pdf = sign_pdf(training_pdf.render_training_pdf(report))
    record_report(current_user, "training", format="pdf", rows=len(rows), year=year, department=department)
    return _download(pdf, "application/pdf", f"training-{year}.pdf")
