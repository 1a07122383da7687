"""Purging a million due 個人番号 copies (issue: under 20 s, no batch holding the write lock for more
than 0.5 s, and the web app answering a page meanwhile).

Bulk-inserts sealed copies with the real keystore (Core executemany), then runs the real
purge_due() while another thread keeps requesting the 個人番号 page as a logged-in user, and prints
the purge time, the longest lock hold and the page latency (max / p95).
Usage: .venv/bin/python bench/bench_purge.py [rows] [sqlite|postgresql]
"""
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402
from sqlalchemy import create_engine, func, insert, select, text  # noqa: E402

from lifecycle import create_app  # noqa: E402
from lifecycle.clock import utcnow  # noqa: E402
from lifecycle.actors import SystemActor
from lifecycle.extensions import db  # noqa: E402
from lifecycle.migrate import upgrade  # noqa: E402
from lifecycle.mynumber import services  # noqa: E402
from lifecycle.checkdigit import check_digit, mask  # noqa: E402
from lifecycle.mynumber.keystore import associated_data, bucket_of  # noqa: E402
from lifecycle.mynumber.models import MyNumberCopy, MyNumberDeletion  # noqa: E402
from lifecycle.seeds import DEMO_PASSWORD, load_demo  # noqa: E402

LIMIT_SECONDS = 20.0
LOCK_LIMIT_SECONDS = 0.5
CHUNK = 50_000
BUCKETS = 24  # the copies fall due over the past day: one data key per hour


def _database(backend: str, folder: Path):
    if backend == "sqlite":
        return f"sqlite:///{folder}/bench.db", lambda: None
    admin_url = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    name = f"bench_purge_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin_url.rsplit("/", 1)[0] + f"/{name}", drop


def _insert_copies(rows: int) -> float:
    store = services.keystore()
    now = utcnow().replace(microsecond=0)
    start = time.perf_counter()
    buckets = []
    for hour in range(BUCKETS):
        due = now - timedelta(hours=hour + 1)
        bucket = bucket_of(due)
        buckets.append((due, bucket, AESGCM(store.data_key(bucket, create=True))))
    urandom = os.urandom
    with db.engine.begin() as conn:
        batch = []
        for copy_id in range(1, rows + 1):
            due, bucket, aead = buckets[copy_id % BUCKETS]
            first = f"{copy_id:011d}"
            number = first + str(check_digit(first))
            nonce = urandom(12)
            batch.append({"id": copy_id, "status": "retained", "masked": mask(number),
                          "provided_to": "ベンチ市 市民課", "reason": "bench", "retain_minutes": 4320,
                          "recorded_by": "bulk", "recorded_by_id": None, "department": "shicho",
                          "created_at": due - timedelta(minutes=4320), "purge_after": due,
                          "key_bucket": bucket,
                          "ciphertext": nonce + aead.encrypt(nonce, number.encode(),
                                                             associated_data(copy_id, bucket))})
            if len(batch) == CHUNK:
                conn.execute(insert(MyNumberCopy), batch)
                batch = []
        if batch:
            conn.execute(insert(MyNumberCopy), batch)
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('my_number_copies', 'id'), :n)"),
                         {"n": rows})
    return time.perf_counter() - start


def _hammer(app, stop: threading.Event, latencies: list, failures: list, stamps=None) -> None:
    stamps = [] if stamps is None else stamps
    client = app.test_client()
    response = client.post("/login", data={"login": "bulk", "password": DEMO_PASSWORD})
    assert response.status_code == 302, response.status_code
    while not stop.is_set():
        started = time.perf_counter()
        response = client.get("/my-number-copies")
        latencies.append(time.perf_counter() - started)
        stamps.append(started)
        if response.status_code != 200:
            failures.append(response.status_code)
        time.sleep(0.005)


def _percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else float("nan")


def main() -> int:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    backend = sys.argv[2] if len(sys.argv) > 2 else "sqlite"
    folder = Path(tempfile.mkdtemp(prefix="bench-purge-"))
    url, drop = _database(backend, folder)
    app = create_app({"INSTANCE_PATH": str(folder / "instance"), "DATABASE_URL": url,
                      "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False,
                      "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 64})
    try:
        with app.app_context():
            upgrade()
            load_demo()
            inserted = _insert_copies(rows)
            print(f"backend {backend}: inserted {rows:,} sealed copies in {inserted:.1f} s "
                  f"({rows / inserted:,.0f}/s), {len(services.keystore().buckets())} key files")
            db.session.remove()

            idle: list[float] = []
            stop, failures = threading.Event(), []
            warm = threading.Thread(target=_hammer, args=(app, stop, idle, failures))
            warm.start()
            time.sleep(1.0)
            stop.set()
            warm.join()

            during: list[float] = []
            stop = threading.Event()
            stamps: list[float] = []
            worker = threading.Thread(target=_hammer, args=(app, stop, during, failures, stamps))
            worker.start()
            time.sleep(0.3)
            started = time.perf_counter()
            result = services.purge_due(SystemActor("system:bench", "性能測定"), rule="manual")
            elapsed = time.perf_counter() - started
            stop.set()
            worker.join()

            left = db.session.scalar(select(func.count()).select_from(MyNumberCopy))
            records = db.session.scalar(select(func.count()).select_from(MyNumberDeletion))
            keys_left = len(services.keystore().buckets())
    finally:
        db.session.remove()
        db.engine.dispose()
        drop()
        shutil.rmtree(folder, ignore_errors=True)

    slowest = sorted(zip(during, stamps), reverse=True)[:3]
    sizes = [n for n, _ in result.batches]
    print(f"purged {result.purged:,} in {elapsed:.2f} s ({result.purged / elapsed:,.0f} rows/s); "
          f"{len(result.batches)} batches of {min(sizes):,}–{max(sizes):,} rows; "
          f"longest write-lock hold {result.max_lock_seconds * 1000:.0f} ms; "
          f"{result.keys_destroyed} key files destroyed")
    print("lock hold per batch (ms): " + " ".join(f"{s * 1000:.0f}" for _, s in result.batches))
    print(f"left: {left} copies, {keys_left} key files; deletion records: {records:,}")
    print(f"page /my-number-copies idle:   n={len(idle)} p95 {_percentile(idle, .95) * 1000:.0f} ms "
          f"max {max(idle) * 1000:.0f} ms")
    print(f"page /my-number-copies during: n={len(during)} median {statistics.median(during) * 1000:.0f} ms "
          f"p95 {_percentile(during, .95) * 1000:.0f} ms max {max(during) * 1000:.0f} ms; "
          f"non-200 answers: {len(failures)}; slowest at "
          + ", ".join(f"{t - started:+.1f} s ({latency * 1000:.0f} ms)" for latency, t in slowest))
    ok = (result.purged == rows and left == 0 and records == rows and keys_left == 0
          and elapsed < LIMIT_SECONDS and result.max_lock_seconds < LOCK_LIMIT_SECONDS and not failures)
    print("OK" if ok else "FAILED: over the limits of the issue (20 s, 0.5 s lock) or incomplete")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
