"""What pages, the API, the report PDF/CSV, the exceptions list and the home page read about
stocktakes: plain rows, one definition each (STYLE rule 12)."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from ..auth.models import Department, User
from ..extensions import db
from ..items.models import Item
from ..states import State
from .models import Stocktake, StocktakeLine, StocktakeScan, stocktake_scanners


def line_rows(stocktake_id: int, *, outcome: str | None = None, discrepancies: bool = False,
              limit: int | None = None):
    """The stocktake's lines with their items: every discrepancy (not a plain 確認), or one outcome."""
    seer, writer, recorded, holder = aliased(User), aliased(User), aliased(User), aliased(User)
    seer_dept, writer_dept = aliased(Department), aliased(Department)
    recorded_dept, holder_dept = aliased(Department), aliased(Department)
    query = (select(Item.code, Item.kind, Item.title, Item.status, Item.location, StocktakeLine.expected,
                    StocktakeLine.outcome, StocktakeLine.seen_at, StocktakeLine.seen_location,
                    StocktakeLine.location_corrected, StocktakeLine.status_before, StocktakeLine.found_at,
                    StocktakeLine.found_reason, StocktakeLine.written_off_at, StocktakeLine.write_off_reason,
                    StocktakeLine.possible_leak, seer.name.label("seen_by"), seer_dept.name.label("seen_by_department"),
                    writer.name.label("written_off_by"), writer_dept.name.label("written_off_by_department"),
                    StocktakeLine.holder_problem, StocktakeLine.holder_corrected,
                    recorded.name.label("recorded_holder"), recorded_dept.name.label("recorded_holder_department"),
                    holder.name.label("holder"), holder_dept.name.label("holder_department"))
             .join(Item, Item.id == StocktakeLine.item_id)
             .join(holder, holder.id == Item.holder_id)
             .join(holder_dept, holder_dept.id == holder.department_id)
             .outerjoin(seer, seer.id == StocktakeLine.seen_by_id)
             .outerjoin(seer_dept, seer_dept.id == seer.department_id)
             .outerjoin(writer, writer.id == StocktakeLine.written_off_by_id)
             .outerjoin(writer_dept, writer_dept.id == writer.department_id)
             .outerjoin(recorded, recorded.id == StocktakeLine.recorded_holder_id)
             .outerjoin(recorded_dept, recorded_dept.id == recorded.department_id)
             .where(StocktakeLine.stocktake_id == stocktake_id)
             .order_by(StocktakeLine.id))
    if outcome is not None:
        query = query.where(StocktakeLine.outcome == outcome)
    if discrepancies:
        query = query.where((StocktakeLine.outcome != "confirmed") | StocktakeLine.outcome.is_(None)
                            | StocktakeLine.expected.is_(False))
    if limit is not None:
        query = query.limit(limit)
    return db.session.execute(query).all()


def scan_rows(stocktake_id: int, *, outcomes: tuple[str, ...] | None = None, newest_first: bool = False,
              limit: int | None = None):
    """Every scan of the stocktake with who scanned it (名前（所属）) and the item's code."""
    dept = aliased(Department)
    query = (select(StocktakeScan.id, StocktakeScan.scanned_at, StocktakeScan.shown, StocktakeScan.outcome,
                    StocktakeScan.detail, StocktakeScan.item_id, Item.code, Item.department_id,
                    User.name.label("scanner"), dept.name.label("scanner_department"))
             .outerjoin(Item, Item.id == StocktakeScan.item_id)
             .outerjoin(User, User.id == StocktakeScan.scanned_by_id)
             .outerjoin(dept, dept.id == User.department_id)
             .where(StocktakeScan.stocktake_id == stocktake_id)
             .order_by(StocktakeScan.id.desc() if newest_first else StocktakeScan.id))
    if outcomes:
        query = query.where(StocktakeScan.outcome.in_(outcomes))
    if limit is not None:
        query = query.limit(limit)
    return db.session.execute(query).all()


def scanning_sessions(stocktake_id: int):
    """Who scanned when: per person, the first and last scan and how many."""
    dept = aliased(Department)
    return db.session.execute(
        select(User.name, dept.name.label("department"), func.min(StocktakeScan.scanned_at).label("first"),
               func.max(StocktakeScan.scanned_at).label("last"), func.count().label("scans"))
        .join(User, User.id == StocktakeScan.scanned_by_id).join(dept, dept.id == User.department_id)
        .where(StocktakeScan.stocktake_id == stocktake_id)
        .group_by(User.name, dept.name).order_by(func.min(StocktakeScan.scanned_at))).all()


def missing_items(*, department_id: int | None = None, limit: int | None = None):
    """Items 所在不明 now, with the stocktake that made them so (the latest line marked missing)."""
    latest = (select(StocktakeLine.item_id, func.max(StocktakeLine.id).label("line_id"))
              .where(StocktakeLine.outcome == "missing").group_by(StocktakeLine.item_id).subquery())
    query = (select(Item.code, Item.title, Item.kind, Item.department_id, Item.location, Item.contains_my_number,
                    Item.holds_my_number_data, StocktakeLine.stocktake_id, StocktakeLine.status_before,
                    Stocktake.closed_at, Stocktake.closed_by_id)
             .join(latest, latest.c.item_id == Item.id)
             .join(StocktakeLine, StocktakeLine.id == latest.c.line_id)
             .join(Stocktake, Stocktake.id == StocktakeLine.stocktake_id)
             .where(Item.status == State.MISSING.value)
             .order_by(Item.department_id, Stocktake.closed_at, Item.code))
    if department_id is not None:
        query = query.where(Item.department_id == department_id)
    if limit is not None:
        query = query.limit(limit)
    return db.session.execute(query).all()


def count_missing(department_id: int | None = None) -> int:
    query = select(func.count()).select_from(Item).where(Item.status == State.MISSING.value)
    if department_id is not None:
        query = query.where(Item.department_id == department_id)
    return db.session.scalar(query) or 0


def open_stocktakes_for(user_id: int, department_id: int | None):
    """Open stocktakes a person is assigned to scan, or plans."""

    assigned = select(stocktake_scanners.c.stocktake_id).where(stocktake_scanners.c.user_id == user_id)
    return db.session.execute(
        select(Stocktake.id, Stocktake.due, Department.name.label("department"))
        .join(Department, Department.id == Stocktake.department_id)
        .where(Stocktake.status == State.OPEN.value,
               Stocktake.id.in_(assigned) | (Stocktake.planned_by_id == user_id))
        .order_by(Stocktake.due, Stocktake.id).limit(50)).all()
