"""How long `lifecycle audit verify` takes over a million events (issue: under 8 s, DB read included).

Builds the chain with the real hashing function but bulk inserts, then times verify_chain().
Usage: .venv/bin/python bench/bench_audit_verify.py [events] [sqlite|postgresql]
"""
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, text  # noqa: E402

from lifecycle import create_app  # noqa: E402
from lifecycle.audit.models import AuditEvent, AuditHead  # noqa: E402
from lifecycle.audit.services import GENESIS, canonical_data, chain_hash, verify_chain  # noqa: E402
from lifecycle.clock import utcnow  # noqa: E402
from lifecycle.extensions import db  # noqa: E402
from lifecycle.migrate import upgrade  # noqa: E402


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    backend = sys.argv[2] if len(sys.argv) > 2 else "sqlite"
    folder = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    url = (f"sqlite:///{folder}/bench.db" if backend == "sqlite"
           else os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    app = create_app({"INSTANCE_PATH": str(folder / "instance"), "DATABASE_URL": url})
    with app.app_context():
        upgrade()
        with db.engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_events"))
            conn.execute(text("DELETE FROM audit_head"))
        start = time.perf_counter()
        prev, at, batch = GENESIS, utcnow(), []
        with db.engine.begin() as conn:
            for seq in range(1, count + 1):
                at_i = at + timedelta(microseconds=seq)
                data = canonical_data({"from": "in_custody", "to": "in_transfer", "note": f"引継ぎ {seq}"})
                subject = f"F-2026-{seq % 100000:06d}"
                prev = chain_hash(prev, seq, at_i, "custody:transfer_requested", "registrar", subject, data)
                batch.append({"seq": seq, "at": at_i, "type": "custody:transfer_requested",
                              "actor": "registrar", "subject": subject, "data": data, "hash": prev})
                if len(batch) == 50_000:
                    conn.execute(insert(AuditEvent), batch)
                    batch = []
            if batch:
                conn.execute(insert(AuditEvent), batch)
            conn.execute(insert(AuditHead), [{"id": 1, "seq": count, "hash": prev}])
        print(f"built {count:,} events in {time.perf_counter() - start:.1f} s ({backend})")
        start = time.perf_counter()
        result = verify_chain()
        elapsed = time.perf_counter() - start
        assert result.ok and result.events == count, result
        print(f"verify: {count:,} events in {elapsed:.2f} s = {count / elapsed:,.0f} events/s (target < 8 s)")
        if backend != "sqlite":
            with db.engine.begin() as conn:
                conn.execute(text("DELETE FROM audit_events"))
                conn.execute(text("DELETE FROM audit_head"))


if __name__ == "__main__":
    main()
