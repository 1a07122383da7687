"""The stored Merkle tree (audit/tree.py): the nodes appends write give the same roots and proofs
as the tree computed from all leaves (the CT vectors, and hypothesis over random sizes), in
memory and in the database, under concurrent appends, and rebuilt from the chain."""
import hashlib
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from lifecycle.actors import SystemActor
from lifecycle.audit import merkle, tree
from lifecycle.audit.events import EventType
from lifecycle.audit.models import AuditEvent, AuditTreeNode
from lifecycle.audit.services import head, record_event
from lifecycle.errors import AuditLogFault
from lifecycle.extensions import db
from tests.unit.audit.test_merkle import CT_CONSISTENCY, CT_INCLUSION, CT_LEAVES, CT_ROOTS

ACTOR = SystemActor("system:test", "テスト")


class MemoryTree:
    """The nodes exactly as on_append writes them, kept in a dict; leaves beside them as level 0."""

    def __init__(self, data: list[bytes]) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.writes: list[int] = []
        prev = b""
        for index, leaf in enumerate(data):
            self.nodes[(0, index)] = tree.leaf_hash(leaf)
            rows = tree.append_nodes(index, leaf, prev, self.read)
            self.writes.append(len(rows))
            for level, idx, h in rows:
                assert (level, idx) not in self.nodes
                self.nodes[(level, idx)] = h
            prev = leaf

    def read(self, keys):
        return {key: self.nodes[key] for key in keys}


def _data(n: int) -> list[bytes]:
    return [hashlib.sha256(str(i).encode()).digest() for i in range(n)]


def test_the_ct_vectors_from_stored_nodes():
    # The CT leaves are not 32 bytes, but the stored tree only ever hashes them as leaves.
    memory = MemoryTree(CT_LEAVES)
    for size in range(1, 9):
        assert merkle.stored_consistency(size, size, memory.read)[2].hex() == CT_ROOTS[size - 1]
    for index, size, path in CT_INCLUSION:
        leaf, proof, root = merkle.stored_inclusion(index, size, memory.read)
        assert [h.hex() for h in proof] == path and root.hex() == CT_ROOTS[size - 1]
        assert leaf == merkle.leaf_hash(CT_LEAVES[index])
    for first, second, expected in CT_CONSISTENCY:
        proof, first_root, second_root = merkle.stored_consistency(first, second, memory.read)
        assert [h.hex() for h in proof] == expected
        assert (first_root.hex(), second_root.hex()) == (CT_ROOTS[first - 1], CT_ROOTS[second - 1])


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=1100), st.data())
def test_stored_node_proofs_equal_the_proofs_from_all_leaves(n, data):
    leaves = _data(n)
    hashes = [merkle.leaf_hash(x) for x in leaves]
    memory = MemoryTree(leaves)
    size = data.draw(st.integers(min_value=1, max_value=n), label="size")
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    first = data.draw(st.integers(min_value=1, max_value=size), label="first")
    leaf, path, root = merkle.stored_inclusion(index, size, memory.read)
    assert leaf == hashes[index]
    assert path == merkle.inclusion_path(index, hashes[:size])
    assert root == merkle.root(hashes[:size])
    proof, first_root, second_root = merkle.stored_consistency(first, size, memory.read)
    assert proof == merkle.consistency_proof(first, hashes[:size])
    assert (first_root, second_root) == (merkle.root(hashes[:first]), root)
    # An append writes one row per subtree it completes: at most log2 n, one on average.
    assert max(memory.writes) <= n.bit_length() and sum(memory.writes) == n - bin(n).count("1")
    # Rebuilding from the leaves gives the very nodes the appends wrote.
    built = {(level, idx): h for level, idx, h in tree.NodeBuilder().feed(hashes)}
    assert built == {k: v for k, v in memory.nodes.items() if k[0] > 0}


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=600), st.data())
def test_a_builder_started_from_a_frontier_continues_the_same_tree(n, data):
    hashes = [merkle.leaf_hash(x) for x in _data(n)]
    start = data.draw(st.integers(min_value=0, max_value=n))
    whole = {(level, idx): h for level, idx, h in tree.NodeBuilder().feed(hashes)}
    memory = {**whole, **{(0, i): h for i, h in enumerate(hashes)}}
    frontier = [(level, memory[(level, idx)]) for level, idx in tree.blocks(0, start)]
    later = {(level, idx): h for level, idx, h in tree.NodeBuilder(start, frontier).feed(hashes[start:])}
    assert later == {(level, idx): h for (level, idx), h in whole.items() if (idx + 1) << level > start}


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=600), st.data())
def test_feeding_a_level_at_a_time_reports_the_nodes_feed_does(n, data):
    """feed_levels (verification) and feed (appends, rebuilds) are the same tree, in any batches."""
    hashes = [merkle.leaf_hash(x) for x in _data(n)]
    start = data.draw(st.integers(min_value=0, max_value=n))
    cuts = sorted(data.draw(st.lists(st.integers(min_value=start, max_value=n), max_size=4)))
    whole = {(level, idx): h for level, idx, h in tree.NodeBuilder().feed(hashes)}
    memory = {**whole, **{(0, i): h for i, h in enumerate(hashes)}}
    frontier = [(level, memory[(level, idx)]) for level, idx in tree.blocks(0, start)]
    builder, got = tree.NodeBuilder(start, frontier), {}
    for lo, hi in zip([start, *cuts], [*cuts, n]):
        for level, first, nodes in builder.feed_levels(hashes[lo:hi]):
            got.update({(level, first + i): h for i, h in enumerate(nodes)})
    assert got == {(level, idx): h for (level, idx), h in whole.items() if (idx + 1) << level > start}
    stepped = tree.NodeBuilder(start, frontier)
    list(stepped.feed(hashes[start:]))
    assert (builder.position, builder.stack) == (stepped.position, stepped.stack)  # and it goes on alike


