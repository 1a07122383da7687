"""What destruction asks of people: batches waiting for a witness other than their creator, and
溶解証明書 waiting for a security manager other than the one who attached them."""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import func, select

from ..auth.models import User
from ..extensions import db
from ..files import StoredFile
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


def _certificates_for(user: User):
    """The conditions of DestructionBatch.certificate_to_accept, less those this user attached
    (accept_pulping_certificate refuses them)."""
    if not user.has_role(Role.SECURITY_MANAGER):
        return None
    theirs = select(StoredFile.id).where(StoredFile.uploaded_by_id.is_distinct_from(user.id))
    return (DestructionBatch.method == "pulp", DestructionBatch.status == State.COMPLETED.value,
            DestructionBatch.certificate_accepted_at.is_(None), DestructionBatch.certificate_id.in_(theirs))


def pulping_certificates_to_accept(user: User) -> Iterable[Task]:
    conditions = _certificates_for(user)
    if conditions is None:
        return
    rows = db.session.execute(select(DestructionBatch.id, DestructionBatch.code, DestructionBatch.witnessed_at)
                              .where(*conditions).order_by(DestructionBatch.id).limit(200))
    for batch in rows:
        yield Task("pulping_certificate_to_accept",
                   f"廃棄 {batch.code}（{wareki_date(batch.witnessed_at)} 溶解立会い）の溶解証明書の受理を待っています。",
                   path("destruction.batch", batch_id=batch.id))


def count_pulping_certificates_to_accept(user: User):
    return counted(DestructionBatch, _certificates_for(user))


def register() -> None:
    register_task_provider("batch_to_witness", batches_to_witness, count=count_batches_to_witness)
    register_task_provider("pulping_certificate_to_accept", pulping_certificates_to_accept,
                           count=count_pulping_certificates_to_accept)
