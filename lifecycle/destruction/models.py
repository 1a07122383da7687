"""Destruction batches, the items in them, and the certificate files uploaded for them."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..auth.models import Department, User
from ..db import Base
from ..items.models import Item
from ..states import Kind
from ..contractors.models import Contractor
from ..files import StoredFile




class DestructionBatch(Base):
    """One witnessed destruction: items, method, DIN 66399 level, place, performer and witness."""
    __tablename__ = "destruction_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)  #: DS-2026-000001
    status: Mapped[str] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(String(16))  #: shred / pulp / crush
    #: paper / optical / mo / storage — decides the allowed methods and the DIN level class.
    material: Mapped[str] = mapped_column(String(16))
    din_level: Mapped[str] = mapped_column(String(8))
    place: Mapped[str] = mapped_column(String(200))
    planned_on: Mapped[date | None] = mapped_column(Date)
    #: The performer (実施者): the creator is the one who destroys, so he cannot witness.
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_by: Mapped[str] = mapped_column(String(64))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    witness_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    witnessed_at: Mapped[datetime | None] = mapped_column(DateTime)
    cancelled_by: Mapped[str | None] = mapped_column(String(64))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime)
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id"))
    #: Pulping: the security manager who accepted the contractor's certificate; only then are the
    #: items destroyed (until then 溶解証明待ち).
    certificate_accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    certificate_accepted_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: The contractor who performs it (溶解 always; 裁断・破砕 when done by one), contracts.models.
    contractor_id: Mapped[int | None] = mapped_column(ForeignKey("contractors.id"))

    creator: Mapped[User | None] = relationship(foreign_keys=[created_by_id], lazy="joined")
    witness: Mapped[User | None] = relationship(foreign_keys=[witness_id], lazy="joined")
    certificate_accepted_by: Mapped[User | None] = relationship(foreign_keys=[certificate_accepted_by_id])
    department: Mapped[Department | None] = relationship(lazy="joined")
    certificate: Mapped[StoredFile | None] = relationship(lazy="joined")
    contractor: Mapped[Contractor | None] = relationship(lazy="joined")
    entries: Mapped[list["DestructionBatchItem"]] = relationship(
        back_populates="batch", lazy="selectin", order_by="DestructionBatchItem.position",
        cascade="all, delete-orphan")

    __table_args__ = (Index("ix_destruction_batches_status", "status"),)

    @property
    def state_kind(self) -> Kind:
        return Kind.DESTRUCTION

    @property
    def audit_subject(self) -> str:
        return f"destruction:{self.code}"

    @property
    def items(self) -> list[Item]:
        return [entry.item for entry in self.entries]

    @property
    def certificate_required(self) -> bool:
        """Pulping is done by a contractor, whose certificate is the proof (SPEC: 溶解)."""
        return self.method == "pulp"

    @property
    def certificate_to_accept(self) -> bool:
        """Witnessed pulping whose certificate is attached and waits for a security manager."""
        return (self.certificate_required and self.status == "completed" and self.certificate_id is not None
                and self.certificate_accepted_at is None)

    @property
    def certificate_missing(self) -> bool:
        return self.certificate_required and self.certificate_id is None and self.status != "cancelled"


class DestructionBatchItem(Base):
    """Membership of an item in a batch. The row stays after a cancellation (it is history); an
    item counts as "in a batch" only while that batch is awaiting its witness."""
    __tablename__ = "destruction_batch_items"

    batch_id: Mapped[int] = mapped_column(ForeignKey("destruction_batches.id"), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    batch: Mapped[DestructionBatch] = relationship(back_populates="entries")
    item: Mapped[Item] = relationship(lazy="joined")

    __table_args__ = (Index("ix_destruction_batch_items_item", "item_id"),)


# DestructionBatch.contractor names the register's class: it must be mapped whenever this is.
