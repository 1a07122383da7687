"""The audit log as an RFC 9162 Merkle tree, beside the hash chain.

Leaf i (from 0) is the event with seq i+1; its data is the 32 raw bytes of that event's chain
hash. Leaf hash SHA-256(0x00 ‖ data), node hash SHA-256(0x01 ‖ left ‖ right), and MTH, PATH and
PROOF as RFC 9162 §2.1 defines them for any tree size. The verifiers follow §2.1.3.2 and §2.1.4.2
step by step; tools/verify_audit_export.py repeats them for auditors without this package, so
change both together or neither.

Roots and proofs of the log are read from the nodes stored as events are appended (tree.py): a
proof reads O(log n) rows in one statement. The in-memory functions (inclusion_path,
consistency_proof, stream_roots) compute the same from leaves: for tests, and for rebuilding and
checking the stored tree.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence

from ..errors import AuditLogFault, Invalid
from ..extensions import db
from . import tree
from .events import EventType
from .services import head, record_event

_sha256 = hashlib.sha256
EMPTY_ROOT = _sha256(b"").digest()
READ_BATCH = 1 << 16  # a power of two: whole batches are whole subtrees


def leaf_hash(data: bytes) -> bytes:
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class Accumulator:
    """MTH of leaves fed in order, keeping only the roots of the complete subtrees so far (at most
    log2 n of them): a root of any size in one pass and little memory."""

    __slots__ = ("sizes", "hashes", "count")

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.hashes: list[bytes] = []
        self.count = 0

    def push(self, leaf: bytes) -> None:
        self._push(leaf, 1)

    def extend(self, leaves: Sequence[bytes]) -> list[tuple[bytes, int]]:
        """Pushes many leaves: in the largest blocks aligned with what came before, each hashed
        level by level, which is the same tree at a fraction of the per-leaf cost. Returns the
        blocks (root, size), which another accumulator aligned with them may push as they are."""
        blocks = []
        i, n = 0, len(leaves)
        while i < n:
            size = self.count & -self.count or 1 << 62  # the largest block that keeps alignment
            while size > n - i:
                size >>= 1
            level = leaves[i:i + size]
            while len(level) > 1:
                level = [_sha256(b"\x01" + level[j] + level[j + 1]).digest() for j in range(0, len(level), 2)]
            self._push(level[0], size)
            blocks.append((level[0], size))
            i += size
        return blocks

    def push_blocks(self, blocks: Sequence[tuple[bytes, int]]) -> bool:
        """Pushes subtree roots if each is aligned here too; False (and nothing pushed) if not."""
        at = self.count
        for _, size in blocks:
            if at % size:
                return False
            at += size
        for h, size in blocks:
            self._push(h, size)
        return True

    def _push(self, h: bytes, size: int) -> None:
        sizes, hashes = self.sizes, self.hashes
        self.count += size
        while sizes and sizes[-1] == size:
            sizes.pop()
            h = node_hash(hashes.pop(), h)
            size <<= 1
        sizes.append(size)
        hashes.append(h)

    def root(self) -> bytes:
        """The RFC's split at the largest power of two is this fold from the right."""
        if not self.hashes:
            return EMPTY_ROOT
        r = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            r = node_hash(h, r)
        return r


def subtree_root(hashes: Iterable[bytes]) -> bytes:
    """MTH over leaf *hashes*."""
    acc = Accumulator()
    for h in hashes:
        acc.push(h)
    return acc.root()


def root(leaf_hashes: Iterable[bytes]) -> bytes:
    return subtree_root(leaf_hashes)


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose roots make PATH(index, D[size]) (RFC 9162 §2.1.3.1), leaf side first."""
    if not 0 <= index < size:
        raise ValueError("leaf index outside the tree")
    ranges = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo = lo + k
    ranges.reverse()
    return ranges


def consistency_ranges(first: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose roots make PROOF(first, D[size]) = SUBPROOF(first, D[size], true)
    (RFC 9162 §2.1.4.1, 0 < first <= size), in the RFC's order."""
    if not 0 < first <= size:
        raise ValueError("first size outside the tree")
    ranges = []
    lo, hi, m, complete = 0, size, first, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    if not complete:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def inclusion_path(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) over leaf hashes held in memory."""
    return [subtree_root(leaf_hashes[lo:hi]) for lo, hi in inclusion_ranges(index, len(leaf_hashes))]


def consistency_proof(first: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) over leaf hashes held in memory."""
    return [subtree_root(leaf_hashes[lo:hi]) for lo, hi in consistency_ranges(first, len(leaf_hashes))]


