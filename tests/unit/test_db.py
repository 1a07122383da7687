"""The transaction design of lifecycle/db.py: writes only inside transaction(), whole or not at all;
on PostgreSQL reads run in autocommit and streams read one moment."""
import importlib

import pytest
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.pool import NullPool

from lifecycle.audit.events import EventType
from lifecycle.audit.services import record_event, verify_chain
from lifecycle.auth.models import Department
from lifecycle.db import SQLITE_MMAP_BYTES
from lifecycle.extensions import db
from lifecycle.items.models import Item
from tests import factories
from tests.conftest import BACKEND
from lifecycle.actors import SystemActor

postgresql_only = pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL behaviour: checked in the PostgreSQL pass")


def _departments() -> int:
    return db.session.scalar(select(func.count()).select_from(Department))


def test_a_change_outside_a_transaction_is_refused_and_not_written(app):
    before = _departments()
    db.session.add(Department(code="stray", name="迷子の所属"))
    with pytest.raises(RuntimeError, match="db.transaction"):
        db.session.flush()
    db.session.rollback()
    assert _departments() == before


def test_a_write_is_kept_whole_or_not_at_all(app):
    before = _departments()
    with pytest.raises(ZeroDivisionError), db.transaction() as session:
        session.add(Department(code="half", name="途中の所属"))
        session.flush()
        record_event(EventType.ITEM_UPDATED, actor=SystemActor("system:test", "テスト"), subject="half")
        1 / 0
    assert _departments() == before and verify_chain().events == 0
    with db.transaction() as session:
        session.add(Department(code="whole", name="完了した所属"))
        record_event(EventType.ITEM_UPDATED, actor=SystemActor("system:test", "テスト"), subject="whole")
    assert _departments() == before + 1 and verify_chain().events == 1


def _driver_status() -> int:
    return db.session.connection().connection.driver_connection.info.transaction_status


@postgresql_only
def test_reads_open_no_transaction_and_writes_do(app):
    from psycopg.pq import TransactionStatus

    db.session.execute(select(1))
    assert _driver_status() == TransactionStatus.IDLE  # no BEGIN, no ROLLBACK round trips
    with db.transaction() as session:
        session.execute(select(1))
        assert _driver_status() == TransactionStatus.INTRANS
        assert session.execute(text("SHOW transaction_isolation")).scalar() == "read committed"


def _backend_pid() -> int:
    return db.session.connection().connection.driver_connection.info.backend_pid


@postgresql_only
def test_a_pooled_connection_dropped_while_idle_is_replaced_before_use(app, monkeypatch):
    """A database restart or a firewall timeout ends idle connections: the next request gets a
    live one, not an error. Connections used moments ago are not pinged (a round trip per read)."""
    dbmodule = importlib.import_module("lifecycle.db")  # the package exports the Database as "db"

    first = _backend_pid()
    db.session.remove()  # back to the pool
    assert _backend_pid() == first, "the pool hands the same connection back"
    db.session.remove()
    monkeypatch.setattr(dbmodule, "PING_AFTER_IDLE_SECONDS", 0.0)  # every checkin counts as idle
    other = create_engine(db.engine.url, poolclass=NullPool)  # not a connection from the pool
    with other.begin() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    other.dispose()
    assert db.session.execute(select(1)).scalar() == 1
    assert _backend_pid() != first


@postgresql_only
def test_a_stream_reads_one_moment(app, world):
    item = factories.form(world["registrar"], title="元の件名")
    db.session.remove()
    db.begin_stream()
    assert db.session.execute(text("SHOW transaction_isolation")).scalar() == "repeatable read"
    assert db.session.scalar(select(Item.title).where(Item.id == item.id)) == "元の件名"
    with db.engine.begin() as other:  # another request changes it while the report is streaming
        other.execute(update(Item).where(Item.id == item.id).values(title="後の件名"))
    assert db.session.scalar(select(Item.title).where(Item.id == item.id)) == "元の件名"
    db.session.remove()
    assert db.session.scalar(select(Item.title).where(Item.id == item.id)) == "後の件名"


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite behaviour: the lock file queues SQLite writers")
def test_sqlite_writers_wait_on_the_lock_file_and_go_on_when_it_is_released(app):
    import fcntl
    import os
    import threading
    import time

    path = db.engine.url.database + "-writer.lock"
    holder = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another process in the middle of a write
    done = threading.Event()

    def write():
        with app.app_context():
            with db.transaction():
                record_event(EventType.ITEM_UPDATED, actor=SystemActor("system:test", "テスト"), subject="queued")
            db.session.remove()
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert not done.wait(0.5)  # queued behind the holder, not failing and not writing
        assert verify_chain().events == 0
    finally:
        fcntl.flock(holder, fcntl.LOCK_UN)
        os.close(holder)
    start = time.monotonic()
    assert done.wait(10)
    writer.join()
    assert time.monotonic() - start < 1  # woken at once, not after a busy-handler sleep
    db.session.rollback()
    assert verify_chain().events == 1


def test_counters_and_events_move_only_inside_a_transaction(app):
    from lifecycle.items.services import next_number

    with pytest.raises(RuntimeError, match="db.transaction"):
        next_number("F", 2026)
    with pytest.raises(RuntimeError, match="db.transaction"):
        record_event(EventType.ITEM_UPDATED, actor=SystemActor("system:test", "テスト"), subject="stray")
    db.session.rollback()
    assert verify_chain().events == 0
    with db.transaction():
        assert (next_number("F", 2026), next_number("F", 2026)) == (1, 2)


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite connection settings: checked in the SQLite pass")
def test_every_sqlite_connection_gets_the_settings_the_ledger_relies_on(app):
    """WAL and synchronous=NORMAL (the issue's SQLite), foreign keys, waiting for the writer's
    lock, and a memory map over the whole file (a shorter one reads the rest page by page)."""
    with db.engine.connect() as conn:
        setting = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                   for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout", "mmap_size")}
    assert setting == {"journal_mode": "wal", "synchronous": 1, "foreign_keys": 1, "busy_timeout": 30000,
                       "mmap_size": SQLITE_MMAP_BYTES}
