"""Terminals, the requests to use them (使用伺い) and the forms printed under an approval."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..auth.models import Business, Department, User
from ..db import Base
from ..items.models import Item
from ..states import Kind


class Terminal(Base):
    """A 住基ネット terminal (CS端末・業務端末) of a department, at a place."""
    __tablename__ = "terminals"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: As printed on the terminal and typed into a form's 出力端末 (upper case, NFKC).
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(100))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    location: Mapped[str] = mapped_column(String(200))
    #: The leased device of the ledger (機器管理簿) this terminal is, when it is registered there.
    device_item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)

    department: Mapped[Department] = relationship(lazy="joined")
    device: Mapped[Item | None] = relationship(lazy="joined")

    @property
    def audit_subject(self) -> str:
        return f"terminal:{self.code}"


class TerminalUse(Base):
    """One line of the 使用伺い簿: who asks to use which terminal, for which business, when; the
    security manager's decision with the pre-use check; and the end of use as recorded."""
    __tablename__ = "terminal_uses"

    id: Mapped[int] = mapped_column(primary_key=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: The requester's 所属 when asking (a later 異動 does not move the book's line).
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"))
    purpose: Mapped[str | None] = mapped_column(String(500))
    starts_at: Mapped[datetime] = mapped_column(DateTime)  #: planned, naive UTC
    ends_at: Mapped[datetime] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(32))
    requested_at: Mapped[datetime] = mapped_column(DateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_by: Mapped[str | None] = mapped_column(String(64))  #: login or system actor
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: Set when approved: the approver confirmed no camera, phone or USB memory was brought in.
    approved_at: Mapped[datetime | None] = mapped_column(DateTime)
    no_camera_phone_usb: Mapped[bool | None] = mapped_column(Boolean)
    refusal_reason: Mapped[str | None] = mapped_column(String(500))
    #: Recorded at the end of use: the actual start (default the planned one) and end.
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    output_note: Mapped[str | None] = mapped_column(String(500))  #: outputs not registered as forms

    terminal: Mapped[Terminal] = relationship(lazy="joined")
    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")
    approver: Mapped[User | None] = relationship(foreign_keys=[decided_by_id], lazy="joined")
    department: Mapped[Department] = relationship(lazy="joined")
    business: Mapped[Business] = relationship(lazy="joined")

    __table_args__ = (
        # approved_use_at and the exceptions look for a terminal's uses around a moment.
        Index("ix_terminal_uses_terminal_starts", "terminal_id", "starts_at"),
        Index("ix_terminal_uses_department_starts", "department_id", "starts_at"),
        Index("ix_terminal_uses_status_ends", "status", "ends_at"),
    )

    @property
    def state_kind(self) -> Kind:
        return Kind.TERMINAL_USE

    @property
    def audit_subject(self) -> str:
        return f"terminal-use:{self.id}"


class TerminalUseForm(Base):
    """A form (帳票) registered from the output of an approved use names that approval."""
    __tablename__ = "terminal_use_forms"

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), primary_key=True)
    use_id: Mapped[int] = mapped_column(ForeignKey("terminal_uses.id"), index=True)
