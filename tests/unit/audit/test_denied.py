"""Refused requests in the audit log: an anonymous flood is counted per address and minute
instead of written event by event (issue 26); a known user's refusals stay one event each."""
import json
import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from lifecycle.audit import services
from lifecycle.audit.events import EventType
from lifecycle.audit.models import AuditEvent, DeniedCount
from lifecycle.audit.services import record_denied, summarise_denied, verify_chain
from lifecycle.extensions import db

MINUTE = datetime(2026, 12, 2, 1, 15)


@pytest.fixture
def clock(monkeypatch):
    """The log's clock, set by the test: `clock.now = …`."""
    class Clock:
        now = MINUTE + timedelta(seconds=5)

    monkeypatch.setattr(services, "utcnow", lambda: Clock.now)
    return Clock


def _denied(address="192.0.2.7", actor=None, path="/api/v1/items"):
    record_denied(actor, path=path, method="GET", reason="unauthenticated", address=address)


def _events(*types: EventType) -> list[dict]:
    rows = db.session.execute(select(AuditEvent.type, AuditEvent.data)
                              .where(AuditEvent.type.in_([t.value for t in types])).order_by(AuditEvent.seq))
    return [{"type": type_, **json.loads(data)} for type_, data in rows]


def test_anonymous_flood_from_one_address_is_counted_not_logged_event_by_event(app, clock):
    for second in range(300):
        clock.now = MINUTE + timedelta(seconds=second / 6)  # 300 refusals within the minute
        _denied()
    assert len(_events(EventType.ACCESS_DENIED, EventType.ACCESS_DENIED_REPEATED)) == 1
    clock.now = MINUTE + timedelta(minutes=1, seconds=1)
    _denied(address="198.51.100.1")  # the next minute's first anonymous refusal, from anyone
    first, summary, other = _events(EventType.ACCESS_DENIED, EventType.ACCESS_DENIED_REPEATED)
    assert first["type"] == "access:denied" and first["addr"] == "192.0.2.7" and first["path"] == "/api/v1/items"
    assert summary == {"type": "access:denied_repeated", "addr": "192.0.2.7",
                       "minute": "2026-12-02T10:15:00+09:00", "repeats": 299}
    assert other["addr"] == "198.51.100.1"
    assert verify_chain().ok


def test_each_address_and_each_minute_has_its_own_first_event(app, clock):
    _denied("192.0.2.7")
    _denied("192.0.2.8")
    _denied("192.0.2.7")
    clock.now += timedelta(minutes=1)
    _denied("192.0.2.7")
    events = _events(EventType.ACCESS_DENIED, EventType.ACCESS_DENIED_REPEATED)
    assert [(e["type"], e["addr"]) for e in events] == [
        ("access:denied", "192.0.2.7"), ("access:denied", "192.0.2.8"),
        ("access:denied_repeated", "192.0.2.7"), ("access:denied", "192.0.2.7")]
    assert events[2]["repeats"] == 1


def test_known_users_refusals_are_one_event_each(app, world, clock):
    for _ in range(3):
        _denied(actor=world["registrar"], path="/admin/users")
    events = _events(EventType.ACCESS_DENIED)
    assert len(events) == 3 and all(e["path"] == "/admin/users" for e in events)
    assert db.session.scalar(select(DeniedCount.address)) is None


def test_summary_job_writes_finished_minutes_once(app, clock):
    for _ in range(4):
        _denied()
    assert summarise_denied() == 0  # the minute is not over yet
    clock.now += timedelta(minutes=1)
    assert summarise_denied() == 1
    assert summarise_denied() == 0
    (summary,) = _events(EventType.ACCESS_DENIED_REPEATED)
    assert summary["repeats"] == 3 and db.session.scalar(select(DeniedCount.address)) is None


def test_refusals_from_several_sessions_share_one_count(app, clock):
    """Each thread has its own connection, as each worker process has: one row counts for all."""
    errors = []

    def worker():
        try:
            with app.app_context():
                for _ in range(25):
                    _denied()
                db.session.remove()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(_events(EventType.ACCESS_DENIED)) == 1
    assert db.session.scalar(select(DeniedCount.repeats)) == 99


def test_anonymous_api_refusals_are_counted_by_the_client_address(client, clock):
    for _ in range(20):
        assert client.get("/api/v1/me").status_code == 401
    (event,) = _events(EventType.ACCESS_DENIED)
    assert event["addr"] == "127.0.0.1" and event["path"] == "/api/v1/me"
    assert db.session.scalar(select(DeniedCount.repeats)) == 19
