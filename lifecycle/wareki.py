"""和暦 (Japanese era) formatting for pages, labels and reports."""
from __future__ import annotations

from datetime import date, datetime

from .clock import jst_wall

# (first day of the era, name); newest first.
ERAS = (
    (date(2019, 5, 1), "令和"),
    (date(1989, 1, 8), "平成"),
    (date(1926, 12, 25), "昭和"),
    (date(1912, 7, 30), "大正"),
    (date(1873, 1, 1), "明治"),
)


def era_year(day: date) -> tuple[str, int]:
    for start, name in ERAS:
        if day >= start:
            return name, day.year - start.year + 1
    raise ValueError("明治6年より前の日付は和暦で表せません")


def _year_text(day: date) -> str:
    name, year = era_year(day)
    return f"{name}{'元' if year == 1 else year}年"


def wareki_date(value: date | datetime | None) -> str:
    """令和8年11月22日; datetimes are shown in JST."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = jst_wall(value).date()
    return f"{_year_text(value)}{value.month}月{value.day}日"


def wareki_datetime(value: datetime | None) -> str:
    """令和8年11月22日 14時05分 (JST)."""
    if value is None:
        return ""
    local = jst_wall(value)
    return f"{wareki_date(local.date())} {local.hour}時{local.minute:02d}分"


def wareki_month(year: int, month: int) -> str:
    """令和8年11月, for monthly statistics."""
    return f"{_year_text(date(year, month, 1))}{month}月"
