"""What the access-log review asks of other domains, in one place.

The checks need three answers that other packages own: whether an operator held an effective role
and a current training on a day (auth/people), which approved terminal use (使用伺い) covered a
moment (terminals), and how to record a finding (findings). Each is looked up here when used, so
this package imports and its tests run while a domain is still being built, and the owning
domain's function replaces the fallback the moment it exists. Nothing is cached across calls.
"""
from __future__ import annotations

import bisect
import importlib
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import select

from ..auth.models import RoleGrant, TrainingRecord, User
from ..extensions import db
from ..terminals.models import Terminal, TerminalUse
from ..auth.services import training_expires_on
from ..policy import services as policy


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
        self.answers: dict[tuple[str, date], tuple[bool, bool]] = {}
        if self.provided is not None:
            return

        logins = sorted(set(logins))
        valid_days = int(policy.get("training.valid_days"))
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
        """(has a role, has a current training) on that JST day (asked once per login and day: a
        chunk of records has few of them)."""
        key = (login, day)
        if key not in self.answers:
            self.answers[key] = self._on(login, day)
        return self.answers[key]

    def _on(self, login: str, day: date) -> tuple[bool, bool]:
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
    """For each (terminal, operator login, naive UTC moment): the covering approved use or None.

    The rule of what a use covers is the terminals domain's (terminals.queries.covering); this reads
    the candidate uses of the records' terminals and span in one statement and matches each record
    only against the uses of its own terminal and operator. (terminals.queries.approved_uses_at
    does the same per terminal but tries every use of the terminal in the span for each record,
    which for a million records was most of the checks' time.) Without the terminals domain
    nothing is covered."""
    covering = _provided("terminals.queries", "covering")
    states = _provided("terminals.queries", "COVERING_STATES")
    if covering is None or states is None or not records:
        return [None] * len(records)
    from sqlalchemy import func


    low = min(at for _t, _o, at in records)
    high = max(at for _t, _o, at in records)
    terminals = sorted({terminal for terminal, _o, _a in records})
    uses: dict[tuple[str, str], list] = {}
    for start in range(0, len(terminals), 500):
        rows = db.session.execute(
            select(TerminalUse.id, TerminalUse.status, TerminalUse.approved_at, TerminalUse.starts_at,
                   TerminalUse.ends_at, TerminalUse.started_at, TerminalUse.ended_at, TerminalUse.user_id,
                   Terminal.code.label("terminal_code"), User.login.label("user_login"))
            .join(Terminal, Terminal.id == TerminalUse.terminal_id).join(User, User.id == TerminalUse.user_id)
            .where(Terminal.code.in_(terminals[start:start + 500]), TerminalUse.status.in_(states),
                   TerminalUse.approved_at.is_not(None),
                   func.coalesce(TerminalUse.started_at, TerminalUse.starts_at) <= high,
                   func.coalesce(TerminalUse.ended_at, TerminalUse.ends_at) >= low)
            .order_by(TerminalUse.approved_at, TerminalUse.id))
        for row in rows:
            uses.setdefault((row.terminal_code, row.user_login), []).append(row)
    # Each operator's uses by start, with the longest one's length: a use covering `at` starts at
    # or before it and no earlier than `at` minus that length, so only those few are tried.
    spans = {}
    for key, found in uses.items():
        found.sort(key=lambda u: (u.started_at or u.starts_at, u.approved_at, u.id))
        starts = [u.started_at or u.starts_at for u in found]
        longest = max((u.ended_at or u.ends_at) - (u.started_at or u.starts_at) for u in found)
        spans[key] = (found, starts, longest)

    def covering_use(terminal: str, operator: str, at: datetime):
        entry = spans.get((terminal, operator))
        if entry is None:
            return None
        found, starts, longest = entry
        first = bisect.bisect_left(starts, at - longest)
        last = bisect.bisect_right(starts, at)
        return next((use for use in found[first:last] if covering(use, at)), None)

    return [covering_use(terminal, operator, at) for terminal, operator, at in records]


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
