"""The foot of every printed report: organisation, who printed it and when, and the latest
signed audit checkpoint with its signature checked now, so paper can be tied to the log."""
from __future__ import annotations

from flask import current_app

from ..actors import Actor
from ..audit.checkpoints import latest_checkpoint, signature_ok
from ..audit.events import EventType
from ..audit.services import record_event
from ..clock import utcnow
from ..extensions import db
from .render import Checkpoint, Imprint


def latest_printed_checkpoint() -> Checkpoint | None:
    row = latest_checkpoint()
    if row is None:
        return None
    return Checkpoint(seq=row.seq, head=row.head_hash, signed_at=row.created_at,
                      signature_ok=signature_ok(row))


def imprint_for(actor: Actor, printed_by: str | None = None) -> Imprint:
    name = printed_by or actor.name
    return Imprint(current_app.config["ORGANISATION_NAME"], utcnow(), name, latest_printed_checkpoint())


def record_report(actor: Actor, report: str, **details) -> None:
    """A report that leaves the system is an audited read: which report, which filters, how many rows."""
    with db.transaction():
        record_event(EventType.REPORT_GENERATED, actor=actor, subject=f"report:{report}",
                     report=report, **details)
