"""Engine, session and the one transaction helper every state change goes through.

Writes are serialised: SQLite transactions that write queue on a lock file and then start with
BEGIN IMMEDIATE, and PostgreSQL ones take a transaction-scoped advisory lock first. The audit log
is a single hash chain, so its appends are serial anyway; taking the lock at the start instead of
at the append also makes every read inside a write transaction see the latest committed state,
which is what keeps two people from both accepting the same hand-off. Nothing is written outside
transaction(): the session refuses to flush there.
"""
from __future__ import annotations

import contextvars
import enum
import fcntl
import os
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import Enum, MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Arbitrary constant: the advisory lock that serialises writers on PostgreSQL.
WRITE_LOCK_KEY = 0x6C696665

#: Row ids are INTEGER columns, 32 bits on PostgreSQL: a larger number names no row, and
#: PostgreSQL refuses (an error, not "no row") to compare such a column with one.
MAX_ROW_ID = 2**31 - 1


def row_id(value) -> int | None:
    """A row id from a URL, form or JSON value, or None when it can name no row: not a whole
    number, below 1, or past MAX_ROW_ID. Getters answer None with their own "not found"."""
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if 0 < number <= MAX_ROW_ID else None

#: Set in the session's info once a transaction of it committed: an error after that (in the page
#: shown afterwards) must not tell the user that nothing was applied.
COMMITTED = "lifecycle.committed"

_writing: contextvars.ContextVar[bool] = contextvars.ContextVar("lifecycle_writing", default=False)


def _only_inside_transaction(session: Session, _context, _instances) -> None:
    """A change the app's session flushed outside transaction() would be written without its
    audit event (and on PostgreSQL, where reads run in autocommit, committed at once): refuse it."""
    if not _writing.get():
        raise RuntimeError("changes are written only inside db.transaction()")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def enum_column(enum_cls: type[enum.Enum]) -> Enum:
    """Enums are stored by value as plain strings: no native PostgreSQL enum types to migrate."""
    return Enum(enum_cls, native_enum=False, create_constraint=False, length=32,
                values_callable=lambda members: [m.value for m in members])


#: SQLITE_MAX_MMAP_SIZE of SQLite's default build; a larger value is silently cut to it.
SQLITE_MMAP_BYTES = 0x7FFF0000


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        # Driver autocommit: we issue BEGIN ourselves so that writers can say IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Reads through a memory map (the kernel's shared page cache) instead of a read() call
        # per page, up to SQLite's own limit, and a page cache larger than the default 2 MB:
        # seven years of audit events outgrow both.
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.execute("PRAGMA cache_size=-16384")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn):
        # SQLAlchemy's recipe for pysqlite: writers take the write lock at BEGIN, readers don't.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _writing.get() else "BEGIN")


#: A pooled PostgreSQL connection unused for this long is checked with a ping before use.
PING_AFTER_IDLE_SECONDS = 10.0


def _ping_when_idle(engine: Engine) -> None:
    """SQLAlchemy's pool_pre_ping, for connections that sat idle (pinging every checkout
    would add a round trip to every request). A
    connection that dropped while idle (a database restart, a firewall's timeout) is replaced
    before anyone uses it; one that was in use seconds ago is used as it is, and if the database
    went away meanwhile, the first request to find out fails whole (rolled back, the Japanese
    500 page) and SQLAlchemy discards the rest of the pool with it."""

    @event.listens_for(engine, "checkin")
    def on_checkin(_dbapi_connection, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def on_checkout(dbapi_connection, record, _proxy):
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)  # returns True or raises
        except Exception as exc:
            raise DisconnectionError("the pooled connection did not answer") from exc


