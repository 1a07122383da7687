"""Pages of the ledger: the 管理簿 per kind, the item page, registration, and scanning labels."""
from __future__ import annotations

import json
import re
from collections import namedtuple
from datetime import date, timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from .. import states
from ..audit.events import EventType, event_label
from ..auth.roles import Role
from ..auth.services import list_businesses, list_departments, master_names
from ..clock import today_jst
from ..errors import DomainError, Forbidden, Invalid, NotFound
from ..extensions import db
from ..home.views import register_panel
from ..labels import services as labels
from ..policy import services as policy
from ..states import ITEM_KINDS, KIND_LABELS, Kind, states_of
from ..wareki import wareki_date, wareki_datetime
from . import queries
from .forms import FORMS
from .models import Item
from .panels import panels_for
from .services import get_visible_shown, register_item

bp = Blueprint("items", __name__)

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

#: Who may open the registration page of each kind (register_item checks again).
REGISTER_ROLES = {
    Kind.FORM: (Role.REGISTRAR, Role.BULK_OPERATOR),
    Kind.MEDIUM: (Role.BULK_OPERATOR,),
    Kind.DEVICE: (Role.ADMIN, Role.BULK_OPERATOR),
}

#: Japanese names for the keys of audit event data, for the item page's timeline.
DETAIL_LABELS = {
    "title": "件名", "holder": "保管者", "department": "所属", "business": "利用事務",
    "retention_until": "保存期限", "kind": "種別", "note": "備考", "recipient": "提供先",
    "layout": "様式", "batch": "同時印刷", "payload": "読取り内容", "to": "移動先",
    "reason": "理由", "method": "方法", "din_level": "セキュリティレベル", "place": "場所",
    "witness": "立会者", "certificate_no": "証明書番号", "vendor": "事業者", "sha256": "SHA-256",
}


def init_app(app) -> None:
    app.register_blueprint(bp)
    register_panel("items/_panel_mine.html", _my_items_panel, order=20)


#: A row of the item page's timeline, in words: the page shows every event of the item, and
#: putting each into words here rather than by filters in the template halves the rows' cost.
TimelineRow = namedtuple("TimelineRow", "seq at label actor details hash short_hash forged")


def timeline(events, names: dict) -> list[TimelineRow]:
    return [TimelineRow(e.seq, wareki_datetime(e.at), event_label(e.type), e.actor, event_details(e.data, names),
                        e.hash, e.hash[:16], e.type == EventType.LABEL_FORGED) for e in events]


def event_details(data: str, names: dict | None = None) -> str:
    """One readable line from an event's canonical JSON: "登録済 → 保管中、件名: …".

    `names` maps a key ("department", "business") to {code: name}, so masters read as words.
    """
    try:
        details = json.loads(data or "{}")
    except ValueError:
        return data or ""
    if not isinstance(details, dict):
        return str(details)
    names = names or {}
    parts = []
    if "from" in details and "to" in details:
        parts.append(f"{states.label(details.pop('from'))} → {states.label(details.pop('to'))}")
    for key, value in details.items():
        if value in (None, "", [], {}):
            continue
        if isinstance(value, bool):
            value = "はい" if value else "いいえ"
        elif key == "kind":
            value = KIND_LABELS.get(value, value) if value in {k.value for k in Kind} else value
        elif key in names and isinstance(value, str):
            value = names[key].get(value, value)
        elif isinstance(value, str) and _ISO_DAY.fullmatch(value):
            value = wareki_date(date.fromisoformat(value))
        parts.append(f"{DETAIL_LABELS.get(key, key)}: {value}")
    return "、".join(parts)


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
    try:
        filters = queries.parse_filters(request.args, default_kind=kind)
    except Invalid as exc:
        flash(exc.message, "error")
        filters = queries.LedgerFilters(kind=kind)
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
        may_register=_may_register(current_user, kind), layouts=labels.layouts(),
        sort_labels=queries.SORT_LABELS, overdue=queries.row_overdue, deadline_of=queries.deadline_of,
        lease_warning_until=today_jst() + timedelta(days=warning_days))


def _form_defaults(form, kind: Kind) -> None:
    """Prefill business and location from the user's last entry of this kind: forms are
    registered in series at one terminal, and "a few seconds" means not choosing them again."""
    last = db.session.scalar(select(Item).where(Item.created_by_id == current_user.id, Item.kind == kind)
                             .order_by(Item.id.desc()).limit(1))
    if last is None:
        return
    if hasattr(form, "business") and last.business is not None and not form.business.data:
        form.business.data = last.business.code
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
                field = getattr(form, getattr(exc, "field", None) or "", None)
                if field is not None and hasattr(field, "errors"):
                    field.errors = list(field.errors) + [exc.message]
                    flash(f"「{field.label.text}」の入力内容を確認してください。", "error")
                else:
                    flash(exc.message, "error")
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
    item, events = get_visible_shown(current_user, code)
    today, kind = today_jst(), Kind(item.kind)
    return render_template(
        "items/show.html", item=item, kind=kind, kind_label=KIND_LABELS[kind],
        timeline=timeline(events, master_names()), panels=panels_for(item, current_user),
        overdue=item.is_overdue(today), today=today, layouts=labels.layouts(),
        lease_warning_until=(today + timedelta(days=policy.get("device.lease_warning_days"))
                             if kind == Kind.DEVICE else None))


@bp.route("/scan")
@login_required
def scan():
    scanned = labels.parse_scan(request.args.get("q"))
    if scanned.payload:
        return redirect(url_for("items.open_label", payload=scanned.payload))
    if not scanned.code:
        flash("読み取った内容が空です。ラベルの QR コードをもう一度読み取ってください。", "warning")
        return redirect(request.referrer if _same_site(request.referrer) else url_for("home.dashboard"))
    item = db.session.scalar(select(Item.code).where(Item.code == scanned.code[:20]))
    if item is None:
        return render_template("items/scan_missing.html", q=scanned.code[:40]), 404
    return redirect(url_for("items.show", code=item))


def _same_site(url: str | None) -> bool:
    return bool(url) and url.startswith(request.host_url)


@bp.route("/s/<path:payload>")
@login_required
def open_label(payload: str):
    """Where a label's QR code points: a genuine tag opens the item, a false one warns."""
    try:
        item = labels.resolve_label(current_user, labels.parse_scan("/s/" + payload).payload or payload)
    except labels.LabelForged as exc:
        return render_template("items/forged.html", message=exc.message), 404
    return redirect(url_for("items.show", code=item.code))


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