def stream_roots(chunks: Iterable[Sequence[bytes]], ranges: Sequence[tuple[int, int]],
                 prefixes: Iterable[int] = ()) -> tuple[list[bytes], dict[int, bytes]]:
    """One pass over leaf hashes in order, given in chunks: the roots of disjoint `ranges` (in the
    order given) and of the trees of each size in `prefixes` (the whole tree: its length)."""
    by_start = {lo: (i, hi) for i, (lo, hi) in enumerate(ranges)}
    wanted = set(prefixes)
    marks = sorted(wanted | set(by_start) | {hi for _, hi in ranges})
    found: list[bytes | None] = [None] * len(ranges)
    prefix_roots: dict[int, bytes] = {}
    whole = Accumulator()
    part: Accumulator | None = None
    part_at = part_end = -1

    def at(position: int) -> None:
        nonlocal part, part_at, part_end
        if part is not None and position == part_end:
            found[part_at], part = part.root(), None
        if position in wanted:
            prefix_roots[position] = whole.root()
        if position in by_start:
            part_at, part_end = by_start[position]
            part = Accumulator()

    position, mark = 0, 0
    for chunk in chunks:
        end, i = position + len(chunk), 0
        while position < end:
            while mark < len(marks) and marks[mark] < position:
                mark += 1
            if mark < len(marks) and marks[mark] == position:
                at(position)
                mark += 1
            stop = marks[mark] if mark < len(marks) and marks[mark] < end else end
            piece = chunk[i:i + stop - position]
            # A proof's ranges are (mostly) aligned subtrees: their blocks serve the whole tree too.
            if part is None or not whole.push_blocks(part.extend(piece)):
                whole.extend(piece)
            i += stop - position
            position = stop
    if mark < len(marks) and marks[mark] == position:
        at(position)
    missing = [r for r, h in zip(ranges, found) if h is None]
    if missing or not wanted.issubset(prefix_roots):
        raise ValueError("fewer leaves than the ranges need")
    return found, prefix_roots


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes], expected_root: bytes) -> bool:
    """RFC 9162 §2.1.3.2, given the leaf *hash*."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == expected_root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2; equal sizes are consistent with an empty proof and equal roots."""
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: the first tree is a subtree
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root


# --- the audit log's leaves ------------------------------------------------------------------------

_LEAVES = "SELECT hash FROM audit_events WHERE seq > {p} AND seq <= {p} ORDER BY seq"


def iter_leaf_chunks(size: int, batch: int = READ_BATCH, start: int = 0) -> Iterator[list[bytes]]:
    """The leaf hashes of events start+1..size, a batch at a time, read in primary-key ranges; a missing
    or unreadable hash is a broken log, never a smaller tree. Through the session's DB-API cursor,
    as verify_chain reads: at a million rows SQLAlchemy's row processing costs more than reading
    and hashing."""
    cursor = db.session().connection().connection.cursor()
    query = _LEAVES.format(p="?" if db.is_sqlite else "%s")
    try:
        for after in range(start, size, batch):
            upto = min(after + batch, size)
            cursor.execute(query, (after, upto))
            hexes = [row[0] for row in cursor.fetchall()]
            try:
                raw = bytes.fromhex("".join(hexes))
            except (TypeError, ValueError):
                raw = b""
            if len(hexes) != upto - after or len(raw) != 32 * len(hexes):
                raise AuditLogFault(f"監査ログの記録 {after + 1}～{upto} に欠番か読めないハッシュがあります。"
                                    "監査ログを検証し、システム管理者に連絡してください。")
            yield [_sha256(b"\x00" + raw[i:i + 32]).digest() for i in range(0, len(raw), 32)]
    finally:
        cursor.close()


def tree_size() -> int:
    return head()[0]


def _size(value, name: str, label: str, *, upto: int, minimum: int = 1) -> int:
    if value is None or value == "":
        raise Invalid(f"{label}（{name}）を指定してください。", field=name)
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit() and len(value) <= 18):
            raise Invalid(f"{label}（{name}）は整数で指定してください。", field=name)
        value = int(value)
    if not minimum <= value <= upto:
        raise Invalid(f"{label}（{name}）は{minimum}から{upto}までの整数で指定してください。", field=name)
    return value


def stored_inclusion(index: int, size: int, read: tree.Reader = tree.read_stored) -> tuple[bytes, list[bytes], bytes]:
    """(leaf hash, PATH(index, D[size]), MTH(D[size])) from stored nodes, in one read."""
    ranges = inclusion_ranges(index, size)
    *path, leaf, whole = tree.range_roots([*ranges, (index, index + 1), (0, size)], read)
    return leaf, path, whole


def stored_consistency(first: int, second: int, read: tree.Reader = tree.read_stored
                       ) -> tuple[list[bytes], bytes, bytes]:
    """(PROOF(first, D[second]), MTH(D[first]), MTH(D[second])) from stored nodes, in one read."""
    ranges = consistency_ranges(first, second) if first < second else []
    *proof, first_root, second_root = tree.range_roots([*ranges, (0, first), (0, second)], read)
    return proof, first_root, second_root


def roots_at(sizes: Iterable[int]) -> dict[int, bytes]:
    """The roots of the trees of several sizes, from stored nodes in one read."""
    wanted = sorted(set(sizes))
    return dict(zip(wanted, tree.range_roots([(0, size) for size in wanted], tree.read_stored)))


