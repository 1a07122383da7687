"""Periods as people give and read them: in 時間 or 日, stored as minutes (the API's unit)."""
from __future__ import annotations

from . import validation as v
from .errors import Invalid

#: The units a page offers, with their Japanese word and their length in minutes.
UNITS = {"hours": ("時間", 60), "days": ("日", 1440)}
UNIT_CHOICES = [(key, word) for key, (word, _m) in UNITS.items()]


def text(minutes: int) -> str:
    """3日, 72時間 → 3日; 1日と12時間; minutes only when a value set through the API has them."""
    days, rest = divmod(int(minutes), 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}日" if days else "", f"{hours}時間" if hours else "", f"{mins}分" if mins else ""]
    return "と".join(p for p in parts if p) or "0時間"


def split(minutes: int) -> tuple[int, str]:
    """The amount and unit a form shows for a stored period: days when whole, else hours (rounded up)."""
    if minutes % 1440 == 0:
        return minutes // 1440, "days"
    return -(-minutes // 60), "hours"


def minutes(amount, unit, label: str, *, field: str) -> int:
    """An amount of 時間 or 日 from a form, as minutes."""
    if unit not in UNITS:
        raise Invalid(f"{label}の単位は「時間」か「日」を選んでください。", field=field)
    return v.integer(amount, label, minimum=1, maximum=10**6, field=field) * UNITS[unit][1]
