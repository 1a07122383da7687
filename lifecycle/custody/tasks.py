"""What custody asks of people: hand-offs to accept (the inbox and every page's header), and an
urgent mail to the receiver when one has waited more than a day."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import aliased

from ..auth.models import Department, User
from ..clock import utcnow
from ..extensions import db
from ..items.models import Item
from ..notifications import services as mail
from ..notifications.tasks import Task, counted, path, register_task_provider
from ..states import State
from ..wareki import wareki_datetime
from .models import Transfer
from .services import CUSTODY_ROLES

URGENT_AFTER = timedelta(days=1)


def _waiting_for(user: User):
    if not user.has_role(*CUSTODY_ROLES):
        return None
    return (Transfer.receiver_id == user.id, Transfer.status == State.PENDING.value)


def transfers_to_accept(user: User) -> Iterable[Task]:
    """Hand-offs waiting for this person, read as plain rows."""
    conditions = _waiting_for(user)
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
    return counted(Transfer, _waiting_for(user))


def queue_waiting_transfers(now: datetime | None = None) -> int:
    """Urgent mails to receivers of hand-offs pending for more than a day; once per hand-off."""
    cutoff = (now or utcnow()) - URGENT_AFTER
    waiting = list(db.session.scalars(select(Transfer).where(Transfer.status == State.PENDING.value,
                                                             Transfer.requested_at <= cutoff).order_by(Transfer.id)))
    waiting = [t for t in waiting if mail.mailable(t.receiver, urgent=True)]
    if not waiting:
        return 0
    queued = 0
    with db.transaction() as session:
        for transfer in waiting:
            user = transfer.receiver
            body = mail.compose(user.name, [
                f"引継ぎ 第{transfer.id}号（管理番号 {transfer.item.code}）が1日以上、あなたの受領を待っています。",
                f"引継ぎ元: {transfer.giver.name}（{transfer.giver_department.name}）", "",
                "現物を確認して受領するか、差し戻してください。", f"   {mail.base_url()}{path('custody.inbox')}"])
            queued += mail.queue_mail(session, kind="transfer_waiting", dedupe_key=f"transfer_waiting:{transfer.id}",
                                      user=user, subject=f"{mail.SUBJECT_PREFIX}至急: 引継ぎ 第{transfer.id}号の受領待ち",
                                      body=body)
    return queued


def register() -> None:
    register_task_provider("transfer_to_accept", transfers_to_accept, count=count_transfers_to_accept)
    mail.register_urgent_mail(queue_waiting_transfers)
