"""What destruction asks of people: batches waiting for a witness other than their creator."""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import func, select

from ..auth.models import User
from ..extensions import db
from ..notifications.tasks import Task, counted, path, register_task_provider
from ..roles import Role
from ..states import State
from ..wareki import wareki_date
from .models import DestructionBatch, DestructionBatchItem


def _waiting_for(user: User):
    if not user.has_role(Role.SECURITY_MANAGER):
        return None
    return (DestructionBatch.status == State.AWAITING_WITNESS.value,
            DestructionBatch.created_by_id.is_distinct_from(user.id))


def batches_to_witness(user: User) -> Iterable[Task]:
    conditions = _waiting_for(user)
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
    return counted(DestructionBatch, _waiting_for(user))


def register() -> None:
    register_task_provider("batch_to_witness", batches_to_witness, count=count_batches_to_witness)
