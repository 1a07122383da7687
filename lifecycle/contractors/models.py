"""The contractor register: contractors, their contracts, 誓約書, re-subcontractors, 実地確認."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base
from ..files import StoredFile


class Contractor(Base):
    """A company the prefecture entrusts with work on its data carriers (委託先)."""
    __tablename__ = "contractors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    #: Comma-separated keys of services.SERVICES, in that order: erasure,pulping,leasing,transport.
    services: Mapped[str] = mapped_column(String(100))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)

    contracts: Mapped[list[Contract]] = relationship(
        back_populates="contractor", lazy="selectin", order_by="Contract.start")
    pledges: Mapped[list[Pledge]] = relationship(lazy="selectin", order_by="Pledge.fiscal_year")
    subcontractors: Mapped[list[Subcontractor]] = relationship(lazy="selectin", order_by="Subcontractor.id")
    inspections: Mapped[list[Inspection]] = relationship(lazy="selectin", order_by="Inspection.inspected_on")

    @property
    def service_keys(self) -> list[str]:
        return [s for s in self.services.split(",") if s]

    @property
    def audit_subject(self) -> str:
        return f"contractor:{self.id}"


class Contract(Base):
    """One 委託契約 (or lease contract) with its period and the required clauses found in it."""
    __tablename__ = "contractor_contracts"

    id: Mapped[int] = mapped_column(primary_key=True)
    contractor_id: Mapped[int] = mapped_column(ForeignKey("contractors.id"))
    number: Mapped[str] = mapped_column(String(100))
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)  #: the last day covered
    #: Comma-separated keys of services.CLAUSES ticked as present in the signed contract.
    clauses: Mapped[str] = mapped_column(String(200))
    file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id"))  #: the contract PDF
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)

    contractor: Mapped[Contractor] = relationship(back_populates="contracts")
    file: Mapped[StoredFile | None] = relationship(lazy="joined")

    __table_args__ = (Index("ix_contractor_contracts_contractor", "contractor_id", "start"),)

    @property
    def clause_keys(self) -> list[str]:
        return [c for c in self.clauses.split(",") if c]

    def in_force(self, on: date) -> bool:
        return self.start <= on <= self.end


class Pledge(Base):
    """従事者の誓約書 received from a contractor for one fiscal year (年度, April to March)."""
    __tablename__ = "contractor_pledges"

    id: Mapped[int] = mapped_column(primary_key=True)
    contractor_id: Mapped[int] = mapped_column(ForeignKey("contractors.id"))
    fiscal_year: Mapped[int] = mapped_column(Integer)  #: 2026 = 令和8年度 (2026-04-01 to 2027-03-31)
    received_on: Mapped[date] = mapped_column(Date)
    signatories: Mapped[str | None] = mapped_column(Text)  #: who signed, as written on the pledge
    file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id"))
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(DateTime)

    file: Mapped[StoredFile | None] = relationship(lazy="joined")

    __table_args__ = (UniqueConstraint("contractor_id", "fiscal_year"),)


class Subcontractor(Base):
    """A re-subcontractor the prefecture approved in advance (再委託の事前承認)."""
    __tablename__ = "contractor_subcontractors"

    id: Mapped[int] = mapped_column(primary_key=True)
    contractor_id: Mapped[int] = mapped_column(ForeignKey("contractors.id"))
    name: Mapped[str] = mapped_column(String(200))
    services: Mapped[str] = mapped_column(String(100))  #: the approved scope, as Contractor.services
    approved_on: Mapped[date] = mapped_column(Date)
    approved_by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(500))

    @property
    def service_keys(self) -> list[str]:
        return [s for s in self.services.split(",") if s]


class Inspection(Base):
    """One 実地確認 of how the contractor performs the work."""
    __tablename__ = "contractor_inspections"

    id: Mapped[int] = mapped_column(primary_key=True)
    contractor_id: Mapped[int] = mapped_column(ForeignKey("contractors.id"))
    inspected_on: Mapped[date] = mapped_column(Date)
    by: Mapped[str] = mapped_column(String(200))  #: who checked (names, as written)
    observed: Mapped[str | None] = mapped_column(Text)  #: what was seen
    findings: Mapped[str | None] = mapped_column(Text)
    follow_up: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(DateTime)
