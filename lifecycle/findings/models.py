"""Findings (指摘事項): what an audit found in a department, its plan, its action and evidence,
and the 現地確認 that closes it. Nothing here is deleted; the audit log holds every step."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..auth.models import Department
from ..db import Base
from ..files import StoredFile


class Finding(Base):
    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    #: A key of services.SOURCES (internal_audit, self_inspection, log_review …).
    source: Mapped[str] = mapped_column(String(32))
    #: The audit it came from, as people name it (「令和8年度 内部監査」); findings group by it.
    audit: Mapped[str] = mapped_column(String(200))
    fiscal_year: Mapped[int] = mapped_column(Integer, index=True)  #: 年度 of the day it was raised
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    summary: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(16))  #: a key of services.SEVERITIES
    due_on: Mapped[date] = mapped_column(Date)
    raised_by: Mapped[str] = mapped_column(String(64))
    raised_at: Mapped[datetime] = mapped_column(DateTime)
    plan: Mapped[str | None] = mapped_column(Text)  #: the department's corrective-action plan
    planned_by: Mapped[str | None] = mapped_column(String(64))
    planned_at: Mapped[datetime | None] = mapped_column(DateTime)
    action: Mapped[str | None] = mapped_column(Text)  #: what was done (latest report)
    reported_by: Mapped[str | None] = mapped_column(String(64))  #: who answered with the action
    reported_at: Mapped[datetime | None] = mapped_column(DateTime)
    confirmed_by: Mapped[str | None] = mapped_column(String(64))  #: the 現地確認 that closed it
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
    confirmation: Mapped[str | None] = mapped_column(Text)  #: what was seen on site
    sent_back: Mapped[int] = mapped_column(Integer, default=0)  #: how often the check sent it back

    department: Mapped[Department] = relationship(lazy="joined")
    refs: Mapped[list[FindingRef]] = relationship(lazy="selectin", order_by="FindingRef.id")
    evidence: Mapped[list[FindingEvidence]] = relationship(lazy="selectin", order_by="FindingEvidence.id")

    __table_args__ = (Index("ix_findings_department_status", "department_id", "status"),)

    state_kind = "finding"

    @property
    def audit_subject(self) -> str:
        return f"finding:{self.id}"


class FindingRef(Base):
    """What a finding refers to: an item (by code), a contractor (id), a terminal (its code), a
    user (login) or an access-log record (its id in the log review)."""
    __tablename__ = "finding_refs"

    id: Mapped[int] = mapped_column(primary_key=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  #: a key of services.REF_KINDS
    ref: Mapped[str] = mapped_column(String(100))


class FindingEvidence(Base):
    """A file the department gave as evidence of its action, stored and hashed like certificates."""
    __tablename__ = "finding_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id"), index=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id"))
    added_by: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(DateTime)

    file: Mapped[StoredFile] = relationship(lazy="joined")
