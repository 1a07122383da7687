"""Finding 個人番号 stored in clear before free text was checked (validation.text): where in the
audit log and in the other tables one appears, by row and column, never the number itself.

Every text column of every table is read, so a table or column added later is covered without
a change here. Rows are read in batches by primary key, each batch its own short read, so that
seven years of audit events neither fill memory nor hold one snapshot open for the whole scan.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

from sqlalchemy import String, Table, select, tuple_

from ..audit.models import AuditEvent
from ..db import Base
from ..extensions import db
from ..items.models import Item
from ..jsonout import loads_event_data
from ..checkdigit import contains_number

BATCH = 1000
#: SHA-256 digests, signatures and token hashes the system writes: hex with digit runs that are
#: no one's number, and a run of 12 digits in one passes the check digit one time in ten.
_DIGEST = re.compile(r"(?=.*[a-f])[0-9a-f]{32,}")
#: Columns that name a row better than its primary key, when they do not hold a number themselves.
_NAMES = ("code", "login")


@dataclass(frozen=True)
class Hit:
    """A place holding what may be a 個人番号: `event 12 (F-2026-000001): data.title`."""
    row: str
    column: str

    def __str__(self) -> str:
        return f"{self.row}: {self.column}"


def _suspect(value) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return isinstance(value, str) and not _DIGEST.fullmatch(value) and contains_number(value)


def _holds_number(value) -> bool:
    """Whether a value read from an event's JSON holds a suspect string or number anywhere inside."""
    pending = [value]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif _suspect(value):
            return True
    return False


def _batches(table: Table, columns: list) -> Iterator:
    """The table's rows (primary key, then `columns`) in key order, BATCH at a time."""
    key = list(table.primary_key.columns)
    query = select(*key, *columns).order_by(*key).limit(BATCH)
    last = None
    while True:
        statement = query if last is None else query.where(
            key[0] > last[0] if len(key) == 1 else tuple_(*key) > tuple_(*last))
        rows = db.session.execute(statement).all()
        db.end_read()
        yield from rows
        if len(rows) < BATCH:
            return
        last = tuple(rows[-1])[:len(key)]


def _events() -> Iterator[Hit]:
    table = AuditEvent.__table__
    for seq, actor, subject, data in _batches(table, [table.c.actor, table.c.subject, table.c.data]):
        row = f"event {seq}" if _suspect(subject) or not subject else f"event {seq} ({subject})"
        if _suspect(actor):
            yield Hit(row, "actor")
        if _suspect(subject):
            yield Hit(row, "subject")
        parsed = loads_event_data(data)
        for key, value in (parsed.items() if isinstance(parsed, dict) else [("", parsed)]):
            if _holds_number(value):
                yield Hit(row, f"data.{key}" if key else "data")


def _row_names() -> dict[str, str]:
    """Table name → the singular its mapped class gives (`transfers` → `transfer`)."""
    return {mapper.local_table.name: re.sub(r"(?<!^)(?=[A-Z])", "_", mapper.class_.__name__).lower()
            for mapper in Base.registry.mappers}


def _rows(table: Table, noun: str) -> Iterator[Hit]:
    texts = [c for c in table.c if isinstance(c.type, String) and not c.primary_key]
    if not texts:
        return
    item_id = table.c.get("item_id")
    extra = [item_id] if item_id is not None else []
    width = len(table.primary_key.columns)
    for row in _batches(table, texts + extra):
        values = dict(zip((c.name for c in texts), row[width:]))
        columns = [name for name, value in values.items() if _suspect(value)]
        if not columns:
            continue
        name = next((values[n] for n in _NAMES if values.get(n) and n not in columns), None)
        label = f"{noun} {name or '/'.join(str(part) for part in row[:width])}"
        if extra and row[-1] is not None:
            label += f" ({db.session.scalar(select(Item.code).where(Item.id == row[-1]))})"
        for column in columns:
            yield Hit(label, column)


def find_stored_numbers() -> Iterator[Hit]:
    """Every place in the database that holds what may be a 個人番号: audit events first, then
    each other table's text columns."""
    yield from _events()
    nouns = _row_names()
    for table in Base.metadata.sorted_tables:
        if table is not AuditEvent.__table__:
            yield from _rows(table, nouns.get(table.name, table.name))
