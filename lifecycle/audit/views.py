from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, render_template, request
from flask_login import current_user

from .. import clock
from ..auth.roles import Role
from ..errors import Invalid
from ..extensions import db
from ..web import role_required
from . import services
from .events import EVENT_LABELS, EventType

bp = Blueprint("audit", __name__, url_prefix="/audit")


def init_app(app) -> None:
    app.register_blueprint(bp)


def _day(value: str | None, label: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{label}は YYYY-MM-DD の形式で指定してください。") from None


@bp.route("/")
@role_required(Role.AUDITOR, Role.ADMIN)
def events():
    args = request.args
    day_from, day_to = _day(args.get("from"), "開始日"), _day(args.get("to"), "終了日")
    event_type = args.get("type") or None
    if event_type and event_type not in {e.value for e in EventType}:
        raise Invalid("指定された種別はありません。")
    flt = services.EventFilter(
        date_from=clock.jst_day_start_utc(day_from) if day_from else None,
        date_to=clock.jst_day_start_utc(day_to + timedelta(days=1)) if day_to else None,
        actor=(args.get("actor") or "").strip() or None,
        type=event_type,
        subject=(args.get("subject") or "").strip() or None,
    )
    try:
        page = max(1, int(args.get("page", 1)))
    except ValueError:
        page = 1
    rows, total = services.search_events(flt, page=page, per_page=50)
    return render_template("audit/events.html", rows=rows, total=total, page=page, per_page=50,
                           args=args, event_types=EVENT_LABELS)


@bp.route("/verify", methods=["GET", "POST"])
@role_required(Role.AUDITOR, Role.ADMIN)
def verify():
    result = None
    if request.method == "POST":
        result = services.verify_chain()
        with db.transaction():
            services.record_event(EventType.AUDIT_VERIFIED, actor=current_user, ok=result.ok,
                                  events=result.events, broken_at=result.broken_at)
    return render_template("audit/verify.html", result=result)
