"""Pages of the access-log review: imports (small files; large ones through `lifecycle logs import`),
the quarter's draw, each department's sample with the marks and answers, the automatic checks'
hits, and the report PDF. Views parse and call the services; a refused form is shown again with
every error beside its field and the values kept."""
from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..auth.services import list_departments
from ..errors import DomainError, Invalid
from ..findings.views import register_finding_section
from ..documents.imprint import record_report
from ..documents.signing import sign_pdf
from ..web import act, flash_refusal
from . import cli, imports, services, tasks
from .checks import CHECKS
from .report import STATUS_WORDS, render_review_pdf, review_report

bp = Blueprint("logreview", __name__)

#: The page takes small files; a month of a prefecture's logs goes through the command line.
PAGE_UPLOAD_MAX_BYTES = 20 * 1024 * 1024


def init_app(app) -> None:

    app.register_blueprint(bp)
    app.cli.add_command(cli.logs)
    tasks.register()
    register_finding_section("logreview/_finding_section.html", _finding_section)


def _finding_section(finding, user) -> dict | None:
    """On a finding raised from a confirmed hit: the record it was found in, the look-backs opened
    from it, and (for the reviewer) the way to open one."""
    if not services.may_read(user):
        return None
    hits = services.confirmed_hits_of_finding(finding.id)
    if not hits:
        return None
    return {"hits": hits, "lookbacks": services.lookbacks_from(h.id for h in hits), "checks": CHECKS,
            "may_review": user.has_role(*services.REVIEWERS)}


def _fields(exc: DomainError) -> dict:
    return (exc.fields or {"_": exc.message}) if isinstance(exc, Invalid) else {"_": exc.message}


def _index(status: int = 200, *, form: str | None = None, values=None, errors=None, result=None):
    services.require_reader(current_user)
    return render_template(
        "logreview/index.html", imports=imports.list_imports(), sources=imports.list_sources(),
        reviews=services.list_reviews(current_user), raises=services.active_raises(),
        departments=[(d.code, d.name) for d in list_departments(active_only=True)],
        may_import=current_user.has_role(*imports.IMPORTERS), may_review=current_user.has_role(*services.REVIEWERS),
        form=form, values=values or {}, errors=errors or {}, result=result,
        candidates=sum(c.get("candidate", 0) for c in services.hit_counts().values())), status


@bp.route("/log-reviews")
@login_required
def index():
    return _index()


@bp.route("/log-reviews/import", methods=["POST"])
@login_required
def upload():
    upload = request.files.get("file")
    values = {"source": request.form.get("source", "")}
    try:
        if upload is None or not upload.filename:
            raise Invalid("取り込む CSV ファイルを選んでください。", field="file")
        size = upload.stream.seek(0, 2)
        upload.stream.seek(0)
        if size > PAGE_UPLOAD_MAX_BYTES:
            raise Invalid(f"画面から取り込めるのは {PAGE_UPLOAD_MAX_BYTES // 1024 // 1024} MB までです。大きなファイルは"
                          "コマンド lifecycle logs import で取り込んでください。", field="file")
        result = imports.import_log(current_user, upload.stream, upload.filename, values["source"] or None)
    except DomainError as exc:
        if exc.status in (401, 403):
            raise
        flash_refusal(exc)
        return _index(exc.status, form="import", values=values, errors=_fields(exc))
    return _index(form="import", result=result)


@bp.route("/log-reviews", methods=["POST"])
@login_required
def open_review():
    values = {"quarter": request.form.get("quarter", "")}
    try:
        review = services.open_review(current_user, values["quarter"])
    except DomainError as exc:
        if exc.status in (401, 403):
            raise
        flash_refusal(exc)
        return _index(exc.status, form="review", values=values, errors=_fields(exc))
    return redirect(url_for("logreview.review", review_id=review.id))


@bp.route("/log-reviews/raises", methods=["POST"])
@login_required
def raise_sampling():
    values = {k: request.form.get(k, "") for k in ("department", "reason")}
    try:
        services.raise_sampling(current_user, values["department"], values["reason"])
    except DomainError as exc:
        if exc.status in (401, 403):
            raise
        flash_refusal(exc)
        return _index(exc.status, form="raise", values=values, errors=_fields(exc))
    return redirect(url_for("logreview.index"))


@bp.route("/log-reviews/<int:review_id>")
@login_required
def review(review_id: int):
    found = services.get_review(current_user, review_id)
    low, high = services.review_period(found)
    return render_template("logreview/review.html", review=found, checks=CHECKS,
                           counts=services.hit_counts(low=low, high=high),
                           confirmed=services.hit_rows(status="confirmed", low=low, high=high, limit=200),
                           basis=services.hit_rows(hit_id=found.basis_hit_id, limit=1) if found.basis_hit_id else [],
                           may_review=current_user.has_role(*services.REVIEWERS),
                           checkpoint=services.checkpoint_of(found), parameters=services.draw_parameters(found))


