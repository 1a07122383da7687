"""Ledger (管理簿) page timings with 100,000 items.

Run from the repository root: .venv/bin/python bench/bench_ledger.py [sqlite|postgresql]
Bulk-inserts 100,000 items (70 % forms, 25 % media, 5 % devices, spread over two years, nine
departments and six businesses; Core executemany, no audit events) into a temporary instance,
then times GET /items with several filters through the Flask test client, logged in as an
auditor (sees everything) and as a registrar (sees one department), and prints median and p95.
Target: every median under 50 ms (a bare Flask + SQLite page answers in ~10 ms here).
Exits 1 when the target is missed, so `make bench` notices.
"""
from __future__ import annotations

import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, delete, insert, select, text  # noqa: E402

ITEMS = 100_000
RUNS = 30
TARGET_MS = 50.0
PG_ADMIN = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

WORDS = ["住民票の写し", "課税台帳", "滞納者一覧", "旅券発給", "照会結果", "本人確認情報", "附票",
         "扶養共済", "修学資金", "設備近代化資金", "就学援助", "県営住宅", "自動車税", "督促状"]
FORM_STATUSES = ["registered"] * 3 + ["in_custody"] * 4 + ["in_transfer", "awaiting_destruction"]
MEDIUM_STATUSES = ["registered", "in_custody", "provided", "provided", "returned", "awaiting_destruction"]
#: Past this age most items are gone, as in a ledger that is kept; the rest are the exceptions.
SETTLED_DAYS = {"form": 45, "medium": 120}
STRAGGLERS = 0.03
DEVICE_STATUSES = ["in_service"] * 6 + ["erasure_requested", "erasure_certified", "returned_to_lessor"]


def seed(count: int) -> None:
    from lifecycle.auth.models import Business, Department, User
    from lifecycle.clock import today_jst, utcnow
    from lifecycle.extensions import db
    from lifecycle.items.models import CodeCounter, Item

    rnd = random.Random(20261122)
    users = db.session.scalars(select(User)).all()
    businesses = [b.id for b in db.session.scalars(select(Business))]
    owner = db.session.scalar(select(Department.id).where(Department.is_system_owner.is_(True)))
    bulk_users = [u for u in users if u.department_id == owner]
    now, today = utcnow(), today_jst()
    counters: dict[tuple[str, int], int] = {}
    rows = []
    # oldest first, so that codes rise with created_at as they do in real use
    for n in range(count):
        created = now - timedelta(minutes=(count - n) * 10)  # ~2 years
        year = (created + timedelta(hours=9)).year
        roll = rnd.random()
        kind = "form" if roll < 0.70 else "medium" if roll < 0.95 else "device"
        prefix = {"form": "F", "medium": "M", "device": "D"}[kind]
        counters[(prefix, year)] = counters.get((prefix, year), 0) + 1
        user = rnd.choice(bulk_users if kind != "form" else users)
        row = {"code": f"{prefix}-{year}-{counters[(prefix, year)]:06d}", "kind": kind,
               "title": f"{rnd.choice(WORDS)} {rnd.choice(WORDS)} 第{rnd.randint(1, 999)}号",
               "business_id": rnd.choice(businesses) if kind != "device" else None,
               "holder_id": user.id, "department_id": user.department_id,
               "location": f"書庫{rnd.choice('ABCDE')}-{rnd.randint(1, 20)}", "created_by_id": user.id,
               "created_by": user.login, "created_at": created,
               "retention_until": None, "sheets": None, "contains_my_number": None, "output_at": None,
               "media_type": None, "record_count": None, "recipient": None, "encrypted": None,
               "due_back": None, "device_type": None, "asset_tag": None, "model": None, "serial": None,
               "lessor": None, "lease_contract": None, "lease_start": None, "lease_end": None,
               "has_storage": None}
        settled = kind in SETTLED_DAYS and now - created > timedelta(days=SETTLED_DAYS[kind])
        if settled and rnd.random() > STRAGGLERS:
            row["status"] = "destroyed"
        if kind == "form":
            row.setdefault("status", rnd.choice(FORM_STATUSES))
            row.update( output_at=created, sheets=rnd.randint(1, 30),
                       contains_my_number=rnd.random() < 0.1,
                       retention_until=(created + timedelta(hours=9)).date() + timedelta(days=30))
        elif kind == "medium":
            row.setdefault("status", rnd.choice(MEDIUM_STATUSES))
            row.update(media_type=rnd.choice(["CD-R", "DVD-R", "BD-R", "MO"]),
                       record_count=rnd.randint(10, 50000), recipient=rnd.choice(["教育委員会", "公安委員会", "税務課"]),
                       encrypted=True, due_back=(created + timedelta(hours=9)).date() + timedelta(days=rnd.randint(7, 60)))
        else:
            start = created.date()
            row.update(status=rnd.choice(DEVICE_STATUSES), device_type=rnd.choice(["業務端末", "代表端末", "プリンタ"]),
                       asset_tag=f"A-{n:07d}", model="FMV-D7000", serial=f"SN{n:09d}", lessor="九州リース株式会社",
                       lease_contract=f"L-{n % 97:04d}", lease_start=start, lease_end=start + timedelta(days=6 * 365),
                       has_storage=True)
        rows.append(row)
        if len(rows) == 10000:
            db.session.execute(insert(Item), rows)
            rows = []
    if rows:
        db.session.execute(insert(Item), rows)
    db.session.execute(delete(CodeCounter))
    db.session.execute(insert(CodeCounter), [{"prefix": p, "year": y, "last": last}
                                             for (p, y), last in counters.items()])
    if today.year not in {y for _p, y in counters}:
        print("note: no items in the current year")


