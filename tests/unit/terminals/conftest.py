"""A terminal of 税務課 (the demo's registrar and security2 work there), and uses of it."""
from __future__ import annotations

from datetime import timedelta

import pytest

from lifecycle.clock import to_jst, utcnow
from lifecycle.terminals import services


def at(delta: timedelta) -> str:
    """A moment relative to now, as a person types it (JST, no offset)."""
    return to_jst(utcnow() + delta).replace(tzinfo=None).isoformat(timespec="minutes")


def ask(actor, *, start=timedelta(hours=-1), end=timedelta(hours=1), terminal="ZEIMU-CS01", **extra):
    """A request for today around now unless told otherwise (kept within one JST day)."""
    now = to_jst(utcnow())
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    begins, ends = now + start, now + end
    if begins < midnight <= ends:  # a window across midnight keeps to today
        begins = midnight + timedelta(minutes=1)
    if begins <= midnight + timedelta(hours=23, minutes=59) < ends:
        ends = midnight + timedelta(hours=23, minutes=59)
    start, end = begins - now, ends - now
    data = {"terminal": terminal, "business": "car-tax", "starts_at": at(start), "ends_at": at(end),
            "purpose": "課税台帳の照会", **extra}
    return services.request_use(actor, data)


@pytest.fixture
def terminal(world):
    return services.register_terminal(world["admin"], {"code": "zeimu-cs01", "department": "zeimu",
                                                       "location": "税務課 執務室 窓際", "name": "CS端末1号機"})
