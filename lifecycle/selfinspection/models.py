"""The checklist admins keep, and each department's yearly answers to it (自己点検)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..auth.models import Department
from ..db import Base
from ..files import StoredFile


class ChecklistItem(Base):
    """One question of the checklist, grouped by theme. Retired items stay (active=False) so that
    earlier years' answers still name their question."""
    __tablename__ = "checklist_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    theme: Mapped[str] = mapped_column(String(100))
    question: Mapped[str] = mapped_column(Text)
    evidence_required: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)  #: order within the checklist
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)

    @property
    def audit_subject(self) -> str:
        return f"checklist:{self.id}"


class SelfInspection(Base):
    """One department's self-inspection of one 年度."""
    __tablename__ = "self_inspections"

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    fiscal_year: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    opened_by: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[datetime] = mapped_column(DateTime)
    filed_by: Mapped[str | None] = mapped_column(String(64))
    filed_at: Mapped[datetime | None] = mapped_column(DateTime)

    department: Mapped[Department] = relationship(lazy="joined")
    answers: Mapped[list[SelfInspectionAnswer]] = relationship(lazy="selectin", order_by="SelfInspectionAnswer.id")

    __table_args__ = (UniqueConstraint("department_id", "fiscal_year"),)

    state_kind = "self_inspection"

    @property
    def audit_subject(self) -> str:
        return f"self-inspection:{self.id}"


class SelfInspectionAnswer(Base):
    """A department's answer to one checklist item, and an auditor's sample check of it."""
    __tablename__ = "self_inspection_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("self_inspections.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("checklist_items.id"))
    answer: Mapped[str] = mapped_column(String(8))  #: yes / no / na (はい／いいえ／該当なし)
    note: Mapped[str | None] = mapped_column(Text)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id"))  #: the evidence
    answered_by: Mapped[str] = mapped_column(String(64))
    answered_at: Mapped[datetime] = mapped_column(DateTime)
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("findings.id"))  #: raised from a いいえ
    sampled_by: Mapped[str | None] = mapped_column(String(64))  #: the auditor who checked it
    sampled_at: Mapped[datetime | None] = mapped_column(DateTime)
    supported: Mapped[bool | None] = mapped_column(Boolean)  #: whether the evidence bears it out
    sample_note: Mapped[str | None] = mapped_column(Text)
    sample_finding_id: Mapped[int | None] = mapped_column(ForeignKey("findings.id"))

    item: Mapped[ChecklistItem] = relationship(lazy="joined")
    file: Mapped[StoredFile | None] = relationship(lazy="joined")

    __table_args__ = (UniqueConstraint("inspection_id", "item_id"),)
