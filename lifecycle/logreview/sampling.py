"""The draw of a quarter's review: which month per department and which of its records.

Reproducible and unpredictable: everything follows from the seed, the SHA-256 of a signed audit
checkpoint made after the logs were imported, and the published counts. Nobody knows the seed
before the checkpoint is signed (it hashes an Ed25519 signature over the chain head, which
includes the imports), and anyone holding the audit export and the published parameters can
recompute the draw. tools/verify_audit_export.py (`draw`) repeats these functions with the
standard library alone: change both together or neither.
"""
from __future__ import annotations

import hashlib
import heapq
import re

SEED_LABEL = b"lifecycle-logreview-seed"
_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")


def seed_of(message: bytes, signature_hex: str) -> str:
    """The seed: SHA-256 over the checkpoint's signed message and its signature."""
    return hashlib.sha256(SEED_LABEL + b"\x1f" + message + b"\x1f" + signature_hex.encode()).hexdigest()


def parse_quarter(value: str) -> tuple[int, int] | None:
    """'2026Q3' → (2026, 3): calendar quarters (Q3 = July to September)."""
    found = _QUARTER.match(value or "")
    return (int(found.group(1)), int(found.group(2))) if found else None


def quarter_months(quarter: str) -> list[str]:
    year, number = parse_quarter(quarter)
    first = 3 * (number - 1) + 1
    return [f"{year}-{month:02d}" for month in range(first, first + 3)]


def _number(seed: str, *parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join((seed, *parts)).encode()).digest(), "big")


def draw_month(seed: str, quarter: str, department: str) -> str:
    """The month of the quarter drawn for a department (by its code)."""
    months = quarter_months(quarter)
    return months[_number(seed, "month", quarter, department) % len(months)]


def draw_positions(seed: str, department: str, month: str, population: int, size: int) -> list[int]:
    """Which records (0-based positions in the month's records ordered by time, then id) are drawn:
    the `size` positions with the smallest hash, in ascending order."""
    if size >= population:
        return list(range(population))
    chosen = heapq.nsmallest(size, range(population),
                             key=lambda p: (_number(seed, "record", department, month, str(p)), p))
    return sorted(chosen)
