"""Reading what a keyboard-wedge barcode reader (or a person) typed into the scan box."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from lifecycle.audit.events import EventType
from lifecycle.audit.models import AuditEvent
from lifecycle.errors import Forbidden
from lifecycle.items.schemas import label_payload
from lifecycle.labels.services import LabelForged, ScanInput, parse_scan, resolve_label, verify_payload
from tests.factories import form

PAYLOAD = "F-2026-000123.AbC-def_GHI12345"


@pytest.mark.parametrize("typed,expected", [
    (f"http://lifecycle.test/s/{PAYLOAD}", ScanInput(payload=PAYLOAD)),
    (f"https://x.example.lg.jp:8443/app/s/{PAYLOAD}?utm=1#top", ScanInput(payload=PAYLOAD)),
    (f"  {PAYLOAD}\r\n", ScanInput(payload=PAYLOAD)),
    # a US-layout reader on a JIS keyboard: ":" → "+", "_" → "="
    (f"http+//lifecycle.test/s/{PAYLOAD.replace('_', '=')}", ScanInput(payload=PAYLOAD)),
    # IME in full-width mode
    ("".join(chr(ord(c) + 0xFEE0) for c in PAYLOAD), ScanInput(payload=PAYLOAD)),
    ("f-2026-000123", ScanInput(code="F-2026-000123")),
    ("Ｆ－２０２６－０００１２３", ScanInput(code="F-2026-000123")),
    ("", ScanInput()), (None, ScanInput()), ("\x00\x1b", ScanInput()),
])
def test_parse_scan(typed, expected):
    assert parse_scan(typed) == expected


def test_genuine_payload_resolves_even_with_caps_lock(app, world):
    item = form(world["registrar"])
    payload = label_payload(item.code)
    assert verify_payload(payload) == item.code
    assert verify_payload(payload.swapcase()) == item.code
    assert resolve_label(world["registrar"], payload.swapcase()).code == item.code


@pytest.mark.parametrize("tamper", [
    lambda p: p[:-1] + ("A" if p[-1] != "A" else "B"),  # one character of the tag
    lambda p: p.replace("000001", "000002"),  # another item's code, same tag
    lambda p: p.split(".")[0],  # no tag at all
    lambda p: p.split(".")[0] + ".",
    lambda p: "." + p,
    lambda p: p + "x" * 200,
])
def test_a_tampered_payload_is_forged_and_audited(app, world, tamper):
    item = form(world["registrar"])
    form(world["registrar"])
    bad = tamper(label_payload(item.code))
    with pytest.raises(LabelForged) as info:
        resolve_label(world["registrar"], bad)
    assert info.value.status == 404 and info.value.extra == {"genuine": False}
    assert "偽造または改変されたラベル" in info.value.message
    from lifecycle.extensions import db
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.type == EventType.LABEL_FORGED.value))
    assert event is not None and event.actor == "registrar"
    assert event.subject in (item.code, "F-" + item.code[2:].replace("000001", "000002"), "label")


def test_a_genuine_label_of_another_department_is_forbidden(app, world):
    item = form(world["registrar"])
    with pytest.raises(Forbidden):
        resolve_label(world["registrar2"], label_payload(item.code))
