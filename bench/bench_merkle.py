"""The audit log's stored Merkle tree: append overhead, proofs at 10,000,000 events, and
`audit verify --from-checkpoint` over 100,000 new events, on SQLite or PostgreSQL.

Usage: .venv/bin/python bench/bench_merkle.py [sqlite|postgresql] [--part append|verify|proofs]...
       [--leaves 10000000] [--after 100000] [--appends 2000] [--rounds 7]
Targets (issue 24): append with the tree no more than 10 % slower than without; an inclusion
proof under 5 ms and a consistency proof under 10 ms at 10,000,000 events; verify from a
checkpoint over 100,000 new events under 1 s.

Each part gets a database of its own (a file for SQLite; CREATE DATABASE on the server named by
BENCH_PG_URL for PostgreSQL, dropped afterwards). The machine is shared, so every figure comes
with the load average before and after it, several runs give a median and a spread, and CPU time
is this process's (on PostgreSQL the server's share is not in it).

append: real appends (record_event, one transaction each) into two fresh databases per round,
one with the tree maintained and one with tree.on_append replaced by nothing, the order of the
two alternating from round to round; the ratio of each round's pair is reported too.
verify: real chained events after a signed checkpoint (bulk inserted with the real hash
function, the tree rebuilt from them as the appends would have written it), then the verification.
proofs: the 10M tree's node rows are generated from synthetic leaves and written directly (COPY on
PostgreSQL); audit_events then holds only the leaves the timed proofs read, each a primary-key
lookup whose cost does not depend on the table's size.
"""
import argparse
import hashlib
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, insert, text  # noqa: E402

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
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def load() -> str:
    return "load " + " ".join(f"{x:.1f}" for x in os.getloadavg())


