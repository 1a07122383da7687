"""Time in one place: the database stores naive UTC, people see Japan Standard Time."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

_JST_OFFSET = timedelta(hours=9)  # Japan has kept no summer time since 1951
JST = timezone(_JST_OFFSET, "JST")


def utcnow() -> datetime:
    """Naive UTC, the form every DateTime column stores (SQLite keeps no offset)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def to_jst(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(JST)


def to_utc_naive(value: datetime) -> datetime:
    """Accepts aware values (any offset) or naive ones taken as JST, as people type them."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=JST)
    return value.astimezone(timezone.utc).replace(tzinfo=None)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with the +09:00 offset, as docs/api.md promises."""
    if value is None:
        return None
    return jst_wall(value).isoformat(timespec="seconds") + "+09:00"


def jst_wall(value: datetime) -> datetime:
    """The JST wall-clock time of a value, naive: for formatting. A stored (naive UTC) value takes
    one addition where converting between time zones took three times as long, on every time an
    item page or its JSON shows."""
    if value.tzinfo is None:
        return value + _JST_OFFSET
    return value.astimezone(JST).replace(tzinfo=None)


def today_jst() -> date:
    return to_jst(utcnow()).date()


def jst_day_start_utc(day: date) -> datetime:
    """The UTC instant at which a JST calendar day begins, for date-range filters."""
    return to_utc_naive(datetime(day.year, day.month, day.day))


def fiscal_year(day: date) -> int:
    """年度: April to March, named by the year it starts in."""
    return day.year if day.month >= 4 else day.year - 1
