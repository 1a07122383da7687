"""Pages of the ledger: the 管理簿 per kind, the item page and registration."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from ..auditlog.describe import event_rows, names_for_events
from ..auth.models import Business
from ..roles import Role
from ..web import show_refusal
from ..auth.services import list_businesses, list_departments
from ..clock import today_jst
from ..errors import DomainError, Forbidden, Invalid, NotFound
from ..extensions import db
from ..home.views import register_panel
from ..policy import services as policy
from ..states import ITEM_KINDS, KIND_LABELS, Kind, states_of
from ..wareki import wareki_date
from . import queries
from .forms import FORMS
from .models import Item
from .panels import panels_for
from .services import get_visible_with_events, output_approvals, register_item

bp = Blueprint("items", __name__)

#: Who may open the registration page of each kind (register_item checks again).
REGISTER_ROLES = {
    Kind.FORM: (Role.REGISTRAR, Role.BULK_OPERATOR),
    Kind.MEDIUM: (Role.BULK_OPERATOR,),
    Kind.DEVICE: (Role.ADMIN, Role.BULK_OPERATOR),
}

def init_app(app) -> None:
    app.register_blueprint(bp)
    register_panel("items/_panel_mine.html", _my_items_panel, order=20)


def _may_register(user, kind: Kind) -> bool:
    if not user.has_role(*REGISTER_ROLES[kind]):
        return False
    return kind != Kind.MEDIUM or user.department.is_system_owner


def _kind_arg(default: Kind | None = Kind.FORM) -> Kind:
    value = request.args.get("kind") or (default.value if default else "")
    try:
        kind = Kind(value)
    except ValueError:
        kind = None
    if kind not in ITEM_KINDS:
        raise NotFound("管理簿の種別が正しくありません（帳票・媒体・機器のいずれかを選んでください）。")
    return kind


def _page_arg() -> int:
    try:
        return max(1, min(int(request.args.get("page", 1)), 10**6))
    except ValueError:
        return 1


@bp.route("/items")
@login_required
def ledger():
    kind = _kind_arg()
    status = 200
    try:
        filters = queries.parse_filters(request.args, default_kind=kind)
    except Invalid as exc:  # the ledger unfiltered, with the message and the refusal's status
        flash(exc.message, "error")
        filters, status = queries.LedgerFilters(kind=kind), exc.status
    cap = queries.COUNT_CAP if filters.q else None
    result = queries.ledger_page(filters, current_user, page=_page_arg(), cap=cap,
                                 per_page=current_app.config.get("PER_PAGE", queries.DEFAULT_PER_PAGE))
    sees_all = queries.sees_all(current_user)
    warning_days = policy.get("device.lease_warning_days")
    return render_template(
        "items/ledger.html", kind=kind, kind_label=KIND_LABELS[kind], filters=filters,
        args=filters.as_args(), result=result, as_of=filters.effective_as_of,
        statuses=states_of(kind), businesses=list_businesses(active_only=False),
        departments=list_departments() if sees_all else [], sees_all=sees_all,
        may_register=_may_register(current_user, kind),
        sort_labels=queries.SORT_LABELS, overdue=queries.row_overdue, deadline_of=queries.deadline_of,
        lease_warning_until=today_jst() + timedelta(days=warning_days)), status


def _form_defaults(form, kind: Kind) -> None:
    """Prefill business and location from the user's last entry of this kind: forms are
    registered in series at one terminal, and "a few seconds" means not choosing them again."""
    last = db.session.execute(
        select(Business.code.label("business_code"), Item.location).outerjoin(Business, Business.id == Item.business_id)
        .where(Item.created_by_id == current_user.id, Item.kind == kind).order_by(Item.id.desc()).limit(1)).first()
    if last is None:
        return
    if hasattr(form, "business") and last.business_code is not None and not form.business.data:
        form.business.data = last.business_code
    if not form.location.data:
        form.location.data = last.location


@bp.route("/items/new", methods=["GET", "POST"])
@login_required
def new():
    kind = _kind_arg()
    if not _may_register(current_user, kind):
        if kind == Kind.MEDIUM:
            raise Forbidden("一括利用媒体の作成は、市町課の一括利用担当のみが行えます。")
        raise Forbidden(f"{KIND_LABELS[kind]}を登録する権限がありません。")
    form = FORMS[kind.value]()
    if hasattr(form, "business"):
        form.business.choices = [("", "選択してください")] + [
            (b.code, f"{b.name}（{b.basis}）") for b in list_businesses(active_only=True)]
    approvals = output_approvals()
    if hasattr(form, "terminal_use"):
        form.terminal_use.choices = [("", "指定しない")] + (approvals.choices(current_user) if approvals else [])
        if request.method == "GET" and request.args.get("terminal_use"):
            form.terminal_use.data = request.args["terminal_use"]
    status = 200
    if request.method == "POST":
        if not form.validate():  # only the CSRF token is checked here
            flash("フォームの有効期限が切れました。もう一度入力してください。", "error")
        else:
            try:
                item = register_item(current_user, form.service_data())
            except Forbidden:
                raise
            except DomainError as exc:
                show_refusal(form, exc)
                status = 422
            else:
                message = f"{KIND_LABELS[kind]}「{item.code}」を登録しました。"
                if item.retention_until:
                    message += f"保存期限は{wareki_date(item.retention_until)}です。"
                flash(message + "ラベルを印刷して貼り付けてください。", "success")
                return redirect(url_for("items.show", code=item.code))
    else:
        _form_defaults(form, kind)
    retention_days = policy.get("form.retention_days")
    return render_template("items/new.html", form=form, kind=kind, kind_label=KIND_LABELS[kind],
                           retention_days=retention_days,
                           retention_example=today_jst() + timedelta(days=retention_days),
                           max_loan_days=policy.get("medium.max_loan_days")), status


@bp.route("/items/<code>")
@login_required
def show(code: str):
    item, events = get_visible_with_events(current_user, code)
    names = names_for_events(events, also=[item.created_by])  # the registrant may not be in the events
    today, kind = today_jst(), Kind(item.kind)
    return render_template(
        "items/show.html", item=item, kind=kind, kind_label=KIND_LABELS[kind],
        timeline=event_rows(events, names), created_by=names.person(item.created_by),
        panels=panels_for(item, current_user),
        overdue=queries.row_overdue(item, today), today=today,
        lease_warning_until=(today + timedelta(days=policy.get("device.lease_warning_days"))
                             if kind == Kind.DEVICE else None))


def _my_items_panel(user):
    if not user.has_role(Role.REGISTRAR, Role.BULK_OPERATOR):
        return None
    counts = queries.holder_status_counts(user)
    overdue = queries.holder_overdue_counts(user)
    kinds = []
    for kind in ITEM_KINDS:
        rows = [(status.value, counts[(kind.value, status.value)]) for status in states_of(kind)
                if counts.get((kind.value, status.value))]
        if rows:
            kinds.append({"kind": kind.value, "label": KIND_LABELS[kind], "rows": rows,
                          "total": sum(n for _s, n in rows), "overdue": overdue.get(kind.value, 0)})
    return {"kinds": kinds, "login": user.login, "total": sum(k["total"] for k in kinds),
            "overdue": sum(overdue.values())}

