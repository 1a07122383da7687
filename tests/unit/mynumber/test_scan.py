"""`lifecycle audit scan-my-number`: numbers stored before the guard, planted here with SQL."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from lifecycle.custody.services import request_transfer
from lifecycle.extensions import db
from lifecycle.mynumber import scan
from tests import factories

NUMBER = "873459162732"  # valid; none of its four-digit parts is in a code, a seq or a count below
GROUPED = "8734 5916 2732"


def plant(sql: str, **params) -> None:
    """Past the guard and the services, as an old release or a hand edit would have written it."""
    with db.transaction() as session:
        session.execute(text(sql), params)


def invoke(runner):
    result = runner.invoke(args=["audit", "scan-my-number"])
    for start in range(len(NUMBER) - 3):
        assert NUMBER[start:start + 4] not in result.output  # never the number, nor a part of it
    return result


def registered_event(code: str) -> int:
    return db.session.execute(text("SELECT seq FROM audit_events WHERE subject = :c AND type = 'item:registered'"),
                              {"c": code}).scalar_one()


def test_a_clean_database_exits_0(runner, world):
    factories.form(world["registrar"], title="伝票 123456789012 の控え")  # 12 digits, not a valid number
    result = invoke(runner)
    assert result.exit_code == 0 and result.output == "found 0\n"


def test_every_place_is_named_by_row_and_column(runner, world, monkeypatch):
    monkeypatch.setattr(scan, "BATCH", 2)  # the rows span several batches
    form = factories.form(world["registrar"])
    other = factories.form(world["registrar"])
    transfer = request_transfer(world["registrar"], other.code, "registrar2", "書庫移転")
    plant("UPDATE items SET title = :t, location = :l WHERE code = :c",
          t=f"課税台帳（{GROUPED}）", l=f"書庫 {NUMBER} 1", c=form.code)
    plant("UPDATE transfers SET note = :n WHERE id = :i", n=f"番号{NUMBER}", i=transfer.id)
    seq = registered_event(form.code)
    data = json.loads(db.session.execute(text("SELECT data FROM audit_events WHERE seq = :s"), {"s": seq}).scalar())
    data.update(title=f"課税台帳（{GROUPED}）", attachments=[{"note": f"１ {NUMBER}"}])
    plant("UPDATE audit_events SET data = :d WHERE seq = :s", d=json.dumps(data, ensure_ascii=False), s=seq)
    plant("UPDATE audit_events SET subject = :s WHERE seq = 1", s=f"user:{NUMBER}")

    result = invoke(runner)

    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "event 1: subject",
        f"event {seq} ({form.code}): data.title",
        f"event {seq} ({form.code}): data.attachments",
        f"item {form.code}: title",
        f"item {form.code}: location",
        f"transfer {transfer.id} ({other.code}): note",
        "found 6",
    ]


def test_digests_are_not_numbers(runner, world):
    form = factories.form(world["registrar"])
    seq = registered_event(form.code)
    digest = ("ab" + NUMBER).ljust(64, "c")
    plant("UPDATE audit_events SET data = :d WHERE seq = :s", d=json.dumps({"sha256": digest}), s=seq)
    assert invoke(runner).exit_code == 0


@pytest.mark.parametrize("value,found", [(f"x{NUMBER}", True), (int(NUMBER), True), (True, False),
                                         ({"a": [{"b": GROUPED}]}, True), ({"a": [1, 2]}, False)])
def test_values_inside_event_data(value, found):
    assert scan._holds_number(value) is found