class WriterLock:
    """Queues SQLite writers of every process of one instance on a lock file before BEGIN IMMEDIATE.

    Without it a writer that finds the database locked polls: SQLite's busy handler sleeps 1, 2,
    5, 10 … up to 100 ms between tries, so under a steady stream of registrations from two worker
    processes a waiting writer kept losing to the other process and a registration took up to
    hundreds of milliseconds. flock() waits in the kernel and wakes the next writer the
    moment the lock is released, so the handler never sleeps; the lock goes with its process if
    that dies. Each thread of each process opens its own descriptor: flock() locks belong to one
    open file, which threads and forked children would otherwise share.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()

    def acquire(self) -> None:
        if getattr(self._local, "pid", None) != os.getpid():
            self._local.fd, self._local.pid = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600), os.getpid()
        fcntl.flock(self._local.fd, fcntl.LOCK_EX)

    def release(self) -> None:
        fcntl.flock(self._local.fd, fcntl.LOCK_UN)


class Database:
    def __init__(self) -> None:
        self.engine: Engine | None = None
        factory = sessionmaker(expire_on_commit=False, autoflush=True)
        event.listen(factory, "before_flush", _only_inside_transaction)
        self.session: scoped_session[Session] = scoped_session(factory)
        self._writer_lock: WriterLock | None = None

    def init_app(self, app) -> None:
        self.setup(app.config["DATABASE_URL"])
        app.teardown_appcontext(lambda _exc: self.session.remove())

    def setup(self, url: str) -> None:
        if self.engine is not None:
            self.session.remove()
            self.engine.dispose()
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
            _configure_sqlite(engine)
            bind = engine
            path = engine.url.database
            self._writer_lock = WriterLock(path + "-writer.lock") if path and path != ":memory:" else None
        else:
            self._writer_lock = None
            engine = create_engine(url, pool_size=10, max_overflow=20)
            _ping_when_idle(engine)
            # The session reads in driver autocommit: a page then costs its queries and nothing
            # else, where a transaction adds a BEGIN and a ROLLBACK round trip to every request.
            # Each statement sees the newest committed data either way (PostgreSQL's default READ
            # COMMITTED takes a fresh snapshot per statement inside a transaction too). Writes get
            # a real transaction in transaction(); the engine itself (migrations, backups) keeps
            # the default.
            bind = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.engine = engine
        self.session.configure(bind=bind)

    @property
    def is_sqlite(self) -> bool:
        return self.engine is not None and self.engine.dialect.name == "sqlite"

    def in_write(self) -> bool:
        return _writing.get()

    def committed(self) -> bool:
        """Whether this request's (or command's) session has committed a change."""
        return bool(self.session().info.get(COMMITTED))

    def forget_commits(self) -> None:
        """At the start of a request: what an earlier one committed is not this one's."""
        self.session().info.pop(COMMITTED, None)

    def autovacuum_off(self) -> bool:
        """Whether this PostgreSQL server runs without autovacuum (never so for SQLite). Every
        write updates the same few rows (the audit chain's head, the item-code counters), and
        unvacuumed their tables keep growing with old versions."""
        if self.is_sqlite:
            return False
        with self.engine.connect() as conn:
            return conn.exec_driver_sql("SHOW autovacuum").scalar() == "off"

    def begin_stream(self) -> None:
        """A read streamed through a PostgreSQL server-side cursor (yield_per) needs a transaction
        around it, which autocommit reads lack: starts one on the session's connection, REPEATABLE
        READ so a long report or export shows one moment. It ends with the session (request
        teardown), as every read's connection is rolled back on return to the pool."""
        if self.is_sqlite or _writing.get():
            return
        from psycopg.pq import TransactionStatus  # PostgreSQL only: SQLite deployments never get here

        connection = self.session().connection()
        if connection.connection.driver_connection.info.transaction_status == TransactionStatus.IDLE:
            connection.exec_driver_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def end_read(self) -> None:
        """Ends the read snapshot (SQLite's read transaction) and keeps what was read loaded: for a
        service that reads after its write, so its caller's next read sees what others wrote
        meanwhile. Nothing may have changed outside transaction(): the flush guard refuses it."""
        if not _writing.get():
            self.session.commit()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """The one write transaction of an action: commit once at the outermost level or roll back."""
        session = self.session()
        if _writing.get():
            yield session  # a service called by another service joins its transaction
            return
        if session.in_transaction():
            session.rollback()  # leave any read snapshot so the write sees the newest data
        token = _writing.set(True)
        lock, locked = self._writer_lock, False
        try:
            if lock is not None:
                lock.acquire()
                locked = True
            if self.is_sqlite:
                session.connection()
            else:
                connection = session.connection(execution_options={"isolation_level": "READ COMMITTED"})
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
            yield session
            session.commit()
            session.info[COMMITTED] = True
        except BaseException:
            session.rollback()
            raise
        finally:
            if locked:
                lock.release()
            _writing.reset(token)
