"""和暦 (Japanese era) formatting for pages, labels and reports."""
from __future__ import annotations

from datetime import date, datetime

from .clock import jst_wall

# (first day of the era in this table, its name, the Western year of its 元年); newest first.
# 明治 is counted from 明治6年1月1日 (1873-01-01), the day Japan adopted the Gregorian calendar:
# before it the months and days were those of the lunisolar calendar, so a Gregorian date of
# 1868–1872 (or before 明治) has no 和暦 month and day and is shown with its Western year.
ERAS = (
    (date(2019, 5, 1), "令和", 2019),
    (date(1989, 1, 8), "平成", 1989),
    (date(1926, 12, 25), "昭和", 1926),
    (date(1912, 7, 30), "大正", 1912),
    (date(1873, 1, 1), "明治", 1868),
)


def era_year(day: date) -> tuple[str, int] | None:
    """("令和", 8) for 2026-11-22; None before 明治6年1月1日."""
    for start, name, first_year in ERAS:
        if day >= start:
            return name, day.year - first_year + 1
    return None


def year_text(day: date) -> str:
    """令和8年, 令和元年; 1872年 before 明治6年."""
    era = era_year(day)
    if era is None:
        return f"{day.year}年"
    name, year = era
    return f"{name}{'元' if year == 1 else year}年"


def wareki_date(value: date | datetime | None) -> str:
    """令和8年11月22日; datetimes are shown in JST."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = jst_wall(value).date()
    return f"{year_text(value)}{value.month}月{value.day}日"


def wareki_datetime(value: datetime | None) -> str:
    """令和8年11月22日 14時05分 (JST)."""
    if value is None:
        return ""
    local = jst_wall(value)
    return f"{wareki_date(local.date())} {local.hour}時{local.minute:02d}分"


def wareki_month(year: int, month: int) -> str:
    """令和8年11月, for monthly statistics."""
    return f"{year_text(date(year, month, 1))}{month}月"