def tree_json() -> dict:
    """The current tree: its size (the head's seq) and root."""
    size = tree_size()
    return {"tree_size": size, "root": roots_at([size])[size].hex()}


def inclusion_json(seq, size=None) -> dict:
    """The inclusion proof of event `seq` in the tree of `size` events (default: the current one).
    Parameters come as query text or ints; anything out of range is a 422 in Japanese."""
    current = tree_size()
    if current == 0:
        raise Invalid("監査ログにまだ記録がありません。", field="seq")
    size = current if size in (None, "") else _size(size, "tree_size", "木の大きさ", upto=current)
    seq = _size(seq, "seq", "記録の連番", upto=size)
    leaf, path, whole = stored_inclusion(seq - 1, size)
    return {"leaf_index": seq - 1, "tree_size": size, "leaf_hash": leaf.hex(),
            "audit_path": [h.hex() for h in path], "root": whole.hex()}


def consistency_json(first, second=None) -> dict:
    """The consistency proof between the trees of `first` and `second` events (default: now)."""
    current = tree_size()
    if current == 0:
        raise Invalid("監査ログにまだ記録がありません。", field="first")
    second = current if second in (None, "") else _size(second, "second", "後の木の大きさ", upto=current)
    first = _size(first, "first", "前の木の大きさ", upto=second)
    proof, first_root, second_root = stored_consistency(first, second)
    return {"first": first, "second": second, "first_root": first_root.hex(),
            "second_root": second_root.hex(), "proof": [h.hex() for h in proof]}


def rebuild_tree(actor) -> tuple[int, int]:
    """Writes the stored tree again from the events' chain hashes (a log from before the tree, or
    one an administrator repaired), and records that it did: under the write lock, so no append
    interleaves. Returns (events, nodes written)."""
    with db.transaction():
        size = tree_size()
        nodes = tree.rebuild(iter_leaf_chunks(size))
        record_event(EventType.TREE_REBUILT, actor=actor, subject="audit", events=size, nodes=nodes)
    return size, nodes


#: The stored nodes of one level over one batch of the walk's events, in order.
_NODES_OF_LEVEL = "SELECT idx, hash FROM audit_tree_nodes WHERE level = {p} AND idx >= {p} AND idx < {p} ORDER BY idx"


class StoredTreeCheck:
    """verify_chain's `tree_check` after a checkpoint at `size` (whose stored root the caller has
    checked against the signed one): as the walk hands over each batch of verified chain hashes,
    builds the nodes those events complete from the stored frontier and compares them with the
    stored nodes of that range, read in the walk's snapshot, level by level. Nodes of events
    appended after the walk began are in no batch, so they are not this check's."""

    def __init__(self, size: int) -> None:
        self.builder = tree.NodeBuilder(size, tree.frontier(size))

    def __call__(self, connection, hashes: list[str]) -> str | None:
        raw = bytes.fromhex("".join(hashes))  # the walk has checked each is a SHA-256 hex digest
        levels = self.builder.feed_levels(
            [_sha256(b"\x00" + raw[i:i + 32]).digest() for i in range(0, len(raw), 32)])
        query = _NODES_OF_LEVEL.format(p="?" if db.is_sqlite else "%s")
        cursor = connection.cursor()
        try:
            stored = []
            for level, start, nodes in levels:
                cursor.execute(query, (level, start, start + len(nodes)))
                stored.append([(idx, bytes(h)) for idx, h in cursor.fetchall()])
        finally:
            cursor.close()
        if all(len(rows) == len(nodes) and [h for _, h in rows] == nodes
               for rows, (_, _, nodes) in zip(stored, levels)):
            return None  # every idx of the range is there (a primary key), each with its hash
        return _first_difference(
            {(level, start + i): h for level, start, nodes in levels for i, h in enumerate(nodes)},
            {(level, idx): h for rows, (level, _, _) in zip(stored, levels) for idx, h in rows})


def _first_difference(expected: dict, stored: dict) -> str | None:
    """The first node, in the order the appends write them, that is missing or not as computed."""
    for key in sorted(expected.keys() | stored.keys(), key=lambda k: ((k[1] + 1) << k[0], k[0])):
        if expected.get(key) != stored.get(key):
            level, idx = key
            first, last = (idx << level) + 1, (idx + 1) << level
            what = "がありません" if key not in stored else "が、記録から計算した値と一致しません"
            return (f"Merkle 木の節（記録 {first}～{last} 番の部分木）{what}。木が改変されたか、"
                    "記録が改変された可能性があります。")
    return None


def tree_is_missing() -> bool:
    """Whether the log has events the stored tree does not cover (a log from before the tree):
    the roots of its current size cannot be read."""
    size = tree_size()
    try:
        tree.frontier(size)
    except AuditLogFault:
        return True
    return False
