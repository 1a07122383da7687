"""The SMTP settings, each person's mail choice, and the outbox of mails to send.

Nothing here is a to-do list: what waits for a person is computed from the ledger's state
(notifications/tasks.py). The outbox holds mails, queued in the transaction that causes them or
by the digest job, until the scheduler's leader has sent them.
"""
from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..clock import utcnow
from ..db import Base


class MailSettings(Base):
    """The one SMTP server (row id 1). Without a row, or with `enabled` off, nothing is mailed."""
    __tablename__ = "mail_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    starttls: Mapped[bool] = mapped_column(Boolean, default=False)
    username: Mapped[str | None] = mapped_column(String(255))
    #: The SMTP password sealed with crypto.encrypt_secret (instance/keys/secrets.key): a copy of
    #: the database alone does not reveal it, and no page shows it again.
    password_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    sender: Mapped[str] = mapped_column(String(254))  #: the From address
    #: The JST day whose digests were queued: the digest job does each day once, at the first run
    #: after the policy's hour, so a task that appears later that day waits for the next digest.
    last_digest_on: Mapped[date | None] = mapped_column(Date)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class MailPreference(Base):
    """A person's choice; without a row, the default: the daily digest and urgent mails."""
    __tablename__ = "mail_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    urgent: Mapped[bool] = mapped_column(Boolean, default=True)  #: False: the daily digest only
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Delivery(StrEnum):
    """Where a queued mail is. Not a ledger state machine (states.py): an attempt to send is not
    an audited action, and the row itself is the record of its sending."""
    PENDING = "pending"  #: waiting for next_attempt_at
    SENDING = "sending"  #: claimed by one sender until lease_until
    SENT = "sent"
    FAILED = "failed"  #: given up: a permanent refusal, or too many attempts


class OutboxMail(Base):
    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_delivery_next", "delivery", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  #: digest / transfer_waiting / purge_failed
    #: What this mail is about, once per person ("digest:<user>:<day>"): whatever queues it twice
    #: (a job run again, a failover) finds the row and queues nothing.
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    delivery: Mapped[str] = mapped_column(String(16), default=Delivery.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime)
    #: The claim of one sending attempt: set under the write lock before connecting. A row left
    #: "sending" past lease_until (its sender died) is taken again.
    lease_id: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))  #: Japanese, for the admin page
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