@bp.route("/log-reviews/<int:review_id>/<department>")
@login_required
def sample(review_id: int, department: str):
    found = services.get_review(current_user, review_id)
    chosen = services.sample_for(found, department)
    return render_template("logreview/sample.html", review=found, sample=chosen, rows=services.sample_rows(chosen),
                           marks=services.MARKS, may_review=current_user.has_role(*services.REVIEWERS),
                           may_answer=services.may_answer(current_user, chosen.department_id))


LOOKBACK_FIELDS = ("hit", "operator", "terminal", "date_from", "date_to", "reason")


def _lookback_form(basis, values: dict, errors: dict | None = None, status: int = 200):
    return render_template("logreview/lookback.html", basis=basis, values=values, errors=errors or {},
                           checks=CHECKS, lookbacks=services.lookbacks_from([basis.id]),
                           default_days=services.LOOKBACK_DEFAULT_DAYS,
                           max_records=services.MAX_LOOKBACK_RECORDS), status


@bp.route("/log-reviews/lookbacks/new")
@login_required
def new_lookback():
    basis = services.lookback_basis(current_user, request.args.get("hit"))
    return _lookback_form(basis, services.lookback_defaults(basis))


@bp.route("/log-reviews/lookbacks", methods=["POST"])
@login_required
def open_lookback():
    values = {name: request.form.get(name, "") for name in LOOKBACK_FIELDS}
    try:
        review = services.open_lookback(current_user, values)
    except DomainError as exc:
        if exc.status in (401, 403):
            raise
        basis = services.lookback_basis(current_user, values["hit"])
        flash_refusal(exc)
        return _lookback_form(basis, values, _fields(exc), exc.status)
    flash(f"遡り検証 第{review.id}号を始めました（{review.samples[0].population:,}件）。", "success")
    return redirect(url_for("logreview.review", review_id=review.id))


def _back() -> str:
    target = request.form.get("next", "")
    return target if target.startswith("/log-reviews") else url_for("logreview.index")


@bp.route("/log-reviews/records/<int:sampled_id>/mark", methods=["POST"])
@login_required
def mark(sampled_id: int):
    form = request.form
    return act(lambda: services.mark_record(current_user, sampled_id, form.get("mark"), form.get("note")),
               lambda r: f"判定「{services.MARKS[r.mark]}」を記録しました。", _back())


@bp.route("/log-reviews/records/<int:sampled_id>/answer", methods=["POST"])
@login_required
def answer(sampled_id: int):
    return act(lambda: services.answer_query(current_user, sampled_id, request.form.get("answer")),
               "要確認への回答を記録しました。", _back())


@bp.route("/log-reviews/records/<int:sampled_id>/escalate", methods=["POST"])
@login_required
def escalate(sampled_id: int):
    form = request.form
    return act(lambda: services.escalate_query(current_user, sampled_id, form.get("summary"),
                                               form.get("severity", "medium"), form.get("due_on")),
               lambda r: f"指摘事項 第{r.finding_id}号として記録しました。", _back())


@bp.route("/log-reviews/hits")
@login_required
def hits():
    services.require_reader(current_user)
    status = request.args.get("status", "candidate")
    status = status if status in STATUS_WORDS else "candidate"
    return render_template("logreview/hits.html", rows=services.hit_rows(status=status, limit=500), status=status,
                           statuses=STATUS_WORDS, checks=CHECKS, may_review=current_user.has_role(*services.REVIEWERS))


@bp.route("/log-reviews/hits/<int:hit_id>/decide", methods=["POST"])
@login_required
def decide(hit_id: int):
    form = request.form
    return act(lambda: services.decide_hit(current_user, hit_id, form.get("decision"), form.get("reason"),
                                           form.get("severity", "medium"), form.get("due_on")),
               lambda h: "指摘として確定しました。" + (f"（指摘事項 第{h.finding_id}号）" if h.finding_id else "")
               if h.status == "confirmed" else "取り下げました。", url_for("logreview.hits"))


@bp.route("/reports/log-review/<int:review_id>/<department>.pdf")
@login_required
def report_pdf(review_id: int, department: str):
    found = services.get_review(current_user, review_id)
    report = review_report(current_user, found, department)
    pdf = sign_pdf(render_review_pdf(report))
    record_report(current_user, "log_review", format="pdf", rows=len(report.sampled))
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="log-review-{review_id}-{department}.pdf"'
    return response
