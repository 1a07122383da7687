"""Scheduled jobs with exactly one acting process.

Every process that serves also runs an APScheduler instance, but only the holder of the lease row
in the database runs jobs; it renews the lease on a heartbeat, and when it dies another process
takes the lease after it expires. A database row, not a file lock, so it works across servers.
"""
from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime, timedelta, timezone

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select

from .audit.events import EventType
from .audit.services import record_event
from .actors import SCHEDULER as ACTOR
from .clock import utcnow
from .extensions import db
from .jobs import FAILURE_LISTENERS, JOBS
from .scheduler_models import JobRun, SchedulerLease

log = logging.getLogger(__name__)
LEASE = "main"


def run_job(name: str, *, triggered_by: str = ACTOR.login) -> JobRun:
    """Runs one job now and records the run; a failure is recorded, not raised."""
    job = JOBS[name]
    started = utcnow()
    try:
        processed, status, message = job.func() or 0, "ok", None
    except Exception as exc:  # a failed run must be visible on the status page, not lost
        db.session.rollback()
        log.error("job %s failed: %s", name, type(exc).__name__, exc_info=exc)
        processed, status, message = (getattr(exc, "processed", 0), "failed",
                                      f"{type(exc).__name__}: 実行中にエラーが発生しました。")
    with db.transaction() as session:
        run = JobRun(job=name, started_at=started, finished_at=utcnow(), status=status,
                     processed=processed, triggered_by=triggered_by, message=message)
        session.add(run)
        session.flush()
        if status == "failed":
            _tell_failure(session, run)
    return run


def _tell_failure(session, run: JobRun) -> None:
    """Each listener in a savepoint: one that fails must not cost the record of the run."""
    for listener in FAILURE_LISTENERS:
        try:
            with session.begin_nested():
                listener(run)
        except Exception as exc:
            log.error("job failure listener %s failed: %s", getattr(listener, "__name__", listener),
                      type(exc).__name__, exc_info=exc)


def last_runs(name: str, limit: int = 20) -> list[JobRun]:
    return list(db.session.scalars(select(JobRun).where(JobRun.job == name)
                                   .order_by(JobRun.started_at.desc()).limit(limit)))


def acquire_lease(holder: str, ttl_seconds: int) -> bool:
    """Takes or renews the lease; True while this holder is the leader."""
    with db.transaction() as session:
        now = utcnow()
        lease = session.get(SchedulerLease, LEASE)
        if lease is not None and lease.holder != holder and lease.expires_at > now:
            return False
        if lease is None:
            lease = SchedulerLease(name=LEASE, holder=holder, acquired_at=now, expires_at=now)
            session.add(lease)
            changed = True
        else:
            changed = lease.holder != holder
            if changed:
                lease.holder, lease.acquired_at = holder, now
        lease.expires_at = now + timedelta(seconds=ttl_seconds)
        if changed:
            record_event(EventType.SCHEDULER_LEADER, actor=ACTOR, subject="scheduler", holder=holder)
        return True


def holds_lease(holder: str) -> bool:
    lease = db.session.get(SchedulerLease, LEASE)
    db.session.rollback()
    return lease is not None and lease.holder == holder and lease.expires_at > utcnow()


def current_lease() -> SchedulerLease | None:
    return db.session.get(SchedulerLease, LEASE)


class LeaderScheduler:
    def __init__(self, app) -> None:
        self.app = app
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.heartbeat_seconds = int(app.config["SCHEDULER_HEARTBEAT_SECONDS"])
        self.scheduler = BackgroundScheduler(timezone=timezone.utc)

    def heartbeat(self) -> bool:
        with self.app.app_context():
            try:
                return acquire_lease(self.holder, self.heartbeat_seconds * 3)
            except Exception as exc:
                log.warning("scheduler heartbeat failed: %s", type(exc).__name__)
                return False

    def run(self, name: str) -> None:
        with self.app.app_context():
            if holds_lease(self.holder):
                run_job(name)

    def start(self) -> None:
        now = datetime.now(timezone.utc)
        self.scheduler.add_job(self.heartbeat, "interval", seconds=self.heartbeat_seconds,
                               next_run_time=now, id="heartbeat", coalesce=True, max_instances=1)
        for job in JOBS.values():
            # First run right after start-up: whatever fell due while we were down is done at once.
            self.scheduler.add_job(self.run, "interval", args=[job.name], id=job.name,
                                   seconds=job.interval(self.app.config),
                                   next_run_time=now + timedelta(seconds=2),
                                   coalesce=True, max_instances=1, misfire_grace_time=None)
        self.scheduler.start()
        log.info("scheduler started as %s with jobs: %s", self.holder, ", ".join(JOBS) or "(none)")

    def shutdown(self) -> None:
        self.scheduler.shutdown(wait=False)


def init_app(app) -> None:
    app.extensions["scheduler"] = None


def start(app) -> LeaderScheduler:
    scheduler = LeaderScheduler(app)
    scheduler.start()
    app.extensions["scheduler"] = scheduler
    return scheduler
