from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..auth.models import User

from ..db import Base
from ..states import Kind


class MyNumberCopy(Base):
    """A 個人番号 held for a possible re-send. The row is deleted when it is purged; what stays is
    its MyNumberDeletion. The number itself is only ever in `ciphertext` (see keystore.py)."""
    __tablename__ = "my_number_copies"
    # AUTOINCREMENT: SQLite would otherwise hand a purged copy's id to the next copy, and ids are
    # what deletion records and audit events point at.
    # No index on key_bucket: a bucket is an hour of purge_after, which is indexed (every index
    # costs the million-row purge its share).
    __table_args__ = (Index("ix_my_number_copies_purge_after", "purge_after"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    masked: Mapped[str] = mapped_column(String(12))  #: ********9018 — the last four digits only
    provided_to: Mapped[str] = mapped_column(String(200))  #: 提供先
    reason: Mapped[str] = mapped_column(String(500))  #: why it is kept
    retain_minutes: Mapped[int] = mapped_column(Integer)
    recorded_by: Mapped[str] = mapped_column(String(64))  #: login of the bulk operator
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    department: Mapped[str | None] = mapped_column(String(32))  #: the recorder's 所属 code
    created_at: Mapped[datetime] = mapped_column(DateTime)
    #: Naive UTC; set once (never extended past the policy maximum), and key_bucket follows from it.
    purge_after: Mapped[datetime] = mapped_column(DateTime)
    key_bucket: Mapped[str] = mapped_column(String(10))  #: keystore bucket (UTC hour of purge_after)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)  #: nonce ‖ AES-GCM(number), AD = id, bucket

    recorder: Mapped[User | None] = relationship(lazy="joined")

    state_kind = Kind.MY_NUMBER_COPY

    @property
    def audit_subject(self) -> str:
        return f"mynumber:{self.id}"


class MyNumberDeletion(Base):
    """The record that a copy was deleted (番号法ガイドライン: 削除した記録を保存する).
    Deliberately without the number, its mask or any hash of it."""
    __tablename__ = "my_number_deletions"

    copy_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)  #: when the copy was recorded
    purge_after: Mapped[datetime] = mapped_column(DateTime)  #: when it was due
    purged_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    rule: Mapped[str] = mapped_column(String(16))  #: scheduled / manual / early
    purged_by: Mapped[str] = mapped_column(String(64))  #: a login or "system:scheduler"
    recorded_by: Mapped[str] = mapped_column(String(64))  #: who recorded (provided) the copy
    provided_to: Mapped[str] = mapped_column(String(200))
    department: Mapped[str | None] = mapped_column(String(32))
    purge_reason: Mapped[str | None] = mapped_column(String(500))  #: for an early purge on request
