"""The single-leader scheduler: one lease row, one acting process, jobs recorded as runs."""
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from lifecycle import scheduler
from lifecycle.audit.models import AuditEvent
from lifecycle.clock import utcnow
from lifecycle.extensions import db
from lifecycle.jobs import JOBS, register_job
from lifecycle.scheduler import LeaderScheduler, current_lease, run_job
from lifecycle.scheduler_models import JobRun


@pytest.fixture
def later(monkeypatch):
    """later(seconds) moves the scheduler's clock forward, as if nobody renewed for that long."""
    def move(seconds: float) -> None:
        moved = utcnow() + timedelta(seconds=seconds)
        monkeypatch.setattr(scheduler, "utcnow", lambda: moved)

    return move


@pytest.fixture
def test_job():
    calls = []
    register_job("test_job", "テスト", lambda: calls.append(1) or 1, interval=lambda config: 3600)
    yield calls
    JOBS.pop("test_job", None)


def leader_events() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.type == "scheduler:leader_acquired"))


def test_only_one_of_two_schedulers_holds_the_lease_and_the_other_takes_over(app, later):
    a, b = LeaderScheduler(app), LeaderScheduler(app)
    assert a.holder != b.holder
    assert a.heartbeat() is True
    assert b.heartbeat() is False
    for _ in range(3):  # the holder renews; the other keeps being refused
        assert a.heartbeat() is True
        assert b.heartbeat() is False
    assert current_lease().holder == a.holder
    ttl = a.heartbeat_seconds * 3

    later(ttl - 1)  # a stopped renewing, but the lease has not run out yet
    assert b.heartbeat() is False
    later(ttl + 1)
    assert b.heartbeat() is True
    assert a.heartbeat() is False  # the old holder does not get it back while b renews
    db.session.rollback()
    assert current_lease().holder == b.holder
    assert leader_events() == 2  # each change of leader is audited, renewals are not


def test_concurrent_heartbeats_never_give_two_leaders(app):
    schedulers = [LeaderScheduler(app) for _ in range(2)]
    wins = {s.holder: 0 for s in schedulers}
    barrier = threading.Barrier(2)

    def beat(s):
        barrier.wait()
        for _ in range(15):
            if s.heartbeat():
                wins[s.holder] += 1

    threads = [threading.Thread(target=beat, args=(s,)) for s in schedulers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins.values()) == [0, 15]


def test_jobs_run_only_on_the_leader(app, test_job):
    a, b = LeaderScheduler(app), LeaderScheduler(app)
    assert a.heartbeat() and not b.heartbeat()
    b.run("test_job")
    assert test_job == []
    a.run("test_job")
    assert test_job == [1]
    run = db.session.scalar(select(JobRun).where(JobRun.job == "test_job"))
    assert (run.status, run.processed, run.triggered_by) == ("ok", 1, "system:scheduler")


def test_a_lapsed_leader_runs_nothing(app, test_job, later):
    a = LeaderScheduler(app)
    assert a.heartbeat()
    later(a.heartbeat_seconds * 3 + 1)
    a.run("test_job")
    assert test_job == []


def test_a_failing_job_is_recorded_not_raised(app, caplog):
    def fails():
        raise ValueError("secret detail 123456789018")

    register_job("failing_job", "失敗するジョブ", fails, interval=lambda config: 3600)
    try:
        run = run_job("failing_job")
    finally:
        JOBS.pop("failing_job", None)
    assert run.status == "failed" and run.processed == 0
    assert "ValueError" in run.message and "123456789018" not in run.message


def test_a_failure_listener_writes_with_the_run_and_cannot_lose_it(app, monkeypatch):
    """Listeners run in the transaction that records the failed run, each in a savepoint: what
    one writes commits with the run, and one that fails costs only its own writes."""
    from lifecycle import jobs
    from lifecycle.audit.events import EventType
    from lifecycle.audit.services import record_event

    def writes(run):
        record_event(EventType.SYSTEM_INITIALISED, actor=scheduler.ACTOR, subject="system", revision=f"run {run.id}")

    def breaks(run):
        record_event(EventType.SYSTEM_INITIALISED, actor=scheduler.ACTOR, subject="system", revision="lost")
        raise RuntimeError("listener bug")

    monkeypatch.setattr(jobs, "FAILURE_LISTENERS", [writes, breaks])
    monkeypatch.setattr(scheduler, "FAILURE_LISTENERS", jobs.FAILURE_LISTENERS)
    register_job("failing_job", "失敗するジョブ", lambda: 1 / 0, interval=lambda config: 3600)
    try:
        run = run_job("failing_job")
    finally:
        JOBS.pop("failing_job", None)
    db.session.rollback()
    assert db.session.get(JobRun, run.id).status == "failed"
    revisions = db.session.scalars(select(AuditEvent.data).where(AuditEvent.type == EventType.SYSTEM_INITIALISED.value)).all()
    assert any(f"run {run.id}" in data for data in revisions) and not any("lost" in data for data in revisions)
    from lifecycle.audit.services import verify_chain
    assert verify_chain().ok  # the rolled-back savepoint left no gap and no stale head


def test_the_purge_job_runs_right_after_start_up(app, world):
    """After downtime, whatever fell due is purged at once, without anyone logged in."""
    from lifecycle.mynumber import services

    real = services.utcnow
    services.utcnow = lambda: real() - timedelta(days=4)
    try:
        copy_id = services.record_copy(world["bulk"], {"my_number": "123456789018", "provided_to": "A市",
                                                       "reason": "再送"}).id
    finally:
        services.utcnow = real
    db.session.remove()
    app.config["SCHEDULER_HEARTBEAT_SECONDS"] = 1
    leader = LeaderScheduler(app)
    leader.start()
    try:
        # Every job is due two seconds after start-up and they take turns at the database, so on
        # a busy machine the purge can come well after the others: wait long, leave early.
        deadline = time.time() + 60
        while time.time() < deadline:
            db.session.rollback()
            if db.session.scalar(select(func.count()).select_from(JobRun)
                                 .where(JobRun.job == "mynumber_purge")):
                break
            time.sleep(0.2)
    finally:
        leader.scheduler.shutdown(wait=True)
    db.session.rollback()
    run = db.session.scalar(select(JobRun).where(JobRun.job == "mynumber_purge"))
    assert run is not None, "the purge job did not run after start-up"
    assert (run.status, run.processed, run.triggered_by) == ("ok", 1, "system:scheduler")
    from lifecycle.mynumber.models import MyNumberDeletion
    assert db.session.get(MyNumberDeletion, copy_id).rule == "scheduled"
