"""Temporarily retained 個人番号 copies: record, show masked, reveal with a reason, purge.

The number exists in plaintext only in the request that records it and in the response to a
reveal. It is stored sealed under a data key that lives outside the database (keystore.py);
purging deletes the row and then, once no live copy needs it, the key — after which no earlier
copy of the database can be read either.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from flask import current_app
from sqlalchemy import and_, func, literal, select

from .. import checkdigit, durations, validation as v
from ..actors import Actor, SCHEDULER as SCHEDULER_ACTOR
from ..audit.events import EventType
from ..audit.services import actor_name, record_event
from ..roles import require_role, Role
from ..clock import iso, utcnow
from ..db import row_id
from ..errors import Conflict, Forbidden, Gone, Invalid, NotFound
from ..extensions import db
from ..policy import services as policy
from ..scheduler import current_lease, last_runs
from ..scheduler_models import JobRun
from ..states import INITIAL, Kind, State, allowed, transition
from ..wareki import wareki_datetime
from .keystore import (
    KeyDestroyed,
    KeyStore,
    TamperedCiphertext,
    bucket_of,
    bucket_range,
)
from .models import MyNumberCopy, MyNumberDeletion

log = logging.getLogger(__name__)

JOB = "mynumber_purge"
JOB_LABEL = "個人番号の自動消去"
RULES = {"scheduled": "定期消去（自動）", "manual": "手動実行", "early": "早期消去（依頼）"}
VIEWERS = (Role.BULK_OPERATOR, Role.SECURITY_MANAGER, Role.AUDITOR, Role.ADMIN)
#: A batch holds the write lock for about this long; the size adapts to the machine.
BATCH_TARGET_SECONDS = 0.25
BATCH_START, BATCH_MIN, BATCH_MAX = 5_000, 1_000, 40_000
#: Between batches the lock is let go for a moment so that waiting writers get their turn.
BATCH_PAUSE_SECONDS = 0.01
COUNT_CAP = 10_000
#: Purges at least this large are followed by a VACUUM on PostgreSQL.
VACUUM_AFTER = 50_000

_copies = MyNumberCopy.__table__
_deletions = MyNumberDeletion.__table__


def keystore() -> KeyStore:
    store = current_app.extensions.get("mynumber_keystore")
    if store is None or str(store.instance_path) != current_app.instance_path:
        store = current_app.extensions["mynumber_keystore"] = KeyStore(current_app.instance_path)
    return store


def rule_label(rule: str) -> str:
    return RULES.get(rule, rule)


# ---------------------------------------------------------------- recording and reading


def _retain_minutes(data: dict) -> int:
    """The period from the API (`retain_minutes`) or the page (`retain_amount` in 時間 or 日)."""
    maximum = policy.get("mynumber.max_minutes")
    if "retain_amount" in data:  # the page: a person thinks in hours and days
        if data.get("retain_amount") in (None, ""):
            return min(policy.get("mynumber.default_minutes"), maximum)
        minutes = durations.minutes(data.get("retain_amount"), data.get("retain_unit"), "保存期間",
                                    field="retain_amount")
        if minutes > maximum:
            raise Invalid(f"保存期間は上限の{durations.text(maximum)}以内で指定してください（保存期間ポリシー）。",
                          code="invalid_retain_minutes", field="retain_amount")
        return minutes
    value = data.get("retain_minutes")
    if value is None or value == "":
        return min(policy.get("mynumber.default_minutes"), maximum)
    minutes = v.integer(value, "保存期間（分）", minimum=-10**9, maximum=10**9, field="retain_minutes")
    if minutes < 1 or minutes > maximum:
        raise Invalid(f"保存期間は1分以上、上限の{maximum}分（{durations.text(maximum)}）以内で指定してください"
                      "（保存期間ポリシー）。", code="invalid_retain_minutes", field="retain_minutes")
    return minutes


def _duration_text(minutes: int) -> str:
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}日" if days else "", f"{hours}時間" if hours else "", f"{mins}分" if mins else ""]
    return "".join(parts) or "0分"


def record_copy(actor: Actor, data: dict) -> MyNumberCopy:
    """Keeps a 個人番号 sealed until purge_after (policy default; never beyond the policy maximum)."""
    with db.transaction() as session:
        require_role(actor, Role.BULK_OPERATOR,
                     message="個人番号の一時保存は、市町課の一括利用担当のみが行えます。")
        if not actor.is_system and not actor.department.is_system_owner:
            raise Forbidden("個人番号の一時保存は、市町課の一括利用担当のみが行えます。")
        if not isinstance(data, dict):
            raise Invalid("登録内容が正しくありません。")
        errors = v.FieldErrors()  # every refused field at once, each beside its field
        number = errors.check("my_number", checkdigit.validate, data.get("my_number"))
        provided_to = errors.check("provided_to", v.text, data.get("provided_to"), "提供先", max_len=200,
                                   field="provided_to")
        reason = errors.check("reason", v.text, data.get("reason"), "保存の理由", max_len=500, field="reason",
                              multiline=True)
        minutes = errors.check("retain_minutes", _retain_minutes, data)
        errors.raise_any()
        now = utcnow().replace(microsecond=0)
        purge_after = now + timedelta(minutes=minutes)
        bucket = bucket_of(purge_after)
        copy = MyNumberCopy(status=INITIAL[Kind.MY_NUMBER_COPY].value, masked=checkdigit.mask(number),
                            provided_to=provided_to, reason=reason, retain_minutes=minutes,
                            recorded_by=actor_name(actor),
                            recorded_by_id=actor.id,
                            department=None if actor.is_system else actor.department.code,
                            created_at=now, purge_after=purge_after, key_bucket=bucket, ciphertext=b"")
        session.add(copy)
        session.flush()  # the id is part of the associated data
        # The key file is created here, under the write lock, so a concurrent sweep cannot remove it.
        copy.ciphertext = keystore().encrypt(copy.id, bucket, number)
        session.flush()
        record_event(EventType.MY_NUMBER_RETAINED, actor=actor, subject=copy.audit_subject,
                     provided_to=provided_to, reason=reason, retain_minutes=minutes,
                     purge_after=iso(purge_after))
        return copy


def _gone(deletion: MyNumberDeletion) -> Gone:
    return Gone(f"この個人番号（一時保存 第{deletion.copy_id}号）は{wareki_datetime(deletion.purged_at)}に"
                f"消去されています（{rule_label(deletion.rule)}）。復元することはできません。",
                code="purged", purged_at=iso(deletion.purged_at))


def _copy_id(value) -> int:
    number = row_id(value)
    if number is None:
        raise NotFound("指定された個人番号の一時保存はありません。", code="unknown_copy")
    return number


def _live_copy(copy_id) -> MyNumberCopy:
    copy_id = _copy_id(copy_id)
    copy = db.session.get(MyNumberCopy, copy_id)
    if copy is not None:
        return copy
    deletion = db.session.get(MyNumberDeletion, copy_id)
    if deletion is not None:
        raise _gone(deletion)
    raise NotFound(f"個人番号の一時保存 第{copy_id}号はありません。", code="unknown_copy")


def get_copy(actor: Actor, copy_id) -> MyNumberCopy:
    """A live copy (masked fields only); 410 with the purge time once it is gone."""
    require_role(actor, *VIEWERS, message="個人番号の一時保存を表示する権限がありません。")
    return _live_copy(copy_id)


def get_deletion(actor: Actor, copy_id) -> MyNumberDeletion | None:
    require_role(actor, *VIEWERS, message="個人番号の一時保存を表示する権限がありません。")
    return db.session.get(MyNumberDeletion, _copy_id(copy_id))


def capped_count(where=None, cap: int = COUNT_CAP) -> int:
    """Counts copies up to cap + 1: an exact count of a million rows would cost a page a second on
    PostgreSQL, and "more than 10,000" is all a person needs to know."""
    # Newest ids first: a running purge deletes from the oldest up, so the live rows are found
    # without walking past the dead ones it leaves behind (PostgreSQL keeps them until VACUUM).
    query = select(_copies.c.id).order_by(_copies.c.id.desc())
    if where is not None:
        query = query.where(where)
    return db.session.scalar(select(func.count()).select_from(query.limit(cap + 1).subquery())) or 0


def count_text(count: int) -> str:
    return f"{COUNT_CAP:,}件以上" if count > COUNT_CAP else f"{count:,}件"


def list_copies(actor: Actor, *, page: int = 1, per_page: int = 50) -> tuple[list[MyNumberCopy], int]:
    """One page of live copies, soonest purge first, and their count (capped, see capped_count)."""
    require_role(actor, *VIEWERS, message="個人番号の一時保存を表示する権限がありません。")
    total = capped_count()
    # In id order (= order of recording, so roughly of purge time too): a running purge leaves its
    # dead rows as an id prefix that readers skip cheaply; see _purge_batch.
    rows = db.session.scalars(select(MyNumberCopy).order_by(MyNumberCopy.id)
                              .limit(per_page).offset((max(page, 1) - 1) * per_page))
    return list(rows), total


def list_deletions(actor: Actor, *, limit: int = 20) -> list[MyNumberDeletion]:
    require_role(actor, *VIEWERS, message="個人番号の一時保存を表示する権限がありません。")
    return list(db.session.scalars(select(MyNumberDeletion)
                                   .order_by(MyNumberDeletion.purged_at.desc(),
                                             MyNumberDeletion.copy_id.desc()).limit(limit)))


def reveal_copy(actor: Actor, copy_id, reason) -> str:
    """The number in clear, for a re-send; the reveal (who, when, why — never the number) is audited
    in the same transaction, so there is no reveal without its event."""
    with db.transaction():
        require_role(actor, Role.SECURITY_MANAGER,
                     message="個人番号の表示は、セキュリティ管理者のみが行えます。")
        reason = v.text(reason, "表示の理由", max_len=500, field="reason", multiline=True)
        copy = _live_copy(copy_id)
        try:
            number = keystore().decrypt(copy.id, copy.key_bucket, copy.ciphertext)
        except KeyDestroyed:
            raise Gone("この個人番号の復号鍵は既に破棄されているため、表示できません。",
                       code="key_destroyed", purged_at=None) from None
        except TamperedCiphertext:
            log.error("mynumber copy %s: ciphertext does not verify", copy.id)
            raise Conflict("保存データの整合性が確認できないため表示できません。システム管理者に連絡してください。",
                           code="integrity_failed") from None
        record_event(EventType.MY_NUMBER_REVEALED, actor=actor, subject=copy.audit_subject,
                     reason=reason)
        return number


def purge_copy(actor: Actor, copy_id, reason) -> MyNumberDeletion:
    """Early purge on request: the row goes now, the bucket key as soon as no live copy needs it."""
    with db.transaction() as session:
        require_role(actor, Role.BULK_OPERATOR, Role.SECURITY_MANAGER,
                     message="個人番号の早期消去は、一括利用担当またはセキュリティ管理者のみが行えます。")
        reason = v.text(reason, "消去の理由", max_len=500, field="reason", multiline=True)
        copy = _live_copy(copy_id)
        transition(copy, State.PURGED, actor=actor, event=EventType.MY_NUMBER_PURGED, rule="early",
                   reason=reason)
        deletion = MyNumberDeletion(copy_id=copy.id, created_at=copy.created_at,
                                    purge_after=copy.purge_after, purged_at=utcnow(), rule="early",
                                    purged_by=actor_name(actor), recorded_by=copy.recorded_by,
                                    provided_to=copy.provided_to, department=copy.department,
                                    purge_reason=reason)
        bucket = copy.key_bucket
        session.add(deletion)
        session.delete(copy)
        session.flush()
    sweep_keys({bucket})
    return deletion


# ---------------------------------------------------------------- purging


@dataclass
class PurgeResult:
    as_of: datetime
    rule: str
    purged: int = 0
    batches: list[tuple[int, float]] = field(default_factory=list)  #: (rows, seconds holding the lock)
    keys_destroyed: int = 0

    @property
    def max_lock_seconds(self) -> float:
        return max((s for _, s in self.batches), default=0.0)


def _purge_batch(actor: Actor, cutoff: datetime, after_id: int, limit: int, rule: str) -> tuple[int, int, int, float]:
    """One id range of due copies: deletion records, the delete and one audit event, one commit.
    Returns how many, the first and last id, and how long the write lock was held (to the commit)."""
    with db.transaction() as session:
        locked = time.perf_counter()
        due = and_(_copies.c.purge_after <= cutoff, _copies.c.status == State.RETAINED.value)
        ids = (select(_copies.c.id).where(_copies.c.id > after_id, due)
               .order_by(_copies.c.id).limit(limit).subquery())
        first, last, count = session.execute(
            select(func.min(ids.c.id), func.max(ids.c.id), func.count()).select_from(ids)).one()
        if not count:
            return 0, after_id, after_id, 0.0
        in_range = and_(_copies.c.id >= first, _copies.c.id <= last, due)
        kept = (_copies.c.id, _copies.c.created_at, _copies.c.purge_after, _copies.c.recorded_by,
                _copies.c.provided_to, _copies.c.department)
        columns = ["copy_id", "created_at", "purge_after", "recorded_by", "provided_to", "department",
                   "purged_at", "rule", "purged_by"]
        stamp = (literal(utcnow(), _deletions.c.purged_at.type), literal(rule, _deletions.c.rule.type),
                 literal(actor_name(actor), _deletions.c.purged_by.type))
        if session.get_bind().dialect.name == "postgresql":
            # One pass: WITH gone AS (DELETE … RETURNING …) INSERT INTO deletions SELECT … FROM gone.
            gone = _copies.delete().where(in_range).returning(*kept).cte("gone")
            written = (_deletions.insert().from_select(columns, select(*gone.c, *stamp))
                       .returning(_deletions.c.copy_id).cte("written"))
            deleted = session.scalar(select(func.count()).select_from(written))
        else:
            session.execute(_deletions.insert().from_select(columns, select(*kept, *stamp).where(in_range)))
            deleted = session.execute(_copies.delete().where(in_range)).rowcount
        record_event(EventType.MY_NUMBER_PURGED, actor=actor, subject="mynumber:batch", rule=rule,
                     count=deleted, first_id=first, last_id=last, as_of=iso(cutoff))
    return deleted, first, last, time.perf_counter() - locked


def purge_due(actor: Actor, *, as_of: datetime | None = None, rule: str = "scheduled",
              result: PurgeResult | None = None) -> PurgeResult:
    """Purges every copy whose purge_after ≤ as_of; as_of before now counts as now (early, never late).

    Id-ranged batches, each its own short transaction, so the web app keeps answering; safe to run
    twice or concurrently (a copy is deleted once, its deletion record written in the same commit).
    """
    if rule not in RULES:
        raise ValueError(rule)
    # Bulk rows never pass through transition() one by one; the move they make must still be legal.
    if State.PURGED not in allowed(Kind.MY_NUMBER_COPY, State.RETAINED):
        raise RuntimeError("the state machine no longer allows retained → purged")
    now = utcnow()
    cutoff = max(as_of or now, now)
    result = result or PurgeResult(as_of=cutoff, rule=rule)
    result.as_of = cutoff
    size, after_id = BATCH_START, 0
    postgresql = db.engine.dialect.name == "postgresql"
    while True:
        count, first_id, after_id, elapsed = _purge_batch(actor, cutoff, after_id, size, rule)
        if not count:
            break
        result.purged += count
        result.batches.append((count, elapsed))
        if postgresql:
            _step_over_dead_rows(first_id)
        if elapsed > BATCH_TARGET_SECONDS * 1.3:
            size = max(BATCH_MIN, int(size * BATCH_TARGET_SECONDS / elapsed))
        elif elapsed < BATCH_TARGET_SECONDS * 0.7 and count == size:
            size = min(BATCH_MAX, int(size * min(2.0, BATCH_TARGET_SECONDS / max(elapsed, 0.01))))
        time.sleep(BATCH_PAUSE_SECONDS)
    if result.purged >= VACUUM_AFTER and postgresql:
        _vacuum()  # first, so that the sweep's look-ups do not step over the dead rows either
    result.keys_destroyed = sweep_keys()
    if result.purged:
        log.info("mynumber purge (%s): %d copies in %d batches, %d key files destroyed", rule,
                 result.purged, len(result.batches), result.keys_destroyed)
    return result


def _step_over_dead_rows(first_id: int) -> None:
    """PostgreSQL keeps deleted rows until VACUUM, and the first index scan that meets them pays for
    checking each one. Walking the batch's stretch of the id index once (outside the lock) marks
    its entries dead, so a page reading copies in id order never meets a million at once."""
    db.session.execute(select(_copies.c.id).where(_copies.c.id >= first_id)
                       .order_by(_copies.c.id).limit(1)).first()
    db.session.rollback()


def _vacuum() -> None:
    """After a large purge on PostgreSQL: reclaims the dead rows at once instead of leaving every
    reader to step over them until autovacuum comes round. Never fatal: the purge is done."""
    db.session.rollback()  # our own open snapshot would keep the dead rows alive
    try:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {_copies.name}")
    except Exception as exc:
        log.warning("VACUUM after purge failed: %s", type(exc).__name__)


def sweep_keys(buckets: set[str] | None = None) -> int:
    """Destroys the key files of buckets without a live copy. Runs after every purge commit, so a
    crash between a commit and the unlink is healed by the next run."""
    store = keystore()
    candidates = store.buckets() if buckets is None else {b for b in buckets if store.has_key(b)}
    if not candidates:
        return 0
    destroyed = 0
    with db.transaction() as session:  # the write lock: no copy can be recorded into a bucket meanwhile
        for bucket in sorted(candidates):
            start, end = bucket_range(bucket)
            live = session.execute(select(_copies.c.id).where(
                _copies.c.purge_after >= start, _copies.c.purge_after < end,
                _copies.c.key_bucket == bucket).limit(1)).first()
            if live is None and store.destroy(bucket):
                destroyed += 1
    return destroyed


def scheduled_purge() -> int:
    """The scheduler's job (scheduler.run_job records the run). Each batch commits on its own, so
    a run that fails midway has purged some copies: the failure carries how many, for the run."""
    result = PurgeResult(as_of=utcnow(), rule="scheduled")
    try:
        purge_due(SCHEDULER_ACTOR, rule="scheduled", result=result)
    except Exception as exc:
        exc.processed = result.purged
        raise
    return result.purged


def run_purge(actor: Actor, *, as_of: datetime | None = None, rule: str = "manual") -> tuple[PurgeResult, JobRun]:
    """A purge by hand (CLI, admin page), recorded as a run of the purge job like a scheduled one."""
    started = utcnow()
    result = PurgeResult(as_of=as_of or started, rule=rule)
    status, message, error = "ok", None, None
    try:
        purge_due(actor, as_of=as_of, rule=rule, result=result)
    except Exception as exc:  # recorded as a failed run, then raised to the caller
        db.session.rollback()
        log.error("manual mynumber purge failed: %s", type(exc).__name__, exc_info=exc)
        status, message, error = "failed", f"{type(exc).__name__}: 実行中にエラーが発生しました。", exc
    with db.transaction() as session:
        run = JobRun(job=JOB, started_at=started, finished_at=utcnow(), status=status,
                     processed=result.purged, triggered_by=actor_name(actor), message=message)
        session.add(run)
        session.flush()
    if error is not None:
        raise error
    return result, run


# ---------------------------------------------------------------- health


@dataclass(frozen=True)
class PurgeHealth:
    now: datetime
    interval_seconds: int
    status: str  #: ok / never / failed / stale / overdue
    alert: bool
    message: str  #: Japanese, for the dashboard and the exceptions report
    last_run: JobRun | None
    last_success_at: datetime | None
    next_run_at: datetime | None
    live_copies: int
    overdue_copies: int  #: copies more than two intervals past purge_after
    scheduler_holder: str | None

    def to_json(self) -> dict:
        return {"status": self.status, "alert": self.alert, "message": self.message,
                "interval_seconds": self.interval_seconds,
                "last_run_at": iso(self.last_run.started_at) if self.last_run else None,
                "last_run_status": self.last_run.status if self.last_run else None,
                "last_success_at": iso(self.last_success_at), "next_run_at": iso(self.next_run_at),
                "live_copies": self.live_copies, "overdue_copies": self.overdue_copies}


def purge_health(now: datetime | None = None, interval_seconds: int | None = None) -> PurgeHealth:
    """Whether purging is happening: an alert when the last run failed, when no run succeeded for
    more than two intervals, or when copies are that far past their purge time."""
    now = now or utcnow()
    interval = int(interval_seconds or current_app.config["PURGE_INTERVAL_SECONDS"])
    threshold = now - timedelta(seconds=2 * interval)
    last = db.session.scalar(select(JobRun).where(JobRun.job == JOB, JobRun.started_at <= now)
                             .order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(1))
    last_ok = db.session.scalar(select(func.max(JobRun.finished_at)).where(
        JobRun.job == JOB, JobRun.status == "ok", JobRun.started_at <= now))
    last_scheduled = db.session.scalar(select(func.max(JobRun.started_at)).where(
        JobRun.job == JOB, JobRun.triggered_by == SCHEDULER_ACTOR.login, JobRun.started_at <= now))
    live = capped_count()
    overdue = capped_count(_copies.c.purge_after < threshold)
    lease = current_lease()
    holder = lease.holder if lease is not None and lease.expires_at > now else None
    next_run = _next_run(now, interval, last_scheduled, holder)

    minutes = max(1, round(2 * interval / 60))
    if last is not None and last.status == "failed":
        status, alert = "failed", True
        message = (f"個人番号の自動消去が失敗しました（{wareki_datetime(last.started_at)}）。"
                   f"{last.message or ''} システム管理者は実行状況を確認してください。")
    elif last_ok is None and overdue == 0:
        status, alert = "never", False
        message = "個人番号の自動消去はまだ実行されていません。"
    elif last_ok is None or last_ok < threshold:
        status, alert = "stale", True
        since = f"最後に成功した実行: {wareki_datetime(last_ok)}" if last_ok else "成功した実行はありません"
        message = (f"個人番号の自動消去が{minutes}分以上実行されていません（{since}）。"
                   "スケジューラ（lifecycle serve）が動いているか確認してください。")
    elif overdue:
        status, alert = "overdue", True
        message = f"消去予定時刻を{minutes}分以上過ぎた個人番号が{count_text(overdue)}残っています。"
    else:
        status, alert = "ok", False
        message = "個人番号の自動消去は正常に実行されています。"
    if overdue and status in ("failed", "stale"):
        message += f"消去予定時刻を過ぎた個人番号が{count_text(overdue)}残っています。"
    return PurgeHealth(now=now, interval_seconds=interval, status=status, alert=alert, message=message,
                       last_run=last, last_success_at=last_ok, next_run_at=next_run, live_copies=live,
                       overdue_copies=overdue, scheduler_holder=holder)


def _next_run(now: datetime, interval: int, last_scheduled: datetime | None, holder: str | None):
    """From this process's scheduler if it is the leader, else estimated from the last scheduled run."""
    scheduler = current_app.extensions.get("scheduler")
    if scheduler is not None and holder == getattr(scheduler, "holder", None):
        job = scheduler.scheduler.get_job(JOB)
        if job is not None and job.next_run_time is not None:
            return job.next_run_time.astimezone(timezone.utc).replace(tzinfo=None)
    if holder is None:
        return None  # no scheduler holds the lease: nothing will run until one starts
    if last_scheduled is None:
        return now
    return max(last_scheduled + timedelta(seconds=interval), now)


def recent_runs(actor: Actor, limit: int = 50) -> list[JobRun]:
    require_role(actor, Role.ADMIN, Role.AUDITOR, message="自動消去の実行状況は、システム管理者と監査担当が確認できます。")
    return last_runs(JOB, limit)


def countdown(purge_after: datetime, now: datetime | None = None) -> str:
    """あと2日3時間 — how long the copy is still kept."""
    remaining = purge_after - (now or utcnow())
    seconds = int(remaining.total_seconds())
    if seconds <= 0:
        return "消去待ち（次回の自動消去で消去されます）"
    minutes = (seconds + 59) // 60
    if minutes >= 1440:
        minutes -= minutes % 60  # days and hours are enough at that distance
    return "あと" + _duration_text(minutes)
