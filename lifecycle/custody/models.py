"""Hand-offs (引継ぎ) of items between people, and the custody exceptions the daily scan finds."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..auth.models import Department, User
from ..db import Base
from ..items.models import Item
from ..states import Kind


class Transfer(Base):
    """One two-sided hand-off: the giver records it, the named receiver accepts or rejects it.

    A hand-off moves two state machines at once, the item's (in_custody → in_transfer → …) and the
    transfer's own (pending → accepted | rejected | cancelled). Each transition is one audited
    event, so each hand-off step writes two events of the same type in the same transaction: the
    item's, with the item code as subject (what the item timeline and the custody report show,
    carrying the transfer id, giver, receiver and note), and the transfer's, with subject
    "transfer:<id>" (what an auditor following one hand-off reads). Keeping the subjects apart
    means the item timeline shows each step exactly once.
    """
    __tablename__ = "transfers"
    __table_args__ = (
        # One pending hand-off per item, enforced by the database as well as by the state machine.
        Index("uq_transfers_item_pending", "item_id", unique=True,
              sqlite_where=text("status = 'pending'"), postgresql_where=text("status = 'pending'")),
        Index("ix_transfers_receiver_status", "receiver_id", "status"),
        Index("ix_transfers_giver_status", "giver_id", "status"),
        Index("ix_transfers_item_id", "item_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    status: Mapped[str] = mapped_column(String(16))
    giver_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: The giver's 所属 when the hand-off was recorded (users can move between departments).
    giver_department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    receiver_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: The receiver's 所属 when the hand-off was recorded; on acceptance the item's department
    #: becomes the receiver's department at that moment.
    receiver_department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    note: Mapped[str | None] = mapped_column(String(500))
    requested_at: Mapped[datetime] = mapped_column(DateTime)
    #: When it was accepted, rejected or cancelled.
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    #: The receiver's reason for a rejection, or the giver's for a cancellation.
    reason: Mapped[str | None] = mapped_column(String(500))

    item: Mapped[Item] = relationship(lazy="joined")
    giver: Mapped[User] = relationship(foreign_keys=[giver_id], lazy="joined")
    receiver: Mapped[User] = relationship(foreign_keys=[receiver_id], lazy="joined")
    giver_department: Mapped[Department] = relationship(foreign_keys=[giver_department_id], lazy="joined")
    receiver_department: Mapped[Department] = relationship(foreign_keys=[receiver_department_id],
                                                           lazy="joined")

    state_kind = Kind.TRANSFER

    @property
    def audit_subject(self) -> str:
        return f"transfer:{self.id}"


class CustodyException(Base):
    """A finding of the daily scan: a provided medium past its due-back date ("overdue_medium") or
    an item kept past its retention deadline ("retention_expired"). Open while `resolved_at` is
    null; at most one open finding per item and kind, so the scan can run any number of times."""
    __tablename__ = "custody_exceptions"
    __table_args__ = (
        Index("uq_custody_exceptions_open", "item_id", "kind", unique=True,
              sqlite_where=text("resolved_at IS NULL"), postgresql_where=text("resolved_at IS NULL")),
        Index("ix_custody_exceptions_resolved_at", "resolved_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  #: overdue_medium | retention_expired
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    detected_on: Mapped[date] = mapped_column(Date)  #: the scan's as-of date (JST)
    #: The deadline that was missed (due-back date or retention deadline).
    deadline: Mapped[date | None] = mapped_column(Date)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)

    item: Mapped[Item] = relationship(lazy="joined")

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None
