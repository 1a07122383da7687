"""Property: whatever a client sends, register_item either registers exactly one item (with its
event) or raises a DomainError and leaves no row and no audit event behind. Never anything else."""
from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from lifecycle.audit.models import AuditEvent
from lifecycle.clock import today_jst
from lifecycle.errors import DomainError
from lifecycle.extensions import db
from lifecycle.items.models import Item
from lifecycle.items.services import register_item

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

KEYS = ["kind", "title", "business", "sheets", "contains_my_number", "location", "terminal",
        "output_at", "media_type", "record_count", "recipient", "encrypted", "due_back",
        "device_type", "asset_tag", "model", "serial", "lessor", "lease_contract", "lease_start",
        "lease_end", "has_storage", "holds_my_number_data", "code", "status", "holder"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**20, max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=300),
    st.sampled_from(["form", "medium", "device", "car-tax", "passport", "CD-R", "USB", "ＭＯ",
                     "業務端末", "2026-01-01", "9999-12-31", "0001-01-01", "2026-02-30",
                     "2026-11-22T10:00:00+09:00", "0001-01-01T00:00:00+14:00", "true", "off",
                     "\x00", "\u202e", "🙂" * 50, "a" * 201]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) |
                      st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)
arbitrary = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=10), values, max_size=12)


def counts() -> tuple[int, int]:
    return (db.session.scalar(select(func.count()).select_from(Item)),
            db.session.scalar(select(func.count()).select_from(AuditEvent)))


def check(actor, data) -> None:
    before = counts()
    try:
        item = register_item(actor, data)
    except DomainError as exc:
        assert exc.message and isinstance(exc.message, str)
        assert 400 <= exc.status < 500
        db.session.rollback()
        assert counts() == before, "a refused registration left something behind"
    else:
        items, events = counts()
        assert items == before[0] + 1 and events == before[1] + 1
        assert item.code and item.status in ("registered", "in_service")


@pytest.mark.parametrize("who", ["registrar", "bulk"])
def test_arbitrary_dicts_are_registered_or_refused_cleanly(world, who):
    actor = world[who]

    @SETTINGS
    @given(data=arbitrary | st.one_of(st.none(), st.lists(values, max_size=2), st.text(max_size=5)))
    def run(data):
        check(actor, data)

    run()


def _near_valid(kind: str):
    """Valid requests with one field replaced by anything: explores the edges of each rule."""
    due = (today_jst() + timedelta(days=7)).isoformat()
    base = {
        "form": {"kind": "form", "title": "帳票", "business": "car-tax", "sheets": 2, "location": "書庫"},
        "medium": {"kind": "medium", "title": "媒体", "business": "passport", "media_type": "CD-R",
                   "record_count": 10, "recipient": "教育委員会", "encrypted": True, "due_back": due},
        "device": {"kind": "device", "title": "端末", "device_type": "業務端末", "asset_tag": "A-1",
                   "model": "M", "serial": "S-1", "lessor": "L", "lease_contract": "C",
                   "lease_start": "2021-04-01", "lease_end": "2027-03-31", "location": "市町課"},
    }[kind]
    return st.tuples(st.sampled_from(sorted(base)), values).map(lambda kv: {**base, kv[0]: kv[1]})


@pytest.mark.parametrize("kind", ["form", "medium", "device"])
def test_one_bad_field_never_escapes_as_anything_but_a_domain_error(world, kind):
    actor = world["bulk"] if kind != "form" else world["registrar"]

    @SETTINGS
    @given(data=_near_valid(kind))
    def run(data):
        check(actor, data)

    run()


def test_text_fields_keep_what_was_accepted(world):
    """Accepted titles come back exactly as stored: trimmed, NFC, no control characters."""
    import unicodedata

    @SETTINGS
    @given(title=st.text(min_size=1, max_size=220))
    def run(title):
        try:
            item = register_item(world["registrar"], {"kind": "form", "title": title, "business": "car-tax",
                                                      "sheets": 1})
        except DomainError:
            db.session.rollback()
            return
        stored = db.session.scalar(select(Item.title).where(Item.id == item.id))
        assert stored == unicodedata.normalize("NFC", title).strip()
        assert 0 < len(stored) <= 200 and not any(ord(c) < 32 for c in stored)

    run()
