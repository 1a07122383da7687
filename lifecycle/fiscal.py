"""年度 as the prefecture counts it: April to March, named by the era in force in May."""
from __future__ import annotations

from datetime import date

from . import validation as v
from .clock import today_jst
from .wareki import year_text

YEARS_BACK = 7


def fiscal_year_of(day: date) -> int:
    return day.year if day.month >= 4 else day.year - 1


def fiscal_year_label(year: int) -> str:
    """令和8年度. The era is the one in force in May: FY2019 is 令和元年度, as prefectures write it."""
    return f"{year_text(date(year, 5, 1))}度"


def fiscal_months(year: int) -> list[tuple[int, int]]:
    return [(year, m) for m in range(4, 13)] + [(year + 1, m) for m in range(1, 4)]


def year_choices(today: date | None = None) -> list[tuple[int, str]]:
    current = fiscal_year_of(today or today_jst())
    return [(y, fiscal_year_label(y)) for y in range(current, current - YEARS_BACK, -1)]


def parse_year(value) -> int:
    if value in (None, ""):
        return fiscal_year_of(today_jst())
    return v.integer(value, "年度", minimum=1989, maximum=2200, field="year")