def timings(client, url: str) -> tuple[float, float]:
    for _ in range(3):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.get_data(as_text=True)[:300])
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main(backend: str) -> int:
    from lifecycle import create_app
    from lifecycle.extensions import db
    from lifecycle.migrate import upgrade
    from lifecycle.seeds import DEMO_PASSWORD, load_demo

    tmp = Path(tempfile.mkdtemp(prefix="bench-ledger-"))
    pg_name = None
    if backend == "postgresql":
        pg_name = f"bench_ledger_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{pg_name}"'))
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{pg_name}"
    else:
        url = f"sqlite:///{tmp / 'lifecycle.db'}"
    try:
        app = create_app({"INSTANCE_PATH": str(tmp / "instance"), "DATABASE_URL": url,
                          "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False,
                          "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 64})
        with app.app_context():
            upgrade()
            load_demo()
            start = time.perf_counter()
            with db.transaction():  # the session writes only inside one
                seed(ITEMS)
            if backend == "postgresql":
                with db.engine.connect() as conn:
                    conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE items"))  # as autovacuum would
            else:
                with db.engine.connect() as conn:
                    conn.exec_driver_sql("ANALYZE")
            print(f"{backend}: seeded {ITEMS:,} items in {time.perf_counter() - start:.1f} s")
            db.session.remove()
            some_code = db.session.scalar(select(text("code")).select_from(text("items"))
                                          .where(text("kind = 'form'")).order_by(text("id")).offset(ITEMS // 3).limit(1))
            db.session.remove()

        cases = [
            ("auditor", "/items?kind=form"),
            ("auditor", "/items?kind=form&page=1000"),
            ("auditor", "/items?kind=form&status=in_custody"),
            ("auditor", "/items?kind=form&department=zeimu"),
            ("auditor", "/items?kind=form&business=car-tax&status=registered"),
            ("auditor", "/items?kind=form&from=2026-01-01&to=2026-01-31"),
            ("auditor", "/items?kind=form&q=%E8%AA%B2%E7%A8%8E%E5%8F%B0%E5%B8%B3"),  # 課税台帳
            ("auditor", "/items?kind=form&q=%E8%A6%8B%E3%81%A4%E3%81%8B%E3%82%89%E3%81%AA%E3%81%84"),  # 見つからない
            ("auditor", f"/items?kind=form&q={some_code}"),
            ("auditor", f"/items?kind=form&q={some_code[-6:]}"),
            ("auditor", "/items?kind=form&sort=deadline"),
            ("auditor", "/items?kind=form&overdue=true"),
            ("auditor", "/items?kind=medium&status=provided&overdue=true"),
            ("auditor", "/items?kind=device&sort=-deadline"),
            ("registrar", "/items?kind=form"),
            ("registrar", "/items?kind=form&status=in_custody&sort=title"),
            ("registrar", "/items?kind=form&q=%E6%97%85%E5%88%B8"),  # 旅券
        ]
        failed = False
        print(f"{'user':<10} {'page':<62} {'median':>8} {'p95':>8}")
        for who in ("auditor", "registrar"):
            client = app.test_client()
            with app.app_context():
                response = client.post("/login", data={"login": who, "password": DEMO_PASSWORD})
                assert response.status_code == 302
                for user, url_path in cases:
                    if user != who:
                        continue
                    median, p95 = timings(client, url_path)
                    mark = "" if median < TARGET_MS else "  ← over target"
                    failed |= median >= TARGET_MS
                    print(f"{who:<10} {url_path[:62]:<62} {median:7.1f}ms {p95:7.1f}ms{mark}")
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if pg_name:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
            admin.dispose()
    if failed:
        print(f"FAIL: a median is ≥ {TARGET_MS} ms")
        return 1
    print(f"OK: every median under {TARGET_MS:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "sqlite"))
