"""Pages of the 棚卸: the list with the plan form and the departments due, one stocktake with its
scan box (a keyboard-wedge reader types the label and Enter; stocktake.js posts it and shows the
outcome with colour, text and a sound), the pasted or uploaded list, closing, signing, and the
follow-up of 所在不明 items; the report PDF (signed) and CSV."""
from __future__ import annotations

import io

from flask import Blueprint, Response, jsonify, redirect, render_template, request, send_file, url_for
from flask_login import current_user

from ..auditlog.describe import register_vocabulary
from ..auth.services import list_departments
from ..clock import today_jst
from ..errors import DomainError, Invalid
from ..home.views import register_panel
from ..notifications.tasks import register_task_provider
from ..documents.signing import sign_pdf
from ..roles import Role
from ..states import ITEM_KINDS, KIND_LABELS, label as state_label
from ..web import act, flash_refusal, role_required
from . import queries, report, services, tasks

bp = Blueprint("stocktake", __name__)

#: Everyone with a role that reads or scans; the services decide which stocktakes.
READERS = (Role.REGISTRAR, Role.BULK_OPERATOR, Role.SECURITY_MANAGER, Role.AUDITOR, Role.ADMIN)
#: The file of an offline scanner: a few thousand short lines.
MAX_UPLOAD_BYTES = 256 * 1024
RECENT_SCANS = 30


def init_app(app) -> None:
    app.register_blueprint(bp)
    register_vocabulary("stocktake_outcome", services.OUTCOMES)
    register_vocabulary("stocktake_holder_problem", services.HOLDER_PROBLEMS)
    register_panel("stocktake/_panel.html", _home_panel, order=25)
    register_task_provider("stocktake_due", tasks.stocktake_tasks)


def _home_panel(user):
    """The department's 所在不明 items and a due or overdue stocktake, on the home page."""
    if not user.has_role(*READERS) or user.department_id is None:
        return None
    missing = queries.missing_items(department_id=user.department_id, limit=20)
    due = services.departments_due(department_id=user.department_id)
    if not missing and not due:
        return None
    return {"missing": missing, "missing_total": queries.count_missing(user.department_id), "due": due,
            "kind_labels": KIND_LABELS}


def _render_index(values=None, errors=None, status: int = 200):
    return render_template(
        "stocktake/index.html", stocktakes=services.list_stocktakes(current_user),
        may_plan=services.may_plan(current_user), departments=services.plannable_departments(current_user),
        kinds=[(k.value, KIND_LABELS[k]) for k in ITEM_KINDS], values=values or {}, errors=errors or {},
        due=services.departments_due(), status_label=services.status_label, counts=services.counts,
        missing=queries.missing_items(limit=200) if current_user.has_role(Role.SECURITY_MANAGER, Role.AUDITOR,
                                                                           Role.ADMIN) else [],
        kind_labels=KIND_LABELS, intervals=_intervals(), default_due=today_jst().isoformat()), status


def _intervals():
    if not current_user.has_role(Role.ADMIN, Role.SECURITY_MANAGER):
        return []
    return [(d, services.interval_days(d.id)) for d in list_departments(active_only=True)
            if current_user.has_role(Role.ADMIN) or services.may_manage(current_user, d.id)]


@bp.route("/stocktakes")
@role_required(*READERS)
def index():
    return _render_index()


@bp.route("/stocktakes", methods=["POST"])
@role_required(*READERS)
def plan():
    form = request.form
    data = {"department": form.get("department"), "kinds": form.getlist("kinds"), "location": form.get("location"),
            "due": form.get("due"), "scanners": form.get("scanners")}
    try:
        stocktake = services.plan_stocktake(current_user, data)
    except Invalid as exc:
        flash_refusal(exc)
        return _render_index(form.to_dict(flat=False), exc.fields, exc.status)
    except DomainError as exc:
        flash_refusal(exc)
        return _render_index(form.to_dict(flat=False), {}, exc.status)
    return redirect(url_for("stocktake.show", stocktake_id=stocktake.id))


@bp.route("/stocktakes/intervals", methods=["POST"])
@role_required(Role.ADMIN, Role.SECURITY_MANAGER)
def set_interval():
    form = request.form
    return act(lambda: services.set_interval(current_user, form.get("department"), form.get("days")),
               "棚卸の間隔を変更しました。", url_for("stocktake.index"))


def _render_show(stocktake, *, paste_results=None, paste_text: str = "", status: int = 200):
    may_scan = services.may_scan(current_user, stocktake) and stocktake.status == "open"
    return render_template(
        "stocktake/show.html", stocktake=stocktake, counts=services.counts(stocktake.id), may_scan=may_scan,
        may_manage=services.may_manage(current_user, stocktake.department_id),
        status_label=services.status_label, outcomes=services.OUTCOMES, kind_labels=KIND_LABELS,
        scans=queries.scan_rows(stocktake.id, newest_first=True, limit=RECENT_SCANS),
        lines=queries.line_rows(stocktake.id, discrepancies=True, limit=500) if stocktake.status != "open"
        else queries.line_rows(stocktake.id, outcome=services.WRONG_LOCATION),
        sessions=queries.scanning_sessions(stocktake.id), paste_results=paste_results, paste_text=paste_text,
        state_label=state_label, is_security_manager=current_user.has_role(Role.SECURITY_MANAGER),
        holder_problems=services.HOLDER_PROBLEMS), status


@bp.route("/stocktakes/<int:stocktake_id>")
@role_required(*READERS)
def show(stocktake_id: int):
    return _render_show(services.get_visible_stocktake(current_user, stocktake_id))


