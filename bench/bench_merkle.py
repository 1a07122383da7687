"""How long the audit log's Merkle tree takes over a million events: the root, an inclusion proof
and a consistency proof as the API computes them (one streamed pass over the leaves, nothing
cached), and a signed checkpoint (the root is computed before the write lock is taken).

Usage: .venv/bin/python bench/bench_merkle.py [events] [sqlite|postgresql]
Target: seconds, not minutes, for 1,000,000 events. Appending an event does no tree work at all.
"""
import hashlib
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, text  # noqa: E402

from lifecycle import create_app  # noqa: E402
from lifecycle.actors import SystemActor  # noqa: E402
from lifecycle.audit import merkle  # noqa: E402
from lifecycle.audit.checkpoints import sign_checkpoint  # noqa: E402
from lifecycle.audit.models import AuditEvent, AuditHead  # noqa: E402
from lifecycle.clock import utcnow  # noqa: E402
from lifecycle.extensions import db  # noqa: E402
from lifecycle.migrate import upgrade  # noqa: E402


def timed(label: str, call):
    start = time.perf_counter()
    result = call()
    print(f"{label}: {time.perf_counter() - start:.2f} s")
    return result


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    backend = sys.argv[2] if len(sys.argv) > 2 else "sqlite"
    folder = Path(tempfile.mkdtemp(prefix="bench-merkle-"))
    url = (f"sqlite:///{folder}/bench.db" if backend == "sqlite"
           else os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    app = create_app({"INSTANCE_PATH": str(folder / "instance"), "DATABASE_URL": url})
    with app.app_context():
        upgrade()
        with db.engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_events"))
            conn.execute(text("DELETE FROM audit_head"))
        # The tree reads only the hash column: stand-in hashes are enough to time it.
        at, batch, digest = utcnow(), [], ""
        with db.engine.begin() as conn:
            for seq in range(1, count + 1):
                digest = hashlib.sha256(str(seq).encode()).hexdigest()
                batch.append({"seq": seq, "at": at + timedelta(microseconds=seq), "type": "item:updated",
                              "actor": "system:bench", "subject": None, "data": "{}", "hash": digest})
                if len(batch) == 50_000:
                    conn.execute(insert(AuditEvent), batch)
                    batch = []
            if batch:
                conn.execute(insert(AuditEvent), batch)
            conn.execute(insert(AuditHead), [{"id": 1, "seq": count, "hash": digest}])
        print(f"{count:,} events ({backend})")
        timed("GET /audit/tree (root)", merkle.tree_json)
        timed(f"GET /audit/proof/inclusion?seq={count // 2}", lambda: merkle.inclusion_json(count // 2))
        timed(f"GET /audit/proof/consistency?first={count // 3}", lambda: merkle.consistency_json(count // 3))
        timed("sign_checkpoint (root before the lock)", lambda: sign_checkpoint(SystemActor("system:bench", "計測")))
        if backend != "sqlite":
            with db.engine.begin() as conn:
                conn.execute(text("DELETE FROM audit_checkpoints"))
                conn.execute(text("DELETE FROM audit_events"))
                conn.execute(text("DELETE FROM audit_head"))


if __name__ == "__main__":
    main()
