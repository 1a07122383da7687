from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..auth.models import Business, Department, User
from ..db import Base, enum_column
from ..states import Kind


class Item(Base):
    """One ledger entry, loaded as an object only to change it (pages, the API, labels and reports
    read it as a ledger row: items/queries.LEDGER_COLUMNS). One table for the three kinds keeps
    the custody, destruction and audit machinery kind-agnostic; columns that belong to one kind
    are null for the others."""
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    kind: Mapped[Kind] = mapped_column(enum_column(Kind))
    status: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    business_id: Mapped[int | None] = mapped_column(ForeignKey("businesses.id"))
    holder_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))  #: the holder's 所属
    location: Mapped[str | None] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_by: Mapped[str] = mapped_column(String(64))  #: login or system actor
    created_at: Mapped[datetime] = mapped_column(DateTime)
    #: Destroy by this date (policy); null where the kind has no such deadline (devices).
    retention_until: Mapped[date | None] = mapped_column(Date)

    # 帳票
    output_at: Mapped[datetime | None] = mapped_column(DateTime)
    terminal: Mapped[str | None] = mapped_column(String(64))
    sheets: Mapped[int | None] = mapped_column(Integer)
    contains_my_number: Mapped[bool | None] = mapped_column(Boolean)

    # 媒体
    media_type: Mapped[str | None] = mapped_column(String(16))
    record_count: Mapped[int | None] = mapped_column(Integer)
    recipient: Mapped[str | None] = mapped_column(String(200))
    encrypted: Mapped[bool | None] = mapped_column(Boolean)
    due_back: Mapped[date | None] = mapped_column(Date)
    provided_at: Mapped[datetime | None] = mapped_column(DateTime)
    returned_at: Mapped[datetime | None] = mapped_column(DateTime)

    # リース機器
    device_type: Mapped[str | None] = mapped_column(String(32))
    asset_tag: Mapped[str | None] = mapped_column(String(64), unique=True)
    model: Mapped[str | None] = mapped_column(String(100))
    serial: Mapped[str | None] = mapped_column(String(100), unique=True)
    lessor: Mapped[str | None] = mapped_column(String(100))
    lease_contract: Mapped[str | None] = mapped_column(String(100))
    lease_start: Mapped[date | None] = mapped_column(Date)
    lease_end: Mapped[date | None] = mapped_column(Date)
    has_storage: Mapped[bool | None] = mapped_column(Boolean)
    #: マイナンバー利用事務系: its storage should be destroyed with staff witnessing (総務省 令和2年).
    holds_my_number_data: Mapped[bool | None] = mapped_column(Boolean)
    #: Held 住基ネット data (本人確認情報): its erasure must reach the policy's minimum (Purge by default).
    holds_juki_data: Mapped[bool | None] = mapped_column(Boolean)

    business: Mapped[Business | None] = relationship(lazy="joined")
    holder: Mapped[User] = relationship(foreign_keys=[holder_id], lazy="joined")
    department: Mapped[Department] = relationship(lazy="joined")

    __table_args__ = (
        # The ledger (items/queries.py) filters by kind and one of status, department or holder,
        # newest first: each index ends in created_at (and implicitly id) so a page is an index
        # walk, and a registrar's "department or held by me" becomes two index seeks.
        Index("ix_items_kind_created", "kind", "created_at"),
        Index("ix_items_kind_status_created", "kind", "status", "created_at"),
        Index("ix_items_kind_department_created", "kind", "department_id", "created_at"),
        Index("ix_items_kind_holder_created", "kind", "holder_id", "created_at"),
        Index("ix_items_holder", "holder_id", "department_id"),  #: "held outside my department?"
        # Overdue (exceptions): seeks per live status, so destroyed history is never read.
        Index("ix_items_kind_status_due_back", "kind", "status", "due_back"),
        Index("ix_items_kind_status_retention", "kind", "status", "retention_until"),
        # Sorting a ledger by its deadline column.
        Index("ix_items_kind_retention", "kind", "retention_until"),
        Index("ix_items_kind_due_back", "kind", "due_back"),
        # Free-text search reads only this narrow index instead of every row.
        Index("ix_items_kind_title_location", "kind", "title", "location", "department_id", "created_at"),
    )

    @property
    def state_kind(self) -> Kind:
        return Kind(self.kind)

    @property
    def audit_subject(self) -> str:
        return self.code


class CodeCounter(Base):
    """Last number handed out per prefix and year; incremented inside the serialised write."""
    __tablename__ = "item_code_counters"

    prefix: Mapped[str] = mapped_column(String(4), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class DeviceMedium(Base):
    """One storage medium of a leased device (its disk, SSD, eMMC), as an erasure certificate names it."""
    __tablename__ = "device_media"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    media_type: Mapped[str] = mapped_column(String(8))  #: HDD / SSD / NVMe / eMMC
    make: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(100))
    serial: Mapped[str] = mapped_column(String(100))  #: upper case, as items' serials
    capacity_gb: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (UniqueConstraint("item_id", "serial"),)
