"""What devices ask of people: erasure certificates waiting for a security manager other than
the one who submitted them."""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import select

from ..auth.models import User
from ..extensions import db
from ..items.models import Item
from ..notifications.tasks import Task, counted, path, register_task_provider
from ..roles import Role
from ..states import State
from .models import ErasureCertificate


def _waiting_for(user: User):
    if not user.has_role(Role.SECURITY_MANAGER):
        return None
    return (ErasureCertificate.status == State.SUBMITTED.value,
            ErasureCertificate.uploaded_by_id.is_distinct_from(user.id))


def certificates_to_accept(user: User) -> Iterable[Task]:
    conditions = _waiting_for(user)
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
    return counted(ErasureCertificate, _waiting_for(user))


def register() -> None:
    register_task_provider("certificate_to_accept", certificates_to_accept, count=count_certificates_to_accept)
