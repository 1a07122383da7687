"""The audit log's stored Merkle tree: append overhead, proofs at 10,000,000 events, and
`audit verify --from-checkpoint` over 100,000 new events.

Usage: .venv/bin/python bench/bench_merkle.py [leaves-for-proofs] [events-after-checkpoint]
Targets (issue 24): append with the tree no more than 10 % slower than without; an inclusion
proof under 5 ms and a consistency proof under 10 ms at 10,000,000 events; verify from a
checkpoint over 100,000 new events under 1 s.

The 10M tree is built directly in SQLite (the node rows the appends would have written, from
synthetic leaves); audit_events then holds only the leaves the timed proofs read, each a primary
key lookup whose cost does not depend on the table's size. The other two parts use real appends
and real chained events. SQLite, one process.
"""
import hashlib
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, text  # noqa: E402

from lifecycle import create_app  # noqa: E402
from lifecycle.actors import SystemActor  # noqa: E402
from lifecycle.audit import merkle, tree  # noqa: E402
from lifecycle.audit.checkpoints import sign_checkpoint, verify_from_checkpoint  # noqa: E402
from lifecycle.audit.events import EventType  # noqa: E402
from lifecycle.audit.models import AuditEvent  # noqa: E402
from lifecycle.audit.services import canonical_data, chain_hash, head, record_event  # noqa: E402
from lifecycle.clock import utcnow  # noqa: E402
from lifecycle.extensions import db  # noqa: E402
from lifecycle.migrate import upgrade  # noqa: E402

ACTOR = SystemActor("system:bench", "計測")


def _app(folder: Path):
    app = create_app({"INSTANCE_PATH": str(folder / "instance"), "DATABASE_URL": f"sqlite:///{folder}/bench.db"})
    return app


def _ms(samples: list[float]) -> str:
    samples = sorted(samples)
    return (f"median {statistics.median(samples) * 1000:.2f} ms, p95 {samples[int(len(samples) * 0.95) - 1] * 1000:.2f} ms,"
            f" max {samples[-1] * 1000:.2f} ms")


def bench_append(count: int = 3000) -> None:
    def run(with_tree: bool) -> float:
        folder = Path(tempfile.mkdtemp(prefix="bench-append-"))
        app = _app(folder)
        with app.app_context():
            upgrade()
            patch = mock.patch.object(tree, "on_append", lambda *a: None) if not with_tree else mock.patch.object(
                tree, "on_append", tree.on_append)
            with patch:
                start = time.perf_counter()
                for i in range(count):
                    with db.transaction():
                        record_event(EventType.ITEM_UPDATED, actor=ACTOR, subject=f"F-2026-{i:06d}", note="計測")
                return (time.perf_counter() - start) / count

    # Alternate the two, three rounds each: the machine is shared.
    without, with_ = [], []
    for _ in range(3):
        without.append(run(False))
        with_.append(run(True))
    a, b = min(without), min(with_)
    print(f"append ({count} events, one transaction each): without tree {a * 1e6:.0f} µs, "
          f"with tree {b * 1e6:.0f} µs per event ({(b / a - 1) * 100:+.1f} %)")


