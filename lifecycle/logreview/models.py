"""Access logs of the 住基ネット terminals and their review by sampling (アクセスログ検証)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..auth.models import Department
from ..db import Base


class LogSource(Base):
    """Where logs come from (one terminal system's export), with its CSV columns mapped once."""
    __tablename__ = "access_log_sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    #: JSON object: field (accessed_at, terminal, operator, business, operation, records) → the
    #: CSV header that holds it.
    mapping: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class LogImport(Base):
    """One CSV file imported; its SHA-256 is unique, so the same file is never counted twice.

    Rows are written in chunks, each its own short transaction, so a million-row import does not
    hold the write lock for a minute; until `completed_at` (set with the audit event, in one
    transaction) its records count nowhere, and a file cut short is imported again from the start.
    """
    __tablename__ = "access_log_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("access_log_sources.id"))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    file_name: Mapped[str] = mapped_column(String(255))
    encoding: Mapped[str] = mapped_column(String(16))
    rows: Mapped[int] = mapped_column(Integer, default=0)  #: records accepted
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[datetime | None] = mapped_column(DateTime)  #: earliest record, naive UTC
    last_at: Mapped[datetime | None] = mapped_column(DateTime)
    imported_by: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: The seq of the access_log:imported event: a draw must come from a checkpoint after it.
    event_seq: Mapped[int | None] = mapped_column(Integer)
    checked_at: Mapped[datetime | None] = mapped_column(DateTime)  #: automatic checks done

    source: Mapped[LogSource] = relationship(lazy="joined")


class LogRejection(Base):
    """A line of an imported file that was not taken, and why (in Japanese)."""
    __tablename__ = "access_log_rejections"

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("access_log_imports.id"), index=True)
    line: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(300))


class AccessRecord(Base):
    """One line of a terminal's access log."""
    __tablename__ = "access_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("access_log_imports.id"))
    line: Mapped[int] = mapped_column(Integer)
    accessed_at: Mapped[datetime] = mapped_column(DateTime)  #: naive UTC
    terminal: Mapped[str] = mapped_column(String(64))  #: normalised as terminals.services.normalise_code
    operator: Mapped[str] = mapped_column(String(64))  #: the terminal's operator ID = the user's login
    business: Mapped[str] = mapped_column(String(200))
    operation: Mapped[str] = mapped_column(String(16))  #: services.OPERATIONS: inquiry, provision, output
    records: Mapped[int] = mapped_column(Integer)
    #: The terminal's department when imported (none for a terminal not in the register).
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))

    __table_args__ = (
        Index("ix_access_records_import", "import_id", "id"),
        Index("ix_access_records_department_at", "department_id", "accessed_at"),
        Index("ix_access_records_operator_at", "operator", "accessed_at"),
        Index("ix_access_records_terminal_at", "terminal", "accessed_at"),
    )


class CheckHit(Base):
    """A record an automatic check flagged: a candidate finding the reviewer confirms or dismisses."""
    __tablename__ = "access_check_hits"

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("access_records.id"))
    rule: Mapped[str] = mapped_column(String(32))  #: checks.CHECKS
    detail: Mapped[str] = mapped_column(String(300))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    status: Mapped[str] = mapped_column(String(16), default="candidate")  #: candidate, confirmed, dismissed
    reason: Mapped[str | None] = mapped_column(String(1000))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    finding_id: Mapped[int | None] = mapped_column(Integer)  #: the finding it became, when one did

    __table_args__ = (
        UniqueConstraint("record_id", "rule", name="uq_access_check_hits_record_rule"),
        Index("ix_access_check_hits_status", "status", "department_id"),
    )


class SamplingRaise(Base):
    """An auditor's decision that a department's log review takes the larger sample (SPEC: auditors
    can raise a department's review sampling), from a quarter on, until lifted."""
    __tablename__ = "access_sampling_raises"

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    reason: Mapped[str] = mapped_column(String(1000))
    raised_by: Mapped[str] = mapped_column(String(64))
    raised_at: Mapped[datetime] = mapped_column(DateTime)
    lifted_by: Mapped[str | None] = mapped_column(String(64))
    lifted_at: Mapped[datetime | None] = mapped_column(DateTime)

    department: Mapped[Department] = relationship(lazy="joined")


class LogReview(Base):
    """A quarter's review (kind quarterly: one month per department, a sample of its records) or a
    look-back over an earlier period for one operator or terminal (kind lookback: every record)."""
    __tablename__ = "access_log_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  #: quarterly, lookback
    quarter: Mapped[str | None] = mapped_column(String(6), unique=True)  #: 2026Q3 (calendar quarters)
    #: The signed checkpoint whose hash seeds the draw, made after every import it draws from.
    checkpoint_id: Mapped[int | None] = mapped_column(ForeignKey("audit_checkpoints.id"))
    #: The published parameters (services.draw_parameters) are read back from the samples, their
    #: positions and the imports logged before the checkpoint, not kept as JSON text: hex digests
    #: and lists of numbers in one text would read as a 個人番号 to `audit scan-my-number`.
    seed: Mapped[str | None] = mapped_column(String(64))
    # a look-back's scope
    operator: Mapped[str | None] = mapped_column(String(64))
    terminal: Mapped[str | None] = mapped_column(String(64))
    date_from: Mapped[date | None] = mapped_column(Date)
    date_to: Mapped[date | None] = mapped_column(Date)
    basis_hit_id: Mapped[int | None] = mapped_column(ForeignKey("access_check_hits.id"))
    reason: Mapped[str | None] = mapped_column(String(1000))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)

    samples: Mapped[list[ReviewSample]] = relationship(lazy="selectin", order_by="ReviewSample.id")

    @property
    def audit_subject(self) -> str:
        return f"log-review:{self.id}"


class ReviewSample(Base):
    """One department's drawn month in a review, and how many of its records were drawn."""
    __tablename__ = "access_review_samples"

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("access_log_reviews.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    month: Mapped[str | None] = mapped_column(String(7))  #: 2026-08; none for a look-back
    population: Mapped[int] = mapped_column(Integer)  #: records of the month (or the look-back's)
    size: Mapped[int] = mapped_column(Integer)  #: the policy's sample size that applied
    raised: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Why the larger sample applied (an auditor's raise, an open or recent finding), in words.
    raised_because: Mapped[str | None] = mapped_column(String(300))

    department: Mapped[Department | None] = relationship(lazy="joined")


class SampledRecord(Base):
    """A drawn record and the reviewer's mark: 問題なし (ok) or 要確認 (query) with a note; a query
    goes to the department for an answer and can become a finding."""
    __tablename__ = "access_sampled_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("access_review_samples.id"), index=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("access_records.id"))
    position: Mapped[int] = mapped_column(Integer)  #: in the population ordered by (accessed_at, id)
    mark: Mapped[str | None] = mapped_column(String(16))  #: ok, query
    note: Mapped[str | None] = mapped_column(String(1000))
    marked_by: Mapped[str | None] = mapped_column(String(64))
    marked_at: Mapped[datetime | None] = mapped_column(DateTime)
    answer: Mapped[str | None] = mapped_column(String(1000))
    answered_by: Mapped[str | None] = mapped_column(String(64))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime)
    finding_id: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (UniqueConstraint("sample_id", "record_id", name="uq_access_sampled_records_sample_record"),)
