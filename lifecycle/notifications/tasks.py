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

from ..auth.models import User
from ..clock import today_jst
from ..extensions import db
from ..wareki import wareki_date

log = logging.getLogger(__name__)

#: Every kind of task, in the order the inbox lists them.
KINDS = ("transfer_to_accept", "custody_to_confirm", "batch_to_witness", "certificate_to_accept",
         "pulping_certificate_to_accept",
         "finding_to_answer", "finding_to_confirm", "stocktake_due", "terminal_use_to_approve",
         "grant_to_approve", "rights_review_due", "log_hits_to_decide", "log_records_to_mark",
         "log_query_to_answer", "training_expiring", "purge_failed")

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


# --- the person's own ----------------------------------------------------------------------------

def training_expiring(user: User) -> Iterable[Task]:
    """The last valid day of the person's latest training (User.training_valid_until, which
    follows the policy's period) is within TRAINING_WARNING_DAYS, or past."""
    expires = user.training_valid_until
    if expires is None:
        return
    if today_jst() >= expires - timedelta(days=TRAINING_WARNING_DAYS):
        when = "が過ぎています" if today_jst() > expires else "が近づいています"
        yield Task("training_expiring",
                   f"研修の有効期限（{wareki_date(expires)}、最後の受講日 {wareki_date(user.trained_on)}）"
                   f"{when}。研修を受講し、システム管理者に受講の記録を依頼してください。",
                   path("notifications.inbox"))


def register_builtin() -> None:
    register_task_provider("training_expiring", training_expiring)