@contextmanager
def fresh_app(backend: str):
    """An app on a new, migrated, empty database, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="bench-merkle-"))
    admin, name = None, None
    if backend == "sqlite":
        url = f"sqlite:///{folder}/bench.db"
    else:
        name = f"bench_merkle_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    app = create_app({"INSTANCE_PATH": str(folder / "instance"), "DATABASE_URL": url})
    try:
        with app.app_context():
            upgrade()
            yield folder
            db.session.remove()
            db.engine.dispose()
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        shutil.rmtree(folder, ignore_errors=True)


def _spread(samples: list[float], unit: float, suffix: str) -> str:
    samples = sorted(samples)
    return (f"median {statistics.median(samples) * unit:.2f} {suffix} "
            f"(min {samples[0] * unit:.2f}, max {samples[-1] * unit:.2f}, n={len(samples)})")


def _ms(samples: list[float]) -> str:
    samples = sorted(samples)
    return (f"median {statistics.median(samples) * 1000:.2f} ms, p95 {samples[int(len(samples) * 0.95) - 1] * 1000:.2f} ms,"
            f" max {samples[-1] * 1000:.2f} ms")


# --- append ---------------------------------------------------------------------------------------

def _append_run(backend: str, count: int, with_tree: bool) -> tuple[float, float]:
    """(wall, CPU) seconds per append of `count` appends into a fresh database."""
    with fresh_app(backend):
        for i in range(50):  # warm the statement caches and the connection pool
            with db.transaction():
                record_event(EventType.ITEM_UPDATED, actor=ACTOR, subject=f"F-2026-{i:06d}", note="計測")
        replacement = tree.on_append if with_tree else (lambda *args: None)
        with mock.patch.object(tree, "on_append", replacement):
            wall, cpu = time.perf_counter(), time.process_time()
            for i in range(count):
                with db.transaction():
                    record_event(EventType.ITEM_UPDATED, actor=ACTOR, subject=f"F-2026-{i:06d}", note="計測")
            return (time.perf_counter() - wall) / count, (time.process_time() - cpu) / count


def bench_append(backend: str, count: int, rounds: int) -> None:
    print(f"append, {backend}: {rounds} rounds of {count} appends (one transaction each) without and with "
          f"the tree, alternating; {load()}")
    without, with_, cpu_without, cpu_with, ratios = [], [], [], [], []
    for r in range(rounds):
        order = (False, True) if r % 2 == 0 else (True, False)
        got = {}
        for with_tree in order:
            got[with_tree] = _append_run(backend, count, with_tree)
        without.append(got[False][0])
        with_.append(got[True][0])
        cpu_without.append(got[False][1])
        cpu_with.append(got[True][1])
        ratios.append(got[True][0] / got[False][0])
    print(f"  without tree: wall {_spread(without, 1e6, 'µs')}, CPU median {statistics.median(cpu_without) * 1e6:.0f} µs")
    print(f"  with tree:    wall {_spread(with_, 1e6, 'µs')}, CPU median {statistics.median(cpu_with) * 1e6:.0f} µs")
    pct = [(x - 1) * 100 for x in sorted(ratios)]
    print(f"  with/without per round: median {statistics.median(pct):+.1f} % (min {pct[0]:+.1f} %, max {pct[-1]:+.1f} %); "
          f"ratio of medians {(statistics.median(with_) / statistics.median(without) - 1) * 100:+.1f} %; "
          f"CPU {(statistics.median(cpu_with) / statistics.median(cpu_without) - 1) * 100:+.1f} %; {load()}")


# --- verify from a checkpoint -----------------------------------------------------------------------

def bench_verify_from_checkpoint(backend: str, after: int, runs: int = 5) -> None:
    with fresh_app(backend):
        for i in range(50):
            with db.transaction():
                record_event(EventType.ITEM_UPDATED, actor=ACTOR, subject=f"F-2026-{i:06d}", note="計測")
        checkpoint = sign_checkpoint(ACTOR)
        seq, prev = head()
        at, rows = utcnow(), []
        data = canonical_data({"from": "in_custody", "to": "in_transfer", "note": "計測"})
        for s in range(seq + 1, seq + after + 1):
            when = at + timedelta(microseconds=s)
            subject = f"F-2026-{s % 100000:06d}"
            prev = chain_hash(prev, s, when, "custody:transfer_requested", "system:bench", subject, data)
            rows.append({"seq": s, "at": when, "type": "custody:transfer_requested", "actor": "system:bench",
                         "subject": subject, "data": data, "hash": prev})
        with db.engine.begin() as conn:
            for i in range(0, len(rows), 50_000):
                conn.execute(insert(AuditEvent), rows[i:i + 50_000])
            conn.execute(text("UPDATE audit_head SET seq = :s, hash = :h"), {"s": seq + after, "h": prev})
        merkle.rebuild_tree(ACTOR)  # the nodes the appends would have written
        if backend == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        print(f"verify --from-checkpoint, {backend}: {load()}")
        walls, cpus = [], []
        for _ in range(runs):
            wall, cpu = time.perf_counter(), time.process_time()
            result, walked = verify_from_checkpoint(ACTOR, checkpoint.id)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
            assert result.ok, result.reason
        print(f"  over {walked:,} events after the checkpoint: wall {_spread(walls, 1, 's')}; "
              f"CPU median {statistics.median(cpus):.2f} s = {statistics.median(cpus) / walked * 1e6:.1f} µs per event; "
              f"{load()}")


# --- proofs at 10,000,000 events ----------------------------------------------------------------------

def _leaf_data(i: int) -> bytes:
    return hashlib.sha256(i.to_bytes(8, "big")).digest()


def _write_nodes_sqlite(folder: Path, leaves: int, events: list[tuple]) -> None:
    db.session.remove()
    db.engine.dispose()  # the bench writes the file directly
    conn = sqlite3.connect(folder / "bench.db")
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    builder = tree.NodeBuilder()
    for lo in range(0, leaves, 1 << 16):
        hashes = [tree.leaf_hash(_leaf_data(i)) for i in range(lo, min(lo + (1 << 16), leaves))]
        conn.executemany("INSERT INTO audit_tree_nodes (level, idx, hash) VALUES (?, ?, ?)", builder.feed(hashes))
    conn.executemany("INSERT INTO audit_events (seq, at, type, actor, subject, data, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     [(s, at.isoformat(sep=" "), t, a, subj, d, h) for s, at, t, a, subj, d, h in events])
    conn.execute("INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?)", (leaves, _leaf_data(leaves - 1).hex()))
    conn.commit()
    conn.close()


def _write_nodes_postgresql(leaves: int, events: list[tuple]) -> None:
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        # The primary key is built once after the load rather than kept up row by row.
        cursor.execute("ALTER TABLE audit_tree_nodes DROP CONSTRAINT pk_audit_tree_nodes")
        builder = tree.NodeBuilder()
        with cursor.copy("COPY audit_tree_nodes (level, idx, hash) FROM STDIN") as copy:
            for lo in range(0, leaves, 1 << 16):
                hashes = [tree.leaf_hash(_leaf_data(i)) for i in range(lo, min(lo + (1 << 16), leaves))]
                for row in builder.feed(hashes):
                    copy.write_row(row)
        cursor.execute("ALTER TABLE audit_tree_nodes ADD CONSTRAINT pk_audit_tree_nodes PRIMARY KEY (level, idx)")
        cursor.executemany("INSERT INTO audit_events (seq, at, type, actor, subject, data, hash) "
                           "VALUES (%s, %s, %s, %s, %s, %s, %s)", events)
        cursor.execute("INSERT INTO audit_head (id, seq, hash) VALUES (1, %s, %s)", (leaves, _leaf_data(leaves - 1).hex()))
        raw.commit()
        cursor.close()
    finally:
        raw.close()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def bench_proofs(backend: str, leaves: int) -> None:
    with fresh_app(backend) as folder:
        start = time.perf_counter()
        rng = random.Random(24)
        seqs = sorted({rng.randrange(1, leaves + 1) for _ in range(200)} | {1, leaves})
        pairs = []
        for _ in range(200):
            first = rng.randrange(1, leaves)
            pairs.append((first, rng.randrange(first + 1, leaves + 1)))
        # Only the leaves the proofs below read; see the module docstring.
        ranges = [(0, leaves)]
        for seq in seqs:
            ranges += [*merkle.inclusion_ranges(seq - 1, leaves), (seq - 1, seq)]
        for first, second in pairs:
            ranges += [*merkle.consistency_ranges(first, second), (0, first), (0, second)]
        needed = sorted({idx + 1 for lo, hi in ranges for level, idx in tree.blocks(lo, hi) if level == 0})
        at = utcnow()
        events = [(s, at, "item:updated", "system:bench", None, "{}", _leaf_data(s - 1).hex()) for s in needed]
        if backend == "sqlite":
            _write_nodes_sqlite(folder, leaves, events)
        else:
            _write_nodes_postgresql(leaves, events)
        print(f"proofs, {backend}: {leaves:,} leaves, stored tree built in {time.perf_counter() - start:.0f} s "
              f"({leaves - bin(leaves).count('1'):,} node rows, {len(needed)} leaf rows); {load()}")
        merkle.inclusion_json(1)  # warm the connection and statement caches
        inclusion, cpu = [], time.process_time()
        for seq in seqs:
            t = time.perf_counter()
            proof = merkle.inclusion_json(seq)
            inclusion.append(time.perf_counter() - t)
            assert merkle.verify_inclusion(bytes.fromhex(proof["leaf_hash"]), seq - 1, leaves,
                                           [bytes.fromhex(p) for p in proof["audit_path"]],
                                           bytes.fromhex(proof["root"]))
        cpu = (time.process_time() - cpu) / len(seqs)
        print(f"  inclusion proof ({len(seqs)} random events): {_ms(inclusion)}; CPU {cpu * 1000:.2f} ms each "
              f"(with the check); {load()}")
        consistency, cpu = [], time.process_time()
        for first, second in pairs:
            t = time.perf_counter()
            proof = merkle.consistency_json(first, second)
            consistency.append(time.perf_counter() - t)
            assert merkle.verify_consistency(first, second, bytes.fromhex(proof["first_root"]),
                                             bytes.fromhex(proof["second_root"]),
                                             [bytes.fromhex(p) for p in proof["proof"]])
        cpu = (time.process_time() - cpu) / len(pairs)
        print(f"  consistency proof ({len(pairs)} random pairs): {_ms(consistency)}; CPU {cpu * 1000:.2f} ms each "
              f"(with the check); {load()}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("backend", nargs="?", default="sqlite", choices=("sqlite", "postgresql"))
    parser.add_argument("--part", action="append", choices=("append", "verify", "proofs"))
    parser.add_argument("--leaves", type=int, default=10_000_000)
    parser.add_argument("--after", type=int, default=100_000)
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    parts = args.part or ["append", "verify", "proofs"]
    if "append" in parts:
        bench_append(args.backend, args.appends, args.rounds)
    if "verify" in parts:
        bench_verify_from_checkpoint(args.backend, args.after)
    if "proofs" in parts:
        bench_proofs(args.backend, args.leaves)


if __name__ == "__main__":
    main()
