"""Printing labels as a clerk does: a half-used sheet, the layout remembered, a clear word when
nothing is ticked, and labels of destroyed or returned things only with their mark."""
from __future__ import annotations

import io
import re

from pypdf import PdfReader
from sqlalchemy import select

from lifecycle.audit.events import EventType
from lifecycle.audit.models import AuditEvent
from lifecycle.extensions import db
from lifecycle.labels.layouts import get_layout
from lifecycle.labels.render import LabelData, render_labels
from lifecycle.seeds import load_demo_items
from lifecycle.items.models import Item
from lifecycle.wareki import wareki_date
from datetime import date
from reportlab.lib.units import mm
from tests.factories import form


def _code_positions(pdf: bytes) -> list[tuple[int, float, float]]:
    """(page, x, y) of every item code drawn, in drawing order."""
    found = []
    for number, page in enumerate(PdfReader(io.BytesIO(pdf)).pages):
        def visit(text, _cm, tm, _font, _size, number=number):
            if re.fullmatch(r"[FMD]-\d{4}-\d{6}", text.strip()):
                found.append((number, tm[4], tm[5]))
        page.extract_text(visitor_text=visit)
    return found


def _slot(layout, position: int) -> tuple[float, float]:
    return layout.slot_origin(position - 1)


def test_a_sheet_can_start_at_any_position(client, login, world):
    layout = get_layout("a4-12")
    items = [form(world["registrar"]) for _ in range(3)]
    login("registrar")
    response = client.post("/labels/sheet.pdf", data={"codes": [i.code for i in items], "layout": "a4-12",
                                                        "start": "11"})
    assert response.status_code == 200
    positions = _code_positions(response.data)
    # positions 11 and 12 of the first sheet, then position 1 of a second sheet
    assert [page for page, _x, _y in positions] == [0, 0, 1]
    for (page, x, y), position in zip(positions, (11, 12, 1)):
        slot_x, slot_y = _slot(layout, position)
        assert slot_x <= x <= slot_x + layout.label_width_mm * mm
        assert slot_y <= y <= slot_y + layout.label_height_mm * mm
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.type == EventType.LABEL_PRINTED.value)
                              .order_by(AuditEvent.seq))
    assert '"start":11' in event.data


def test_a_start_beyond_the_sheet_is_refused_and_nothing_printed(client, login, world):
    item = form(world["registrar"])
    login("registrar")
    response = client.get(f"/labels/{item.code}.pdf?layout=a4-12&start=13",
                          headers={"Referer": f"http://localhost/items/{item.code}"})
    assert response.status_code == 302
    assert "印刷開始位置は1から12まで" in client.get(f"/items/{item.code}").get_data(as_text=True)
    assert db.session.scalar(select(AuditEvent.seq).where(AuditEvent.type == EventType.LABEL_PRINTED.value)) is None


def test_the_label_forms_remember_the_last_layout_of_each_person(client, login, world):
    item = form(world["registrar"])
    login("registrar")
    ledger = client.get("/items?kind=form").get_data(as_text=True)
    assert '<option value="a4-12" selected>' in ledger  # the default before any print
    assert client.get(f"/labels/{item.code}.pdf?layout=roll-62mm").status_code == 200
    ledger = client.get("/items?kind=form").get_data(as_text=True)
    page = client.get(f"/items/{item.code}").get_data(as_text=True)
    assert '<option value="roll-62mm" selected>' in ledger and '<option value="roll-62mm" selected>' in page
    other = form(world["registrar2"])
    login("registrar2")  # another person keeps the default
    assert '<option value="a4-12" selected>' in client.get(f"/items/{other.code}").get_data(as_text=True)


def test_nothing_ticked_says_what_to_do_in_the_pages_words(client, login, world):
    form(world["registrar"])
    login("registrar")
    response = client.post("/labels/sheet.pdf", data={"layout": "a4-12"},
                           headers={"Referer": "http://localhost/items?kind=form"})
    assert response.status_code == 302
    page = client.get("/items?kind=form").get_data(as_text=True)
    button = re.search(r'<button type="submit" class="primary">([^<]+)</button>', page.split('print-bar', 1)[1])
    assert f"「{button.group(1)}」を押してください" in page
    assert "チェックボックス" in page


def _pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_a_destroyed_items_label_carries_its_mark(client, login, world):
    codes = load_demo_items()
    destroyed = db.session.scalar(select(Item).where(Item.code.in_(codes), Item.status == "destroyed",
                                                     Item.kind == "form"))
    in_use = db.session.scalar(select(Item).where(Item.code.in_(codes), Item.status == "in_custody"))
    login("admin")
    text = _pdf_text(client.get(f"/labels/{destroyed.code}.pdf").data)
    assert "廃棄済" in text and destroyed.code in text
    assert "廃棄済" not in _pdf_text(client.get(f"/labels/{in_use.code}.pdf").data)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.type == EventType.LABEL_PRINTED.value,
                                                       AuditEvent.subject == destroyed.code))
    assert '"mark":"廃棄済"' in event.data


def test_a_returned_devices_label_carries_its_mark():
    label = LabelData(code="D-2026-000001", kind_label="機器", title="業務端末", department="市町課",
                      registered_on=date(2026, 4, 1), qr_url="https://example.invalid/s/x", mark="返却済")
    text = _pdf_text(render_labels([label], get_layout("a4-12")))
    assert "返却済" in text and "D-2026-000001" in text and wareki_date(date(2026, 4, 1)) in text
