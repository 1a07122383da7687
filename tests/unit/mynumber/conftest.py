"""Helpers for 個人番号 copies: recording through the real service, at a chosen time."""
from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from lifecycle.clock import utcnow
from lifecycle.mynumber import services
from lifecycle.checkdigit import check_digit


def valid_number(seed: int) -> str:
    """A random valid number, unlikely to occur by chance in any file (unlike 123456789018)."""
    rng = random.Random(seed)
    first = str(rng.randint(1, 9)) + "".join(rng.choice("0123456789") for _ in range(10))
    return first + str(check_digit(first))


@pytest.fixture
def clock(monkeypatch):
    """clock.set(dt) freezes the service's notion of now; clock.real() returns to real time."""
    class Clock:
        def set(self, when: datetime) -> datetime:
            monkeypatch.setattr(services, "utcnow", lambda: when)
            return when

        def real(self) -> None:
            monkeypatch.setattr(services, "utcnow", utcnow)

    return Clock()


@pytest.fixture
def record(world, clock):
    """record(minutes=…, ago=timedelta, **fields) → a copy recorded by the bulk operator."""
    def do(*, ago: timedelta | None = None, actor: str = "bulk", **fields):
        data = {"my_number": valid_number(1), "provided_to": "〇〇市 市民課",
                "reason": "附票本人確認情報の再送に備えて"}
        data.update(fields)
        if ago is not None:
            clock.set(utcnow().replace(microsecond=0) - ago)
        try:
            return services.record_copy(world[actor], data)
        finally:
            clock.real()

    return do


def mid_hour() -> datetime:
    """A time well inside an hour, so copies recorded a minute apart share their bucket."""
    now = utcnow().replace(microsecond=0)
    return now.replace(minute=20, second=0) + timedelta(hours=1)
