"""How long a registration holds the write lock.

Writers are serialised (lifecycle/db.py), so the time a registration spends inside
db.transaction() bounds how many registrations a second the whole deployment takes, however many
servers it has: at 5 ms held, 200 a second at most. This registers forms over the API in one
process (after a warm-up) and prints the median and p95 of the locked section and of the whole
request, on SQLite and, when a server answers, on PostgreSQL.
Usage: .venv/bin/python bench/bench_write_section.py [count]
"""
import contextlib
import importlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402

from lifecycle import create_app  # noqa: E402
from lifecycle.auth.services import issue_token  # noqa: E402
from lifecycle.actors import SystemActor
from lifecycle.extensions import db  # noqa: E402
from lifecycle.migrate import upgrade  # noqa: E402
from lifecycle.seeds import load_demo  # noqa: E402

PG_ADMIN = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BODY = {"kind": "form", "title": "計測用 帳票", "business": "car-tax", "sheets": 2, "location": "書庫"}


def timed_transactions(held: list[float]):
    """Wraps Database.transaction so each outermost one appends how long it was open."""
    dbmodule = importlib.import_module("lifecycle.db")
    original = dbmodule.Database.transaction

    @contextlib.contextmanager
    def transaction(self):
        if dbmodule._writing.get():
            with original(self) as session:
                yield session
            return
        start = time.perf_counter()
        with original(self) as session:
            yield session
        held.append(time.perf_counter() - start)

    dbmodule.Database.transaction = transaction
    return lambda: setattr(dbmodule.Database, "transaction", original)


def measure(label: str, url: str, folder: Path, count: int) -> None:
    app = create_app({"INSTANCE_PATH": str(folder / label), "DATABASE_URL": url,
                      "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 64})
    with app.app_context():
        upgrade()
        load_demo()
        token = issue_token(SystemActor("system:bench", "性能測定"), "registrar")
        db.session.remove()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    held: list[float] = []
    restore = timed_transactions(held)
    try:
        requests = []
        for n in range(count + 100):
            start = time.perf_counter()
            response = client.post("/api/v1/items", json=BODY, headers=headers)
            requests.append(time.perf_counter() - start)
            assert response.status_code == 201, response.get_data(as_text=True)
    finally:
        restore()
    held, requests = held[100:], requests[100:]  # after the warm-up
    ms = lambda values, q: statistics.quantiles(values, n=100)[q - 1] * 1000  # noqa: E731
    print(f"  {label:<10} write section median {statistics.median(held) * 1000:5.2f} ms, p95 {ms(held, 95):5.2f} ms;"
          f" request median {statistics.median(requests) * 1000:5.2f} ms"
          f" -> at most {1 / statistics.median(held):,.0f} registrations/s system-wide", flush=True)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    print(f"registrations over the API, {count} after 100 of warm-up")
    with tempfile.TemporaryDirectory(prefix="lifecycle-write-") as tmp:
        folder = Path(tmp)
        measure("sqlite", f"sqlite:///{folder}/bench.db", folder, count)
        name = f"bench_write_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        try:
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as exc:
            print(f"  postgresql skipped: no server at {PG_ADMIN} ({type(exc).__name__})")
            return
        try:
            measure("postgresql", PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", folder, count)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