def bench_proofs(leaves: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-proofs-"))
    app = _app(folder)
    with app.app_context():
        upgrade()
        db.session.remove()
        db.engine.dispose()  # the bench writes the file directly below
    start = time.perf_counter()
    conn = sqlite3.connect(folder / "bench.db")
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    builder, batch = tree.NodeBuilder(), []
    sha = hashlib.sha256

    def data(i: int) -> bytes:
        return sha(i.to_bytes(8, "big")).digest()

    chunk = 1 << 16
    for lo in range(0, leaves, chunk):
        hashes = [tree.leaf_hash(data(i)) for i in range(lo, min(lo + chunk, leaves))]
        batch = [(level, idx, h) for level, idx, h in builder.feed(hashes)]
        conn.executemany("INSERT INTO audit_tree_nodes (level, idx, hash) VALUES (?, ?, ?)", batch)
    rng = random.Random(24)
    seqs = sorted({rng.randrange(1, leaves + 1) for _ in range(200)} | {1, leaves})
    pairs = []
    for _ in range(200):
        first = rng.randrange(1, leaves)
        pairs.append((first, rng.randrange(first + 1, leaves + 1)))
    at = utcnow()
    # Only the leaves the proofs below read; see the module docstring.
    ranges = [(0, leaves)]
    for seq in seqs:
        ranges += [*merkle.inclusion_ranges(seq - 1, leaves), (seq - 1, seq)]
    for first, second in pairs:
        ranges += [*merkle.consistency_ranges(first, second), (0, first), (0, second)]
    needed = {idx + 1 for lo, hi in ranges for level, idx in tree.blocks(lo, hi) if level == 0}
    conn.executemany("INSERT INTO audit_events (seq, at, type, actor, subject, data, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     [(s, at.isoformat(sep=" "), "item:updated", "system:bench", None, "{}", data(s - 1).hex())
                      for s in sorted(needed)])
    conn.execute("INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?)", (leaves, data(leaves - 1).hex()))
    conn.commit()
    conn.close()
    print(f"{leaves:,} leaves: stored tree built in {time.perf_counter() - start:.0f} s "
          f"({leaves - bin(leaves).count('1'):,} nodes)")
    with app.app_context():
        merkle.inclusion_json(1)  # warm the connection and statement caches
        inclusion = []
        for seq in seqs:
            t = time.perf_counter()
            proof = merkle.inclusion_json(seq)
            inclusion.append(time.perf_counter() - t)
            assert merkle.verify_inclusion(bytes.fromhex(proof["leaf_hash"]), seq - 1, leaves,
                                           [bytes.fromhex(p) for p in proof["audit_path"]],
                                           bytes.fromhex(proof["root"]))
        print(f"inclusion proof at {leaves:,} events ({len(seqs)} random events): {_ms(inclusion)}")
        consistency = []
        for first, second in pairs:
            t = time.perf_counter()
            proof = merkle.consistency_json(first, second)
            consistency.append(time.perf_counter() - t)
            assert merkle.verify_consistency(first, second, bytes.fromhex(proof["first_root"]),
                                             bytes.fromhex(proof["second_root"]),
                                             [bytes.fromhex(p) for p in proof["proof"]])
        print(f"consistency proof at {leaves:,} events ({len(pairs)} random pairs): {_ms(consistency)}")


def bench_verify_from_checkpoint(after: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-verify-"))
    app = _app(folder)
    with app.app_context():
        upgrade()
        for i in range(50):
            with db.transaction():
                record_event(EventType.ITEM_UPDATED, actor=ACTOR, subject=f"F-2026-{i:06d}", note="計測")
        checkpoint = sign_checkpoint(ACTOR)
        seq, prev = head()
        at, rows = utcnow(), []
        data = canonical_data({"note": "計測"})
        for s in range(seq + 1, seq + after + 1):
            when = at + timedelta(microseconds=s)
            prev = chain_hash(prev, s, when, "item:updated", "system:bench", None, data)
            rows.append({"seq": s, "at": when, "type": "item:updated", "actor": "system:bench", "subject": None,
                         "data": data, "hash": prev})
        with db.engine.begin() as conn:
            for i in range(0, len(rows), 50_000):
                conn.execute(insert(AuditEvent), rows[i:i + 50_000])
            conn.execute(text("UPDATE audit_head SET seq = :s, hash = :h"), {"s": seq + after, "h": prev})
        merkle.rebuild_tree(ACTOR)  # the nodes the appends would have written
        t = time.perf_counter()
        result, walked = verify_from_checkpoint(ACTOR, checkpoint.id)
        elapsed = time.perf_counter() - t
        assert result.ok, result.reason
        print(f"audit verify --from-checkpoint over {walked:,} events after it: {elapsed:.2f} s")


def main() -> None:
    leaves = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    after = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    bench_append()
    bench_verify_from_checkpoint(after)
    bench_proofs(leaves)


if __name__ == "__main__":
    main()
