from __future__ import annotations

from datetime import date, datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..clock import today_jst, utcnow
from ..db import Base, enum_column
from ..roles import Role


class Department(Base):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    #: 市町課: the one department whose staff may hold bulk_operator.
    is_system_owner: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Business(Base):
    """利用事務, with the legal basis that allows it to use 本人確認情報."""
    __tablename__ = "businesses"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    basis: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class User(UserMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    #: The latest 研修受講日 of the user's training records (auth/services.py keeps it in step).
    trained_on: Mapped[date | None] = mapped_column(Date)
    #: The last day the latest training counts under the policy's training period; after it, or
    #: without any training record, the user holds no effective role.
    training_valid_until: Mapped[date | None] = mapped_column(Date)
    #: Where notification mails go (set by an admin); none: no mail, the in-app inbox only.
    email: Mapped[str | None] = mapped_column(String(254))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: Part of the session's user id (get_id): bumped at logout, password change or reset and
    #: deactivation, which ends every session of the person, in every server process.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    department: Mapped[Department] = relationship(lazy="joined")
    grants: Mapped[list["RoleGrant"]] = relationship(
        back_populates="user", lazy="selectin", cascade="all, delete-orphan",
        foreign_keys="RoleGrant.user_id")

    is_system = False  #: a person, not actors.SystemActor

    def get_id(self) -> str:
        """Flask-Login's "alternative token": a session names the user and the epoch it began in."""
        return f"{self.id}:{self.session_epoch}"

    def end_sessions(self) -> None:
        """Every session signed in before this no longer names a current epoch."""
        self.session_epoch = (self.session_epoch or 0) + 1

    @property
    def granted_roles(self) -> set[Role]:
        return {Role(g.role) for g in self.grants}

    def training_current(self, on: date | None = None) -> bool:
        """Whether the latest training is within the policy period on `on` (default: today, JST)."""
        until = self.training_valid_until
        return until is not None and (on or today_jst()) <= until

    @property
    def effective_roles(self) -> set[Role]:
        """THE rule: roles count only for an active user whose latest training is still current."""
        if not self.active or not self.training_current():
            return set()
        return self.granted_roles

    def has_role(self, *roles: Role) -> bool:
        return bool(self.effective_roles.intersection(roles))

    @property
    def is_active(self) -> bool:  # Flask-Login: inactive users cannot log in
        return bool(self.active)

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


class RoleGrant(Base):
    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("user_id", "role", name="uq_role_grants_user_role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[Role] = mapped_column(enum_column(Role))
    granted_by: Mapped[str] = mapped_column(String(64))
    granted_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="grants", foreign_keys=[user_id])


class TrainingRecord(Base):
    """One 研修 attended: when, which course, and the admin who confirmed it. A record entered by
    mistake is withdrawn, not deleted, so the list the council sees keeps its history."""
    __tablename__ = "training_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    completed_on: Mapped[date] = mapped_column(Date)
    course: Mapped[str] = mapped_column(String(200))
    #: Login of who confirmed the attendance (an admin, or a system actor for the CLI and demo).
    confirmed_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime)
    withdrawn_by: Mapped[str | None] = mapped_column(String(64))

    user: Mapped[User] = relationship(foreign_keys=[user_id])


class ApiToken(Base):
    """Only the SHA-256 of a token is kept: tokens are random, so no salt or slow hash is needed."""
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)

    user: Mapped[User] = relationship(lazy="joined")
