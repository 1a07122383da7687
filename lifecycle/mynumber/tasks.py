"""What a failed 個人番号 purge asks of admins and auditors: a task in their inbox and header, and
an urgent mail once per failed run (in the transaction that records the run, or by the queue job
for a run that no job recorded, such as a manual one)."""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlalchemy import select

from ..auth.models import User
from ..extensions import db
from ..jobs import on_job_failure
from ..notifications import services as mail
from ..notifications.tasks import Task, path, register_task_provider
from ..roles import Role
from ..scheduler_models import JobRun
from ..wareki import wareki_datetime
from .services import JOB

WATCHERS = (Role.ADMIN, Role.AUDITOR)


def _last_run():
    return db.session.execute(select(JobRun.id, JobRun.job, JobRun.status, JobRun.started_at)
                              .where(JobRun.job == JOB)
                              .order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(1)).first()


def purge_failed(user: User) -> Iterable[Task]:
    """The last run of the purge failed: what purge_health calls "failed", read as the one row it
    depends on, since the header asks this on every page of admins and auditors."""
    if not user.has_role(*WATCHERS):
        return
    last = _last_run()
    if last is not None and last.status == "failed":
        yield Task("purge_failed",
                   f"個人番号の自動消去が失敗しました（{wareki_datetime(last.started_at)}）。実行状況を確認してください。",
                   path("mynumber.purge_runs"))


def queue_purge_failure(run) -> int:
    """Urgent mails to admins and auditors about a failed purge run; once per run and person."""
    if run.job != JOB or run.status != "failed" or not mail.mail_enabled():
        return 0
    queued = 0
    with db.transaction() as session:
        for user in mail.with_role(*WATCHERS):
            if not user.has_role(*WATCHERS) or not mail.mailable(user, urgent=True):
                continue
            body = mail.compose(user.name, [
                "個人番号の自動消去が失敗しました。消去予定時刻を過ぎた個人番号が残っている可能性があります。",
                "実行状況を確認し、原因を取り除いてから再実行してください。", "",
                f"   {mail.base_url()}{path('mynumber.purge_runs')}"])
            queued += mail.queue_mail(session, kind="purge_failed", dedupe_key=f"purge_failed:{run.id}:{user.id}",
                                      user=user, subject=f"{mail.SUBJECT_PREFIX}至急: 個人番号の自動消去が失敗しました",
                                      body=body)
    return queued


def queue_if_last_run_failed(now: datetime | None = None) -> int:
    last = _last_run()
    return queue_purge_failure(last) if last is not None and last.status == "failed" else 0


def register() -> None:
    register_task_provider("purge_failed", purge_failed)
    on_job_failure(queue_purge_failure)
    mail.register_urgent_mail(queue_if_last_run_failed)
