"""The automatic checks run on every imported record, not only the sample.

Each hit is a candidate finding (CheckHit) the reviewer confirms or dismisses with a reason. The
checks read an import's records in id order, CHUNK at a time, look up what they need for the
chunk in a few statements (operators' roles and training, the terminals' approved uses, the forms
output from the terminals around those times), decide in memory, and write the chunk's hits with
one Core insert: a million records take a few hundred statements.
"""
from __future__ import annotations

import bisect
from collections import defaultdict
from datetime import date, datetime, timedelta

import jpholiday
from sqlalchemy import select

from ..actors import Actor
from ..audit.events import EventType
from ..audit.services import record_event
from ..clock import utcnow
from ..extensions import db
from ..items.models import Item
from ..policy import services as policy
from ..states import Kind
from ..wareki import wareki_date
from . import hooks
from .imports import bulk_insert
from .models import AccessRecord, CheckHit, LogImport
from ..terminals.services import normalise_code

HIT_COLUMNS = ("record_id", "rule", "detail", "department_id", "status")

CHECKS = {
    "no_role": "有効な権限のない操作者",
    "no_training": "研修の有効期間外の操作者",
    "no_approval": "承認された使用伺いのない操作",
    "unregistered_output": "帳票の登録がない出力",
    "off_hours": "夜間・休日の操作",
}
CHUNK = 20_000
_JST = timedelta(hours=9)


class _Calendar:
    """Working hours and days (policy hours; weekends, 祝日 from jpholiday, 12/29–1/3 閉庁日)."""

    def __init__(self) -> None:
        self.start = int(policy.get("logreview.work_start_hour"))
        self.end = int(policy.get("logreview.work_end_hour"))
        self.days: dict[date, str | None] = {}

    def closed(self, day: date) -> str | None:
        if day not in self.days:
            if day.weekday() >= 5:
                self.days[day] = "土曜日" if day.weekday() == 5 else "日曜日"
            elif (day.month, day.day) in ((12, 29), (12, 30), (12, 31), (1, 1), (1, 2), (1, 3)):
                self.days[day] = "年末年始の閉庁日"
            else:
                name = jpholiday.is_holiday_name(day)
                self.days[day] = f"祝日（{name}）" if name else None
        return self.days[day]

    def why(self, local: datetime) -> str | None:
        closed = self.closed(local.date())
        if closed:
            return f"{closed}の操作（{local.hour}時{local.minute:02d}分）"
        if local.hour < self.start or local.hour >= self.end:
            return f"執務時間（{self.start}時〜{self.end}時）外の操作（{local.hour}時{local.minute:02d}分）"
        return None


def _outputs_by_terminal(records: list, window: timedelta) -> dict[str, list[datetime]]:
    """Output times of the forms registered from the terminals that printed in these records."""
    wanted = [at for _id, at, _terminal, _operator, operation, *_rest in records if operation == "output"]
    if not wanted:
        return {}
    low, high = min(wanted) - window, max(wanted) + window

    found: dict[str, list[datetime]] = defaultdict(list)
    rows = db.session.execute(select(Item.terminal, Item.output_at).where(
        Item.kind == Kind.FORM, Item.output_at.is_not(None), Item.terminal.is_not(None),
        Item.output_at >= low, Item.output_at <= high))
    for terminal, output_at in rows:
        found[normalise_code(terminal)].append(output_at)
    for times in found.values():
        times.sort()
    return found


def _hits(records: list, calendar: _Calendar, window: timedelta) -> list[tuple]:
    """The hits of a chunk of records, each a row of (id, accessed_at, terminal, operator,
    operation, records, department_id), unpacked by position: at a million records, reading
    columns by name was a fifth of the checks' time."""
    standing = hooks.Standing(operator for _id, _at, _terminal, operator, *_rest in records)
    covered = hooks.approved_uses([(terminal, operator, at) for _id, at, terminal, operator, *_rest in records])
    outputs = _outputs_by_terminal(records, window)
    minutes = int(window.total_seconds() // 60)
    hits = []
    for (record_id, at, terminal, operator, operation, count, department_id), use in zip(records, covered):
        local = at + _JST
        day = local.date()
        found = []
        has_role, trained = standing.on(operator, day)
        if not has_role:
            found.append(("no_role", f"操作者ID {operator} は{wareki_date(day)}に権限を持つ利用者ではありません。"))
        elif not trained:
            found.append(("no_training", f"操作者ID {operator} の研修は{wareki_date(day)}に有効ではありません。"))
        if use is None:
            found.append(("no_approval", f"端末 {terminal} の{wareki_date(day)} {local.hour}時{local.minute:02d}分の"
                                         "操作を含む承認済みの使用伺いがありません。"))
        if operation == "output":
            times = outputs.get(terminal, [])
            index = bisect.bisect_left(times, at - window)
            if index >= len(times) or times[index] > at + window:
                found.append(("unregistered_output", f"端末 {terminal} からの出力（{count:,}件）に対応する"
                                                     f"帳票が、前後{minutes}分以内に登録されていません。"))
        why = calendar.why(local)
        if why:
            found.append(("off_hours", why))
        hits.extend((record_id, rule, detail[:300], department_id, "candidate") for rule, detail in found)
    return hits


def run_checks(actor: Actor, import_id: int) -> dict[str, int]:
    """Runs every check over an import's records once (an import already checked is left as it
    is) and records how many hits each check found."""
    log_import = db.session.get(LogImport, import_id, populate_existing=True)
    if log_import is None or log_import.completed_at is None or log_import.checked_at is not None:
        return {}
    calendar = _Calendar()
    window = timedelta(minutes=int(policy.get("logreview.output_match_minutes")))
    counts = dict.fromkeys(CHECKS, 0)
    last_id = 0
    # in the order _hits unpacks them
    columns = (AccessRecord.id, AccessRecord.accessed_at, AccessRecord.terminal, AccessRecord.operator,
               AccessRecord.operation, AccessRecord.records, AccessRecord.department_id)
    while True:
        records = db.session.execute(select(*columns).where(AccessRecord.import_id == import_id,
                                                            AccessRecord.id > last_id)
                                     .order_by(AccessRecord.id).limit(CHUNK)).all()
        db.end_read()
        if not records:
            break
        last_id = records[-1].id
        hits = _hits(records, calendar, window)
        for found in hits:
            counts[found[1]] += 1
        if hits:
            with db.transaction() as session:
                bulk_insert(session, CheckHit.__tablename__, HIT_COLUMNS, hits)
    with db.transaction() as session:
        log_import = session.get(LogImport, import_id, populate_existing=True)
        if log_import.checked_at is not None:  # checked meanwhile by someone else: keep theirs
            return counts
        log_import.checked_at = utcnow()
        record_event(EventType.ACCESS_LOG_CHECKED, actor=actor, subject=f"access-log:{import_id}",
                     rows=log_import.rows, hits=counts)
    return counts
