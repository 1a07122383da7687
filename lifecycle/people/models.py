from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..auth.models import Department, User
from ..db import Base, enum_column
from ..roles import Role
from ..states import Kind


class GrantRequest(Base):
    """A grant that needs a second admin (bulk_operator): asked by one admin, approved by another;
    the role is granted only by the approval."""
    __tablename__ = "grant_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[Role] = mapped_column(enum_column(Role))
    status: Mapped[str] = mapped_column(String(32), index=True)
    reason: Mapped[str | None] = mapped_column(String(500))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    requested_by: Mapped[str] = mapped_column(String(64))  #: login, a system actor's too
    requested_at: Mapped[datetime] = mapped_column(DateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    decision_reason: Mapped[str | None] = mapped_column(String(500))

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")

    state_kind = Kind.GRANT_REQUEST

    @property
    def audit_subject(self) -> str:
        return f"grant_request:{self.id}"


class RoleConfirmation(Base):
    """権限の棚卸: one role of one person, confirmed as still needed or revoked, once a 年度."""
    __tablename__ = "role_confirmations"
    __table_args__ = (UniqueConstraint("fiscal_year", "user_id", "role", name="uq_role_confirmations_year_user_role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    fiscal_year: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[Role] = mapped_column(enum_column(Role))
    #: The person's 所属 when reviewed: each department's security manager reviews his own.
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    #: "confirmed" (still needed) or "revoked"
    decision: Mapped[str] = mapped_column(String(16))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_by: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[datetime] = mapped_column(DateTime)
    reason: Mapped[str | None] = mapped_column(String(500))

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")
    department: Mapped[Department] = relationship(lazy="joined")
