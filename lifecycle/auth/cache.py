"""The signed-in user of a request, without loading the user, department and role grants anew
on every request (they were a third of the cost of an item page).

Each request still reads the user's `auth_version` from the database (one indexed row), so the
decision is never stale: any change to a user or to their role grants bumps that number in the
same flush (the listener below), and a revoked role, a deactivation or a new training date takes
effect on the very next request, in every process. Only when the number is unchanged is the
per-process snapshot used. `attach` copies it into the request's session with
`merge(load=False)`, which issues no SQL and never attaches the shared snapshot itself; an API
request that only reads (web.current_reader) uses the snapshot as it is and skips even that.
"""
from __future__ import annotations

import threading
import time

from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import Session, joinedload, selectinload

from ..extensions import db
from .models import ApiToken, Business, Department, RoleGrant, User

#: Names of departments are not versioned with the user; a renamed department shows up within this.
SNAPSHOT_SECONDS = 60.0
MAX_SNAPSHOTS = 4096


class UserCache:
    def __init__(self) -> None:
        self._snapshots: dict[int, tuple[int, float, User]] = {}
        self._engine = None  # snapshots belong to one database; ids repeat across databases
        self._lock = threading.Lock()

    def snapshot(self, user_id: int, version: int) -> User | None:
        """The shared, detached user, given the auth_version the database holds now."""
        if self._engine is not db.engine:
            with self._lock:
                self._snapshots, self._engine = {}, db.engine
        entry = self._snapshots.get(user_id)
        if entry is None or entry[0] != version or entry[1] < time.monotonic():
            snapshot = _load_detached(user_id)
            if snapshot is None:
                return None
            entry = (snapshot.auth_version, time.monotonic() + SNAPSHOT_SECONDS, snapshot)
            with self._lock:
                if len(self._snapshots) >= MAX_SNAPSHOTS:
                    self._snapshots.clear()
                self._snapshots[user_id] = entry
        return entry[2]


def attach(snapshot: User) -> User:
    """The request session's own copy of a snapshot, for anything that may change the database."""
    session = db.session()
    session.info.setdefault(_ATTACHED, {})[snapshot.id] = snapshot
    return session.merge(snapshot, load=False)


def _reattach(session: Session) -> None:
    """At the start of a write: the users attached in this request were expired by the rollback
    that left the read snapshot, and reloading them (user, department, grants) was a quarter of a
    registration. Under the write lock, each one whose auth_version is still the snapshot's gets
    the snapshot's state back without SQL; one that changed meanwhile reloads as before."""
    attached = session.info.get(_ATTACHED)
    if not attached:
        return
    connection = session.connection()
    for user_id, snapshot in attached.items():
        version = connection.execute(_VERSION_BY_ID, {"user_id": user_id}).scalar()
        if version == snapshot.auth_version:
            session.merge(snapshot, load=False)


_ATTACHED = "lifecycle.attached_users"
db.on_write_begin(_reattach)


def _load_detached(user_id: int) -> User | None:
    with Session(db.engine, expire_on_commit=False) as session:
        user = session.get(User, user_id, options=[joinedload(User.department), selectinload(User.grants)])
        session.expunge_all()
    if user is not None:
        user.__dict__[_SHARED] = True  # not a mapped attribute: merge() leaves it behind
    return user


_SHARED = "_lifecycle_shared_snapshot"


@event.listens_for(Session, "before_attach")
def _refuse_shared_snapshot(_session: Session, instance) -> None:
    """A snapshot serves every request of its process (and every thread): attached to one
    request's session, that session's commit or rollback would expire it for all of them. A
    service that writes is given attach()'s copy (web.current_actor); reaching here is a bug."""
    if instance.__dict__.get(_SHARED):
        raise RuntimeError("a shared user snapshot cannot join a session: pass attach(snapshot)")


_cache = UserCache()


# Built once: these run on every request, and building a statement costs more than running it.
_VERSION_BY_ID = select(User.auth_version).where(User.id == bindparam("user_id"), User.active.is_(True))
_VERSION_BY_TOKEN = (select(User.id, User.auth_version).join(ApiToken, ApiToken.user_id == User.id)
                     .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None),
                            User.active.is_(True)))


def user_by_id(user_id: int, *, copy: bool = True) -> User | None:
    """An active user by id (the session cookie's user), or None: in the request's session, or
    with `copy=False` the shared snapshot itself, for a request that only reads (copying it into
    the session was a twentieth of an item page)."""
    version = db.session.connection().execute(_VERSION_BY_ID, {"user_id": user_id}).scalar()
    snapshot = None if version is None else _cache.snapshot(user_id, version)
    return snapshot if snapshot is None or not copy else attach(snapshot)


def is_shared(user) -> bool:
    return user is not None and user.__dict__.get(_SHARED, False)


def snapshot_by_token_hash(token_hash: str) -> User | None:
    """The shared snapshot of the active user holding an unrevoked API token with this hash, or
    None. Read it; `attach` it before passing it to anything that writes."""
    row = db.session.connection().execute(_VERSION_BY_TOKEN, {"token_hash": token_hash}).first()
    return None if row is None else _cache.snapshot(row.id, row.auth_version)


_names: tuple | None = None  # (engine, good until, names)


def master_names(load) -> dict[str, dict[str, str]]:
    """`load()`'s names of departments and businesses, read again after SNAPSHOT_SECONDS: every
    item page shows them in its event details, and reading them was a twentieth of the page. A
    master renamed in another process shows within that time, as department names in the user
    snapshots do; a change flushed in this one drops the copy at once (below)."""
    global _names
    found = _names
    if found is None or found[0] is not db.engine or found[1] < time.monotonic():
        found = _names = (db.engine, time.monotonic() + SNAPSHOT_SECONDS, load())
    return found[2]


@event.listens_for(Session, "before_flush")
def _forget_master_names(session: Session, _context, _instances) -> None:
    global _names
    if _names is not None and any(isinstance(obj, (Department, Business))
                                  for obj in (*session.new, *session.dirty, *session.deleted)):
        _names = None


@event.listens_for(Session, "before_flush")
def _bump_auth_version(session: Session, _context, _instances) -> None:
    changed: set[User] = set()
    for obj in session.dirty:
        if isinstance(obj, User) and session.is_modified(obj, include_collections=True):
            changed.add(obj)
    for obj in list(session.new) + list(session.deleted):
        if isinstance(obj, RoleGrant):
            user = obj.user
            if user is None and obj.user_id is not None:
                with session.no_autoflush:
                    user = session.get(User, obj.user_id)
            if user is not None and user not in session.new:
                changed.add(user)
    for user in changed:
        user.auth_version = (user.auth_version or 0) + 1
