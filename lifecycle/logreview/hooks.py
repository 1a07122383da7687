"""What the access-log review asks of other domains, in one place.

The checks need three answers that other packages own: whether an operator held an effective role
and a current training on a day (auth/people), which approved terminal use (使用伺い) covered a
moment (terminals), and how to record a finding (findings). Each is looked up here when used, so
this package imports and its tests run while a domain is still being built, and the owning
domain's function replaces the fallback the moment it exists. Nothing is cached across calls.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import select

from ..auth.models import RoleGrant, TrainingRecord, User
from ..extensions import db


def _provided(module: str, name: str):
    """`module.name` when that domain provides it, else None."""
    try:
        found = importlib.import_module(f"lifecycle.{module}")
    except ImportError:
        return None
    return getattr(found, name, None)


# --- role and training on a day -----------------------------------------------------------------

class Standing:
    """Whether each operator held an effective role, and a current training, on a day.

    The people domain's own rule (auth/people: effective roles on a date) is used when it exists
    (`standing_on(login, day) -> (has_role, trained)`); until then the rule is the one SPEC states,
    read from the records: the login is a user who had been granted a role by the end of that day,
    and a training record not withdrawn was completed on or before the day and still valid under
    the policy period (auth.services.training_expires_on)."""

    def __init__(self, logins: Iterable[str]) -> None:
        self.provided = _provided("auth.services", "standing_on") or _provided("people.services", "standing_on")
        self.users: dict[str, tuple[int, list[datetime]]] = {}
        self.training: dict[int, list[tuple[date, date]]] = {}
        if self.provided is not None:
            return
        from ..auth.services import _valid_days, training_expires_on

        logins = sorted(set(logins))
        valid_days = _valid_days()
        for start in range(0, len(logins), 500):
            part = logins[start:start + 500]
            rows = db.session.execute(select(User.id, User.login).where(User.login.in_(part))).all()
            ids = {row.id: row.login for row in rows}
            for row in rows:
                self.users[row.login] = (row.id, [])
            if not ids:
                continue
            for grant in db.session.execute(select(RoleGrant.user_id, RoleGrant.granted_at)
                                            .where(RoleGrant.user_id.in_(list(ids)))):
                self.users[ids[grant.user_id]][1].append(grant.granted_at)
            for record in db.session.execute(
                    select(TrainingRecord.user_id, TrainingRecord.completed_on)
                    .where(TrainingRecord.user_id.in_(list(ids)), TrainingRecord.withdrawn_at.is_(None))):
                self.training.setdefault(record.user_id, []).append(
                    (record.completed_on, training_expires_on(record.completed_on, valid_days)))

    def on(self, login: str, day: date) -> tuple[bool, bool]:
        """(has a role, has a current training) on that JST day."""
        if self.provided is not None:
            has_role, trained = self.provided(login, day)
            return bool(has_role), bool(trained)
        found = self.users.get(login)
        if found is None:
            return False, False
        user_id, grants = found
        # granted_at is naive UTC; the day's end in JST is 15:00 UTC of the same date
        day_end = datetime(day.year, day.month, day.day) + timedelta(hours=15)
        has_role = any(granted <= day_end for granted in grants)
        trained = any(done <= day <= until for done, until in self.training.get(user_id, ()))
        return has_role, trained


# --- approved terminal uses ---------------------------------------------------------------------

def approved_uses(records: Sequence[tuple[str, str, datetime]]) -> list:
    """For each (terminal, operator login, naive UTC moment): the covering approved use or None
    (terminals.queries.approved_uses_at). Without the terminals domain nothing is covered."""
    bulk = _provided("terminals.queries", "approved_uses_at")
    if bulk is not None:
        return bulk(records)
    single = _provided("terminals.queries", "approved_use_at")
    if single is not None:
        return [single(t, op, at) for t, op, at in records]
    return [None] * len(records)


# --- findings -----------------------------------------------------------------------------------

def findings_available() -> bool:
    return _provided("findings.services", "raise_finding") is not None


def raise_finding(actor, *, department_code: str, summary: str, severity: str, due_on: date,
                  refs: list[dict], audit: str | None = None):
    """Records a finding (指摘事項, source アクセスログ点検) through findings.services.raise_finding,
    in the caller's transaction; returns its id, or None while that domain does not exist."""
    raise_ = _provided("findings.services", "raise_finding")
    if raise_ is None:
        return None
    finding = raise_(actor, source="log_review", department_code=department_code, summary=summary,
                     severity=severity, due_on=due_on, refs=refs, audit=audit)
    return finding.id


def department_has_finding(department_id: int, since: date) -> bool:
    """Whether the department has an open finding, or one raised since `since` (any source: SPEC,
    "more for a department that had a finding"); false while the findings domain does not exist."""
    model = _provided("findings.models", "Finding")
    open_states = _provided("findings.services", "OPEN_STATES")
    if model is None or open_states is None:
        return False
    from sqlalchemy import or_

    since_utc = datetime(since.year, since.month, since.day) - timedelta(hours=9)
    return db.session.scalar(select(model.id).where(
        model.department_id == department_id,
        or_(model.status.in_(open_states), model.raised_at >= since_utc)).limit(1)) is not None
