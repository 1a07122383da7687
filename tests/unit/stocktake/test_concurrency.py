"""Two scanners on one stocktake at once: both are counted, each label once (SQLite and
PostgreSQL alike; LIFECYCLE_TEST_DB picks the backend)."""
import threading
from datetime import timedelta

from sqlalchemy import func, select

from lifecycle.audit.services import verify_chain
from lifecycle.auth.services import get_user
from lifecycle.clock import today_jst
from lifecycle.extensions import db
from lifecycle.stocktake import services
from lifecycle.stocktake.models import StocktakeScan
from tests import factories


def _scanners(app, stocktake_id, lists):
    barrier = threading.Barrier(len(lists))
    results: list[list[str]] = [[] for _ in lists]

    def run(index, login, codes):
        with app.app_context():
            actor = get_user(login)
            db.session.rollback()
            barrier.wait()
            for code in codes:
                try:
                    results[index].append(services.record_scan(actor, stocktake_id, code).outcome)
                except Exception as exc:  # pragma: no cover - would be the bug this test looks for
                    results[index].append(repr(exc))
            db.session.remove()

    threads = [threading.Thread(target=run, args=(i, *pair)) for i, pair in enumerate(lists)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_two_scanners_at_once_count_each_label_once(app, world):
    codes = [factories.form(world["registrar"]).code for _ in range(12)]
    stocktake = services.plan_stocktake(world["security2"], {
        "department": "zeimu", "kinds": ["form"], "due": (today_jst() + timedelta(days=7)).isoformat(),
        "scanners": ["registrar"]})
    # Both read the first eight (the same shelf from two ends), each then reads two of his own.
    first = codes[:8] + codes[8:10]
    second = list(reversed(codes[:8])) + codes[10:12]
    results = _scanners(app, stocktake.id, [("registrar", first), ("security2", second)])
    flat = results[0] + results[1]
    assert flat.count("confirmed") == 12 and flat.count("duplicate") == 8, results
    db.session.expire_all()
    counts = services.counts(stocktake.id)
    assert (counts.expected, counts.confirmed, counts.remaining) == (12, 12, 0)
    assert db.session.scalar(select(func.count()).select_from(StocktakeScan)
                             .where(StocktakeScan.stocktake_id == stocktake.id)) == 12
    assert verify_chain().ok