def _append(n: int) -> None:
    for i in range(n):
        with db.transaction():
            record_event(EventType.ITEM_UPDATED, actor=ACTOR, subject=f"F-2026-{i:06d}", note=f"変更{i}")


def _stored() -> dict:
    return {(n.level, n.idx): bytes(n.hash) for n in db.session.scalars(select(AuditTreeNode))}


def _leaf_hashes() -> list[bytes]:
    return [merkle.leaf_hash(bytes.fromhex(h))
            for h in db.session.scalars(select(AuditEvent.hash).order_by(AuditEvent.seq))]


def test_appends_store_the_tree_and_every_proof_matches_the_leaves(app):
    _append(37)
    hashes = _leaf_hashes()
    size = head()[0]
    assert len(hashes) == size
    stored = _stored()
    assert stored == {(level, idx): h for level, idx, h in tree.NodeBuilder().feed(hashes)}
    assert len(stored) == size - bin(size).count("1")
    for n in range(1, size + 1):
        for m in range(n):
            leaf, path, root = merkle.stored_inclusion(m, n)
            assert leaf == hashes[m] and path == merkle.inclusion_path(m, hashes[:n])
        for first in range(1, n + 1):
            proof, _, second_root = merkle.stored_consistency(first, n)
            assert proof == merkle.consistency_proof(first, hashes[:n])
        assert second_root == merkle.root(hashes[:n])


def test_rebuild_tree_writes_the_same_nodes(app, runner):
    _append(21)
    before = _stored()
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_tree_nodes"))
    db.session.rollback()
    result = runner.invoke(args=["audit", "rebuild-tree"])
    assert result.exit_code == 0, result.output
    assert "Merkle" in result.output
    db.session.rollback()
    after = _stored()
    assert before.items() <= after.items()  # plus the nodes of the rebuild's own event
    assert after == {(level, idx): h for level, idx, h in tree.NodeBuilder().feed(_leaf_hashes())}
    last = db.session.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1))
    assert last.type == EventType.TREE_REBUILT.value


def test_a_tail_cut_behind_the_tree_refuses_further_appends(app):
    _append(8)
    size = head()[0]
    keep = size - 3 if (size - 3) % 2 else size - 4  # the next append completes a stored subtree
    digest = db.session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == keep))
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq > :k"), {"k": keep})
        conn.execute(text("UPDATE audit_head SET seq = :k, hash = :h"), {"k": keep, "h": digest})
    db.session.rollback()
    with pytest.raises(AuditLogFault, match="末尾の記録より後の節"):
        _append(1)
    assert head()[0] == keep  # nothing was written


@pytest.mark.parametrize("writers", [3])
def test_concurrent_appends_keep_one_tree(app, writers):
    errors = []

    def writer():
        try:
            with app.app_context():
                _append(25)
                db.session.remove()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    db.session.rollback()
    size = head()[0]
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == size
    assert _stored() == {(level, idx): h for level, idx, h in tree.NodeBuilder().feed(_leaf_hashes())}
    assert merkle.roots_at([size])[size] == merkle.root(_leaf_hashes())
