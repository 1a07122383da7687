"""The audit log's Merkle tree, stored as it grows, so that a root or a proof reads O(log n) rows.

Node (level, idx) is the root of the complete subtree over leaves [idx·2^level, (idx+1)·2^level):
level 0 is a leaf, whose hash is not stored here (it is SHA-256(0x00 ‖ the event's chain hash),
read from audit_events), and each node of level >= 1 is written once, by the append that completes
its subtree, in that append's transaction. Leaf i completes as many subtrees as i has trailing one
bits, so an append writes at most log2 n rows (none for half of the appends, one on average) and
reads the left siblings it needs (none for three appends in four).

Appends are serial (the write lock of db.transaction() and the head row of the chain), so the
nodes always describe exactly the events committed with them. A node is never updated: a second
write of the same key is refused by the primary key, which means the chain was cut back behind
the tree, and is reported as a fault instead of overwriting the evidence.

This module knows nothing of the chain (services.py calls it), so that merkle.py can use both.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator

from sqlalchemy import delete, insert

from ..errors import AuditLogFault
from ..extensions import db
from .models import AuditTreeNode

_sha256 = hashlib.sha256
Key = tuple[int, int]  #: (level, idx)
Reader = Callable[[set[Key]], dict[Key, bytes]]

_NODES = AuditTreeNode.__table__
_ADD_NODES = insert(_NODES)

TREE_AHEAD = ("監査ログの Merkle 木に、末尾の記録より後の節がすでにあります。末尾の記録が削除され、"
              "戻された可能性があります。監査ログを検証し、システム管理者に連絡してください。")


def tree_missing(keys) -> str:
    level, idx = min(keys)
    return (f"監査ログの Merkle 木の節（高さ {level}、{idx + 1} 番目）が見つかりません。"
            "`lifecycle audit verify` で監査ログを確かめたうえで、`lifecycle audit rebuild-tree` で"
            "木を作り直してください。")


def leaf_hash(data: bytes) -> bytes:
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def completed_levels(index: int) -> int:
    """How many subtrees leaf `index` completes: the trailing one bits of index."""
    return ((index + 1) & -(index + 1)).bit_length() - 1


def append_nodes(index: int, leaf_data: bytes, prev_data: bytes, read: Reader) -> list[tuple[int, int, bytes]]:
    """The nodes (level, idx, hash) that appending leaf `index` completes. `prev_data` is leaf
    index-1's data (the previous chain hash: the level-0 left sibling costs no read); `read`
    fetches the stored left siblings of level 1 and up."""
    levels = completed_levels(index)
    if not levels:
        return []
    h = node_hash(leaf_hash(prev_data), leaf_hash(leaf_data))
    rows = [(1, index >> 1, h)]
    if levels > 1:
        wanted = {(level, (index >> level) - 1) for level in range(1, levels)}
        lefts = read(wanted)
        for level in range(1, levels):
            h = node_hash(lefts[(level, (index >> level) - 1)], h)
            rows.append((level + 1, index >> (level + 1), h))
    return rows


def blocks(lo: int, hi: int) -> list[Key]:
    """The complete subtrees that make up leaves [lo, hi), largest first. Every range RFC 9162's
    recursion produces starts at a multiple of the largest power of two not above its length,
    so its MTH is these blocks folded from the right (fold)."""
    out = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        if lo & ((1 << level) - 1):
            raise ValueError(f"[{lo}, {hi}) is not a range of the tree")
        out.append((level, lo >> level))
        lo += 1 << level
    return out


def fold(keys: list[Key], got: dict[Key, bytes]) -> bytes:
    if not keys:
        return _sha256(b"").digest()
    r = got[keys[-1]]
    for key in reversed(keys[:-1]):
        r = node_hash(got[key], r)
    return r


def range_roots(ranges: Iterable[tuple[int, int]], read: Reader) -> list[bytes]:
    """The MTH of each range, from stored nodes, in one read."""
    per = [blocks(lo, hi) for lo, hi in ranges]
    got = read({key for keys in per for key in keys})
    return [fold(keys, got) for keys in per]


class NodeBuilder:
    """Builds the nodes of leaves fed in order, from a frontier (the roots of blocks(0, start),
    as (level, hash)), and reports each node of level >= 1 as it completes: what the appends
    would have written. Used to rebuild the tree and to check the stored one."""

    __slots__ = ("stack", "position")

    def __init__(self, start: int = 0, frontier: list[tuple[int, bytes]] | None = None) -> None:
        self.stack = list(frontier or [])
        self.position = start

    def feed(self, leaf_hashes: Iterable[bytes]) -> Iterator[tuple[int, int, bytes]]:
        stack, position = self.stack, self.position
        for h in leaf_hashes:
            level = 0
            while stack and stack[-1][0] == level:
                h = node_hash(stack.pop()[1], h)
                level += 1
                yield level, position >> level, h
            stack.append((level, h))
            position += 1
        self.position = position

    def feed_levels(self, leaf_hashes: list[bytes]) -> list[tuple[int, int, list[bytes]]]:
        """The nodes feed would report for these leaves, a level at a time: (level, first idx,
        hashes) for each level >= 1 that gains nodes. Each level is hashed in one comprehension
        instead of walking the stack leaf by leaf: verification hands over thousands of leaves at
        a time, and the walk was most of its cost. The frontier holds level L exactly when bit L
        of the position is set, so a run starting at an odd index takes its left sibling from it,
        and an odd one out joins it."""
        pending = dict(self.stack)
        out = []
        nodes, start, level = list(leaf_hashes), self.position, 0
        self.position += len(nodes)
        while nodes:
            if start & 1:
                nodes = [pending.pop(level), *nodes]  # a new list: the one in `out` stays as reported
                start -= 1
            paired = len(nodes) & ~1
            if paired < len(nodes):
                pending[level] = nodes[-1]
            nodes = [_sha256(b"\x01" + nodes[i] + nodes[i + 1]).digest() for i in range(0, paired, 2)]
            level, start = level + 1, start >> 1
            if nodes:
                out.append((level, start, nodes))
        self.stack = sorted(pending.items(), reverse=True)
        return out


# --- the stored tree ------------------------------------------------------------------------------

def _leaf_rows(seqs: list[int]):
    cursor = db.session().connection().connection.cursor()
    try:
        marks = ",".join(["?" if db.is_sqlite else "%s"] * len(seqs))
        cursor.execute(f"SELECT seq, hash FROM audit_events WHERE seq IN ({marks})", seqs)
        return cursor.fetchall()
    finally:
        cursor.close()


def _node_rows(by_level: dict[int, list[int]]):
    """(level, idx, hash) of the given nodes, in one statement of one SELECT per level, each an
    IN list on the primary key (an OR of the levels in one WHERE makes SQLite scan the whole
    table instead). Through the DB-API cursor, as _leaf_rows: an append reads here one time in
    four, and SQLAlchemy's expansion of IN lists inside a UNION cost more than the append's
    own statements."""
    mark = "?" if db.is_sqlite else "%s"
    parts, params = [], []
    for level, idxs in sorted(by_level.items()):
        parts.append(f"SELECT level, idx, hash FROM audit_tree_nodes WHERE level = {mark} "
                     f"AND idx IN ({','.join([mark] * len(idxs))})")
        params += [level, *sorted(idxs)]
    cursor = db.session().connection().connection.cursor()
    try:
        cursor.execute(" UNION ALL ".join(parts), params)
        return cursor.fetchall()
    finally:
        cursor.close()


def read_stored(keys: set[Key]) -> dict[Key, bytes]:
    """Nodes by key: levels >= 1 from the node table, leaves from the events' chain hashes. A
    missing one is a fault of the log, never a smaller tree."""
    got: dict[Key, bytes] = {}
    leaves = sorted(idx + 1 for level, idx in keys if level == 0)
    if leaves:
        for seq, digest in _leaf_rows(leaves):
            try:
                raw = bytes.fromhex(digest)
            except (TypeError, ValueError):
                raw = b""
            if len(raw) == 32:
                got[(0, seq - 1)] = leaf_hash(raw)
        lost = [seq for seq in leaves if (0, seq - 1) not in got]
        if lost:
            raise AuditLogFault(f"監査ログの記録 {lost[0]} 番が欠番か、そのハッシュを読めません。"
                                "監査ログを検証し、システム管理者に連絡してください。")
    inner = [key for key in keys if key[0] > 0]
    if inner:
        by_level: dict[int, list[int]] = {}
        for level, idx in inner:
            by_level.setdefault(level, []).append(idx)
        for level, idx, h in _node_rows(by_level):
            got[(level, idx)] = bytes(h)
        missing = [key for key in inner if key not in got]
        if missing:
            raise AuditLogFault(tree_missing(missing))
    return got


def _write_nodes(rows: list[tuple[int, int, bytes]]) -> None:
    """Inserts (level, idx, hash) rows in the caller's transaction, through the DB-API cursor as
    the reads are: every other append writes one, and SQLAlchemy's statement handling cost more
    than the insert itself. A key written before is a fault, never overwritten (module doc)."""
    mark = "?" if db.is_sqlite else "%s"
    statement = f"INSERT INTO audit_tree_nodes (level, idx, hash) VALUES ({mark}, {mark}, {mark})"
    cursor = db.session().connection().connection.cursor()
    try:
        if len(rows) == 1:
            cursor.execute(statement, rows[0])
        else:
            cursor.executemany(statement, rows)
    except db.engine.dialect.loaded_dbapi.IntegrityError:
        raise AuditLogFault(TREE_AHEAD) from None
    finally:
        cursor.close()


def on_append(seq: int, digest: str, prev: str) -> None:
    """Called by record_event in its transaction, after the event's row: writes the nodes event
    `seq` completes."""
    rows = append_nodes(seq - 1, bytes.fromhex(digest), bytes.fromhex(prev), read_stored)
    if rows:
        _write_nodes(rows)


def on_append_many(first_seq: int, digests: list[str]) -> None:
    """Called by record_events in its transaction, after the events' rows: writes, in one
    statement, every node that appending events first_seq, first_seq + 1, … one by one would
    have written (the builder continues from the stored frontier of the leaves before them)."""
    builder = NodeBuilder(first_seq - 1, frontier(first_seq - 1))
    rows = list(builder.feed(leaf_hash(bytes.fromhex(d)) for d in digests))
    if rows:
        _write_nodes(rows)


def frontier(size: int) -> list[tuple[int, bytes]]:
    """The stored roots of blocks(0, size), as NodeBuilder takes them."""
    keys = blocks(0, size)
    got = read_stored(set(keys))
    return [(level, got[(level, idx)]) for level, idx in keys]


def rebuild(leaf_chunks: Iterable[list[bytes]], batch: int = 50_000) -> int:
    """Replaces the stored nodes by those of the given leaf hashes (in order); inside the
    caller's write transaction. Returns how many nodes it wrote."""
    if not db.in_write():
        raise RuntimeError("the tree is rebuilt only inside db.transaction()")
    session = db.session()
    session.execute(delete(_NODES))
    builder, pending, written = NodeBuilder(), [], 0
    for chunk in leaf_chunks:
        for level, idx, h in builder.feed(chunk):
            pending.append({"level": level, "idx": idx, "hash": h})
            if len(pending) >= batch:
                session.execute(_ADD_NODES, pending)
                written += len(pending)
                pending = []
    if pending:
        session.execute(_ADD_NODES, pending)
        written += len(pending)
    return written
