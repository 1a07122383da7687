from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base


class AuditEvent(Base):
    """One link of the chain. `hash` = SHA-256(previous hash ‖ canonical(row))."""
    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)  #: naive UTC
    type: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)  #: a login or "system:…"
    subject: Mapped[str | None] = mapped_column(String(64))  #: item code, "user:x", …
    data: Mapped[str] = mapped_column(Text)  #: canonical JSON, hashed as stored, never re-serialised
    hash: Mapped[str] = mapped_column(String(64))

    # By subject in order (an item's timeline, custody reports); it also serves any lookup by
    # subject alone, so there is no index on subject by itself for every append to keep up.
    __table_args__ = (Index("ix_audit_events_subject_seq", "subject", "seq"),)


class AuditHead(Base):
    """The chain's tip in one row: appends read it instead of scanning for max(seq)."""
    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class AuditTreeNode(Base):
    """One node of the audit log's RFC 9162 Merkle tree: the root of the complete subtree over
    leaves [idx·2^level, (idx+1)·2^level), written once by the append that completes it (see
    audit/tree.py). Leaves (level 0) are not stored: they are the events' chain hashes."""
    __tablename__ = "audit_tree_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))  #: raw SHA-256


class AuditCheckpoint(Base):
    """A signed statement "the chain had `seq` events ending in `head_hash` at `created_at`, and
    the Merkle tree of those `seq` events has `root`": printed on reports, so a paper copy can
    later witness that the log was not rewritten, and proofs can be checked against it."""
    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    head_hash: Mapped[str] = mapped_column(String(64))
    root: Mapped[str] = mapped_column(String(64))  #: RFC 9162 root of events 1..seq (tree size = seq), hex
    created_at: Mapped[datetime] = mapped_column(DateTime)
    key_id: Mapped[str] = mapped_column(String(16))  #: first 16 hex of SHA-256 of the public key
    signature: Mapped[str] = mapped_column(String(128))  #: Ed25519, hex


class DeniedCount(Base):
    """Anonymous refusals from one address within one minute. The first is an `access:denied`
    event; the others are only counted here, and `record_denied` writes the count as one
    `access:denied_repeated` event once the minute is over (then the row goes)."""
    __tablename__ = "audit_denied_counts"

    address: Mapped[str] = mapped_column(String(64), primary_key=True)  #: the client's, "" if unknown
    minute: Mapped[datetime] = mapped_column(DateTime, primary_key=True)  #: naive UTC, seconds zero
    repeats: Mapped[int] = mapped_column(Integer, default=0)  #: refusals after the first, not yet logged
