from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Column, Date, DateTime, ForeignKey, Index, Integer, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..auth.models import Department, User
from ..db import Base
from ..items.models import Item
from ..states import Kind

#: Who is assigned to scan a stocktake (besides the planner and the department's security managers).
stocktake_scanners = Table(
    "stocktake_scanners", Base.metadata,
    Column("stocktake_id", ForeignKey("stocktakes.id"), primary_key=True),
    Column("user_id", ForeignKey("users.id"), primary_key=True),
)


class Stocktake(Base):
    """One planned 棚卸 of one department: its scope, who scans, and how it was closed and signed."""
    __tablename__ = "stocktakes"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(32))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    #: Comma-separated item kinds in scope ("form,medium").
    kinds: Mapped[str] = mapped_column(String(64))
    #: The 保管場所 counted; null counts the whole department wherever its items are recorded.
    location: Mapped[str | None] = mapped_column(String(200))
    due: Mapped[date] = mapped_column(Date)
    #: How many items were expected when planned (the lines with `expected`; fixed from then on).
    expected_count: Mapped[int] = mapped_column(Integer, default=0)
    planned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    planned_by: Mapped[str] = mapped_column(String(64))  #: login or system actor
    planned_at: Mapped[datetime] = mapped_column(DateTime)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: The audit chain head right after the closing event: printed on the report.
    closed_head_seq: Mapped[int | None] = mapped_column(Integer)
    closed_head_hash: Mapped[str | None] = mapped_column(String(64))
    #: A stocktake called off before closing (中止): by whom and why; its scans stay as record.
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    cancelled_by: Mapped[str | None] = mapped_column(String(64))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime)
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    signed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    signed_at: Mapped[datetime | None] = mapped_column(DateTime)
    sign_comment: Mapped[str | None] = mapped_column(String(500))

    department: Mapped[Department] = relationship(lazy="joined")
    planner: Mapped[User | None] = relationship(foreign_keys=[planned_by_id])
    closer: Mapped[User | None] = relationship(foreign_keys=[closed_by_id])
    signer: Mapped[User | None] = relationship(foreign_keys=[signed_by_id])
    canceller: Mapped[User | None] = relationship(foreign_keys=[cancelled_by_id])
    scanners: Mapped[list[User]] = relationship(secondary=stocktake_scanners, order_by=User.id)

    __table_args__ = (Index("ix_stocktakes_department_status", "department_id", "status"),)

    @property
    def state_kind(self) -> Kind:
        return Kind.STOCKTAKE

    @property
    def audit_subject(self) -> str:
        return f"stocktake:{self.id}"

    @property
    def kind_list(self) -> list[Kind]:
        return [Kind(k) for k in self.kinds.split(",") if k]


class StocktakeLine(Base):
    """One ledger item the stocktake is about: expected when planned (or met while scanning), and
    what became of it. `status_before` is where a missing item returns when it is found."""
    __tablename__ = "stocktake_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    stocktake_id: Mapped[int] = mapped_column(ForeignKey("stocktakes.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    #: In the ledger for this scope when the stocktake was planned.
    expected: Mapped[bool] = mapped_column(Boolean)
    #: null (not seen yet), confirmed, wrong_location, found (was 所在不明), missing (closed unseen).
    outcome: Mapped[str | None] = mapped_column(String(32))
    seen_at: Mapped[datetime | None] = mapped_column(DateTime)
    seen_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Where it was seen when that was not where the ledger had it.
    seen_location: Mapped[str | None] = mapped_column(String(200))
    location_corrected: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The ledger's holder when the item was read, kept only when he could no longer hold it for
    #: the stocktake's department (services.holder_problem says why: left, moved, no role).
    recorded_holder_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    holder_problem: Mapped[str | None] = mapped_column(String(32))
    #: The scanner took the item into his own custody (a recorded event).
    holder_corrected: Mapped[bool] = mapped_column(Boolean, default=False)
    status_before: Mapped[str | None] = mapped_column(String(32))
    #: After closing: found again (date-time), or written off (by whom, with the leak flag).
    found_at: Mapped[datetime | None] = mapped_column(DateTime)
    found_reason: Mapped[str | None] = mapped_column(String(500))
    written_off_at: Mapped[datetime | None] = mapped_column(DateTime)
    written_off_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    write_off_reason: Mapped[str | None] = mapped_column(String(500))
    possible_leak: Mapped[bool] = mapped_column(Boolean, default=False)

    item: Mapped[Item] = relationship(lazy="joined")
    seen_by: Mapped[User | None] = relationship(foreign_keys=[seen_by_id])
    recorded_holder: Mapped[User | None] = relationship(foreign_keys=[recorded_holder_id])
    written_off_by: Mapped[User | None] = relationship(foreign_keys=[written_off_by_id])

    __table_args__ = (
        UniqueConstraint("stocktake_id", "item_id"),
        Index("ix_stocktake_lines_item_outcome", "item_id", "outcome"),
        # The running count of a scan reads this index only (services.running_counts).
        Index("ix_stocktake_lines_stocktake_expected_outcome", "stocktake_id", "expected", "outcome"),
    )


class StocktakeScan(Base):
    """Every scan, in order, whatever it was: the stocktake's record keeps codes not in the ledger
    and forged labels too, never silently dropped. `shown` is what was read, cleaned (no control
    characters, no 12-digit number) and cut to 100 characters."""
    __tablename__ = "stocktake_scans"

    id: Mapped[int] = mapped_column(primary_key=True)
    stocktake_id: Mapped[int] = mapped_column(ForeignKey("stocktakes.id"))
    scanned_at: Mapped[datetime] = mapped_column(DateTime)
    scanned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    scanned_by: Mapped[str] = mapped_column(String(64))
    shown: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(32))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"))
    #: Why out_of_scope (another department, destroyed, …), in Japanese, without the item's title.
    detail: Mapped[str | None] = mapped_column(String(200))

    item: Mapped[Item | None] = relationship()
    scanner: Mapped[User | None] = relationship(foreign_keys=[scanned_by_id])

    __table_args__ = (Index("ix_stocktake_scans_stocktake", "stocktake_id", "id"),
                      Index("ix_stocktake_scans_shown", "stocktake_id", "shown", "outcome"))


class StocktakeInterval(Base):
    """A department's own 棚卸 interval, overriding the policy default (policy/services.py)."""
    __tablename__ = "stocktake_intervals"

    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), primary_key=True)
    days: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime)
