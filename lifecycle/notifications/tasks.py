"""What waits for a person, computed from the ledger as it is now: nothing is stored, so a task
disappears the moment the thing is done, by whoever did it.

Each kind has a provider, registered like the item sections of panels.py: a domain that adds
something to wait for (findings, stocktakes, terminal uses) registers its own provider from its
init_app. Summaries name codes and numbers, never item titles: a hand-off or a batch may carry
another department's item, and the same text goes into mails.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, Iterable

from flask import current_app
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import aliased

from ..auth.models import Department, User
from ..clock import today_jst
from ..extensions import db
from ..roles import Role
from ..wareki import wareki_date, wareki_datetime

log = logging.getLogger(__name__)

#: Every kind of task, in the order the inbox lists them.
KINDS = ("transfer_to_accept", "batch_to_witness", "certificate_to_accept", "finding_to_answer",
         "finding_to_confirm", "stocktake_due", "terminal_use_to_approve", "training_expiring",
         "purge_failed")

#: Days before the end of the training period from which training_expiring shows.
TRAINING_WARNING_DAYS = 30


@dataclass(frozen=True)
class Task:
    kind: str
    summary: str  #: Japanese, one line; no item titles, no 個人番号
    url: str  #: a path on this site where the person acts

    def to_json(self) -> dict:
        return {"kind": self.kind, "summary": self.summary, "url": self.url}


Provide = Callable[[User], Iterable[Task]]
#: How many tasks of a kind wait: a scalar subquery (counted in SQL with the other kinds), a plain
#: number, or None when the kind cannot concern this person.
Count = Callable[[User], "ColumnElement[int] | int | None"]


@dataclass(frozen=True)
class Provider:
    provide: Provide
    count: Count | None = None


PROVIDERS: dict[str, Provider] = {}


def register_task_provider(kind: str, provide: Provide, *, count: Count | None = None) -> None:
    """A domain adds a kind of task: `provide(user)` yields that user's tasks of this kind, and
    `count(user)`, where given, says how many there are without building them (every page's header
    asks), from the same conditions as `provide`."""
    if kind not in KINDS:
        raise ValueError(f"unknown task kind {kind!r}: add it to KINDS first")
    PROVIDERS[kind] = Provider(provide, count)


def counted(model, conditions) -> ColumnElement[int] | None:
    """The count of a provider whose tasks are the rows of `model` meeting `conditions` (None: none)."""
    if conditions is None:
        return None
    return select(func.count()).select_from(model).where(*conditions).scalar_subquery()


def tasks_for(user) -> list[Task]:
    """What waits for this person now, in the order of KINDS; nothing for an inactive account."""
    if not isinstance(user, User) or not user.active:
        return []
    tasks: list[Task] = []
    for kind in KINDS:
        provider = PROVIDERS.get(kind)
        if provider is not None:
            tasks.extend(provider.provide(user))
    return tasks


def task_count(user) -> int:
    """How many tasks wait for this person, for the header of every page: the kinds that count in
    SQL are summed in one statement, the others count what they provide."""
    if not isinstance(user, User) or not user.active:
        return 0
    total, subqueries = 0, []
    for kind in KINDS:
        provider = PROVIDERS.get(kind)
        if provider is None:
            continue
        if provider.count is None:
            total += sum(1 for _task in provider.provide(user))
            continue
        count = provider.count(user)
        if isinstance(count, int):
            total += count
        elif count is not None:
            subqueries.append(count)
    if subqueries:
        total += sum(db.session.execute(select(*subqueries)).one())
    return total


def path(endpoint: str, **values) -> str:
    """A site path for an endpoint, also outside a request (jobs build the same tasks)."""
    return current_app.url_map.bind("localhost").build(endpoint, values)


# --- the kinds whose domains exist ------------------------------------------------------------

def _transfers_waiting(user: User):
    from ..custody.models import Transfer
    from ..custody.services import CUSTODY_ROLES
    from ..states import State

    if not user.has_role(*CUSTODY_ROLES):
        return None
    return (Transfer.receiver_id == user.id, Transfer.status == State.PENDING.value)


def transfers_to_accept(user: User) -> Iterable[Task]:
    """Hand-offs waiting for this person, read as plain rows."""
    from ..custody.models import Transfer
    from ..items.models import Item

    conditions = _transfers_waiting(user)
    if conditions is None:
        return
    giver_department = aliased(Department)
    rows = db.session.execute(
        select(Transfer.id, Transfer.requested_at, Item.code, User.name, giver_department.name.label("department"))
        .join(Item, Item.id == Transfer.item_id).join(User, User.id == Transfer.giver_id)
        .join(giver_department, giver_department.id == Transfer.giver_department_id)
        .where(*conditions).order_by(Transfer.requested_at, Transfer.id).limit(200))
    for transfer in rows:
        yield Task("transfer_to_accept",
                   f"引継ぎ 第{transfer.id}号（管理番号 {transfer.code}）の受領を待っています"
                   f"（引継ぎ元: {transfer.name}（{transfer.department}）、"
                   f"{wareki_datetime(transfer.requested_at)}）。",
                   path("custody.inbox"))


def count_transfers_to_accept(user: User):
    from ..custody.models import Transfer

    return counted(Transfer, _transfers_waiting(user))


def _batches_waiting(user: User):
    from ..destruction.models import DestructionBatch
    from ..states import State

    if not user.has_role(Role.SECURITY_MANAGER):
        return None
    return (DestructionBatch.status == State.AWAITING_WITNESS.value,
            DestructionBatch.created_by_id.is_distinct_from(user.id))


def batches_to_witness(user: User) -> Iterable[Task]:
    from ..destruction.models import DestructionBatch, DestructionBatchItem

    conditions = _batches_waiting(user)
    if conditions is None:
        return
    items = (select(func.count()).where(DestructionBatchItem.batch_id == DestructionBatch.id)
             .correlate(DestructionBatch).scalar_subquery())
    rows = db.session.execute(select(DestructionBatch.id, DestructionBatch.code, DestructionBatch.planned_on,
                                     items.label("items")).where(*conditions)
                              .order_by(DestructionBatch.id).limit(200))
    for batch in rows:
        planned = f"、予定日 {wareki_date(batch.planned_on)}" if batch.planned_on else ""
        yield Task("batch_to_witness", f"廃棄 {batch.code} の立会いを待っています（{batch.items}件{planned}）。",
                   path("destruction.batch", batch_id=batch.id))


def count_batches_to_witness(user: User):
    from ..destruction.models import DestructionBatch

    return counted(DestructionBatch, _batches_waiting(user))


def _certificates_waiting(user: User):
    from ..devices.models import ErasureCertificate
    from ..states import State

    if not user.has_role(Role.SECURITY_MANAGER):
        return None
    return (ErasureCertificate.status == State.SUBMITTED.value,
            ErasureCertificate.uploaded_by_id.is_distinct_from(user.id))


def certificates_to_accept(user: User) -> Iterable[Task]:
    from ..devices.models import ErasureCertificate
    from ..items.models import Item

    conditions = _certificates_waiting(user)
    if conditions is None:
        return
    rows = db.session.execute(select(ErasureCertificate.id, ErasureCertificate.certificate_no, Item.code)
                              .join(Item, Item.id == ErasureCertificate.item_id).where(*conditions)
                              .order_by(ErasureCertificate.id).limit(200))
    for cert in rows:
        yield Task("certificate_to_accept",
                   f"機器 {cert.code} の消去証明書 No.{cert.id}（証明書番号 {cert.certificate_no}）の確認を待っています。",
                   path("devices.device", code=cert.code))


def count_certificates_to_accept(user: User):
    from ..devices.models import ErasureCertificate

    return counted(ErasureCertificate, _certificates_waiting(user))


def purge_failed(user: User) -> Iterable[Task]:
    """The last run of the 個人番号 purge failed: what purge_health calls "failed", read as the one
    row it depends on, since the header asks this on every page of admins and auditors."""
    from ..mynumber.services import JOB
    from ..scheduler_models import JobRun

    if not user.has_role(Role.ADMIN, Role.AUDITOR):
        return
    last = db.session.execute(select(JobRun.id, JobRun.status, JobRun.started_at).where(JobRun.job == JOB)
                              .order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(1)).first()
    if last is not None and last.status == "failed":
        yield Task("purge_failed",
                   f"個人番号の自動消去が失敗しました（{wareki_datetime(last.started_at)}）。実行状況を確認してください。",
                   path("mynumber.purge_runs"))


def training_expiring(user: User) -> Iterable[Task]:
    """The person's own 研修受講日 is older than the policy's period minus TRAINING_WARNING_DAYS."""
    from ..policy import services as policy

    if user.trained_on is None:
        return
    valid_days = int(policy.get("training.valid_days"))
    expires = user.trained_on + timedelta(days=valid_days)
    if today_jst() >= expires - timedelta(days=TRAINING_WARNING_DAYS):
        when = "が過ぎています" if today_jst() >= expires else "が近づいています"
        yield Task("training_expiring",
                   f"研修の有効期限（{wareki_date(expires)}、受講日 {wareki_date(user.trained_on)} から{valid_days}日）"
                   f"{when}。研修を受講し、システム管理者に受講日の記録を依頼してください。",
                   path("notifications.inbox"))


def register_builtin() -> None:
    register_task_provider("transfer_to_accept", transfers_to_accept, count=count_transfers_to_accept)
    register_task_provider("batch_to_witness", batches_to_witness, count=count_batches_to_witness)
    register_task_provider("certificate_to_accept", certificates_to_accept, count=count_certificates_to_accept)
    register_task_provider("purge_failed", purge_failed)
    register_task_provider("training_expiring", training_expiring)
