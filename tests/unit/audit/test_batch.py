"""A batch of events (record_events) is the chain and the Merkle tree that appending the same
events one by one gives: the same hashes, the same stored nodes, the same roots, at any starting
size of the log (hypothesis draws both sizes)."""
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from lifecycle.actors import SystemActor
from lifecycle.audit import merkle, services, tree
from lifecycle.audit.events import EventType
from lifecycle.audit.models import AuditEvent, AuditTreeNode
from lifecycle.audit.services import NewEvent, head, record_event, record_events, verify_chain
from lifecycle.extensions import db

ACTOR = SystemActor("system:test", "テスト")


class Undo(Exception):
    """Leaves a transaction after reading what it wrote, so both ways start from one log."""


def _events(n: int, offset: int = 0) -> list[NewEvent]:
    return [NewEvent(EventType.ITEM_MISSING, f"F-2026-{offset + i:06d}",
                     {"from": "in_custody", "to": "missing", "stocktake": 7, "note": f"第{i}件"})
            for i in range(n)]


def _ticking_clock(monkeypatch):
    """Each call of utcnow in the log gives the next microsecond, the same sequence both ways."""
    start = datetime(2026, 12, 4, 6, 0, 0)
    ticks = iter(range(10**9))
    monkeypatch.setattr(services, "utcnow", lambda: start + timedelta(microseconds=next(ticks)))


def _written(first_seq: int) -> tuple[list[tuple], dict, dict[int, bytes]]:
    events = db.session.execute(select(AuditEvent.seq, AuditEvent.at, AuditEvent.type, AuditEvent.actor,
                                       AuditEvent.subject, AuditEvent.data, AuditEvent.hash)
                                .where(AuditEvent.seq >= first_seq).order_by(AuditEvent.seq)).all()
    nodes = {(n.level, n.idx): bytes(n.hash) for n in db.session.scalars(select(AuditTreeNode))}
    size = head()[0]
    roots = merkle.roots_at(range(1, size + 1))
    return [tuple(e) for e in events], nodes, roots


def _both_ways(monkeypatch, events: list[NewEvent]):
    first = head()[0] + 1
    results = []
    for batch in (False, True):
        _ticking_clock(monkeypatch)
        with pytest.raises(Undo), db.transaction():
            if batch:
                seqs = record_events(events, actor=ACTOR)
            else:
                seqs = [record_event(e.type, actor=ACTOR, subject=e.subject, **e.details) for e in events]
            assert seqs == list(range(first, first + len(events)))
            results.append(_written(first))
            raise Undo
    return results


@pytest.mark.parametrize("before, count", [(0, 1), (0, 64), (1, 1), (5, 11), (63, 66), (64, 200), (100, 1000)])
def test_a_batch_is_the_chain_and_tree_of_single_appends(app, monkeypatch, before, count):
    with db.transaction():
        record_events(_events(before, offset=10_000), actor=ACTOR) if before else None
    singles, batch = _both_ways(monkeypatch, _events(count))
    assert batch[0] == singles[0]  # every row, hash included
    assert batch[1] == singles[1]  # every stored node of the Merkle tree
    assert batch[2] == singles[2] and len(batch[2]) == before + count  # the root at every size


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=st.integers(min_value=0, max_value=140), count=st.integers(min_value=1, max_value=140))
def test_batches_of_any_size_after_any_log(app, monkeypatch, before, count):
    _ticking_clock(monkeypatch)
    with pytest.raises(Undo), db.transaction():
        if before:
            record_events(_events(before, offset=50_000), actor=ACTOR)
        first = head()[0] + 1
        for e in _events(count):
            record_event(e.type, actor=ACTOR, subject=e.subject, **e.details)
        single_roots = merkle.roots_at([first - 1 + count])
        single_nodes = {(n.level, n.idx): bytes(n.hash) for n in db.session.scalars(select(AuditTreeNode))}
        raise Undo
    _ticking_clock(monkeypatch)
    with pytest.raises(Undo), db.transaction():
        if before:
            record_events(_events(before, offset=50_000), actor=ACTOR)
        record_events(_events(count), actor=ACTOR)
        assert merkle.roots_at([first - 1 + count]) == single_roots
        assert {(n.level, n.idx): bytes(n.hash) for n in db.session.scalars(select(AuditTreeNode))} == single_nodes
        raise Undo


def test_a_committed_batch_verifies_and_continues_with_single_appends(app):
    with db.transaction():
        record_event(EventType.ITEM_UPDATED, actor=ACTOR, subject="F-2026-000001", note="前")
        record_events(_events(37), actor=ACTOR)
    with db.transaction():
        record_event(EventType.ITEM_UPDATED, actor=ACTOR, subject="F-2026-000001", note="後")
    result = verify_chain()
    assert result.ok and result.events == 39
    leaves = [merkle.leaf_hash(bytes.fromhex(h))
              for h in db.session.scalars(select(AuditEvent.hash).order_by(AuditEvent.seq))]
    stored = {(n.level, n.idx): bytes(n.hash) for n in db.session.scalars(select(AuditTreeNode))}
    assert stored == {(level, idx): h for level, idx, h in tree.NodeBuilder().feed(leaves)}


def test_a_batch_refuses_secret_fields_and_writes_nothing(app):
    with pytest.raises(ValueError), db.transaction():
        record_events(_events(3) + [NewEvent(EventType.ITEM_UPDATED, "F-2026-000009", {"token": "x"})],
                      actor=ACTOR)
    assert head() == (0, services.GENESIS)


def test_a_batch_is_written_only_inside_a_transaction(app):
    with pytest.raises(RuntimeError):
        record_events(_events(2), actor=ACTOR)