@bp.route("/stocktakes/<int:stocktake_id>/scan", methods=["POST"])
@role_required(*READERS)
def scan(stocktake_id: int):
    """The scan box posts here with fetch (JSON back); without script the form posts and the page
    shows the outcome as a message."""
    wants_json = request.accept_mimetypes.best == "application/json"
    try:
        result = services.record_scan(current_user, stocktake_id, request.form.get("scan", ""),
                                      location=request.form.get("location") or None)
    except DomainError as exc:
        if wants_json:
            return jsonify({"error": {"code": exc.code, "message": exc.message}}), exc.status
        flash_refusal(exc)
        return redirect(url_for("stocktake.show", stocktake_id=stocktake_id))
    if wants_json:
        return jsonify(result.to_json())
    return act(lambda: result, lambda r: f"{services.OUTCOMES[r.outcome]}: {r.message}",
               url_for("stocktake.show", stocktake_id=stocktake_id))


@bp.route("/stocktakes/<int:stocktake_id>/paste", methods=["POST"])
@role_required(*READERS)
def paste(stocktake_id: int):
    stocktake = services.get_visible_stocktake(current_user, stocktake_id)
    text = request.form.get("codes", "")
    upload = request.files.get("file")
    try:
        if upload and upload.filename:
            data = upload.stream.read(MAX_UPLOAD_BYTES + 1)
            if len(data) > MAX_UPLOAD_BYTES:
                raise Invalid("ファイルが大きすぎます（256KB まで）。分けて取り込んでください。", field="file")
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                text = data.decode("cp932", errors="replace")  # a scanner's PC in Shift_JIS
        results, _counts = services.record_scans(current_user, stocktake_id, services.split_pasted(text),
                                                 location=request.form.get("location") or None)
    except DomainError as exc:
        flash_refusal(exc)
        return _render_show(stocktake, paste_text=text, status=exc.status)
    return _render_show(services.get_visible_stocktake(current_user, stocktake_id), paste_results=results)


def _back(stocktake_id: int) -> str:
    return url_for("stocktake.show", stocktake_id=stocktake_id)


@bp.route("/stocktakes/<int:stocktake_id>/correct", methods=["POST"])
@role_required(*READERS)
def correct(stocktake_id: int):
    form = request.form
    return act(lambda: services.correct_location(current_user, stocktake_id, form.get("code"), form.get("location")),
               lambda line: f"{line.item.code} の保管場所を「{line.item.location}」に訂正しました。", _back(stocktake_id))


@bp.route("/stocktakes/<int:stocktake_id>/correct-holder", methods=["POST"])
@role_required(*READERS)
def correct_holder(stocktake_id: int):
    return act(lambda: services.correct_holder(current_user, stocktake_id, request.form.get("code")),
               lambda line: f"{line.item.code} の保管者を自分（{current_user.name}）に訂正しました。", _back(stocktake_id))


@bp.route("/stocktakes/<int:stocktake_id>/cancel", methods=["POST"])
@role_required(Role.SECURITY_MANAGER)
def cancel(stocktake_id: int):
    return act(lambda: services.cancel_stocktake(current_user, stocktake_id, request.form.get("reason")),
               "棚卸を中止しました。読み取った記録は残っています。", _back(stocktake_id))


@bp.route("/stocktakes/<int:stocktake_id>/close", methods=["POST"])
@role_required(Role.SECURITY_MANAGER)
def close(stocktake_id: int):
    return act(lambda: services.close_stocktake(current_user, stocktake_id),
               lambda done: f"棚卸を締めました。所在不明: {len(done[1])}件。" if done[1]
               else "棚卸を締めました。所在不明のものはありません。", _back(stocktake_id))


@bp.route("/stocktakes/<int:stocktake_id>/sign", methods=["POST"])
@role_required(Role.SECURITY_MANAGER)
def sign(stocktake_id: int):
    return act(lambda: services.sign_stocktake(current_user, stocktake_id, request.form.get("comment")),
               "棚卸の結果を確認（署名）しました。", _back(stocktake_id))


def _item_back() -> str:
    target = request.form.get("back", "")
    return target if target.startswith("/stocktakes") and "//" not in target else url_for("stocktake.index")


@bp.route("/stocktakes/items/<code>/found", methods=["POST"])
@role_required(*READERS)
def found(code: str):
    return act(lambda: services.mark_found(current_user, code, request.form.get("reason")),
               lambda item: f"{item.code} の発見を記録し、「{state_label(item.status)}」に戻しました。", _item_back())


@bp.route("/stocktakes/items/<code>/write-off", methods=["POST"])
@role_required(Role.SECURITY_MANAGER)
def write_off(code: str):
    return act(lambda: services.write_off(current_user, code, request.form.get("reason")),
               lambda item: f"{item.code} を亡失処理しました。", _item_back())


@bp.route("/reports/stocktake/<int:stocktake_id>.pdf")
@role_required(*READERS)
def report_pdf(stocktake_id: int):
    name, pdf = report.stocktake_pdf(current_user, stocktake_id)
    return send_file(io.BytesIO(sign_pdf(pdf)), mimetype="application/pdf", download_name=name)


@bp.route("/reports/stocktake/<int:stocktake_id>.csv")
@role_required(*READERS)
def report_csv(stocktake_id: int):
    name, chunks = report.stocktake_csv(current_user, stocktake_id)
    response = Response(b"".join(chunks), mimetype="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
