"""Every PDF served under /reports/ carries a PAdES signature that pdfsig and pyHanko accept."""
import pytest
from sqlalchemy import select

from lifecycle import crypto
from lifecycle.destruction.models import DestructionBatch
from lifecycle.extensions import db
from lifecycle.logreview import imports
from lifecycle.logreview import services as logreview
from lifecycle.seeds import load_demo_items
from tests.signatures import check
from tests.unit.logreview.test_services import _quarter_of_logs, csv_file
from tests.web.test_devices import certify


@pytest.fixture
def report_urls(app, api, world):
    """One URL for each /reports/…pdf route, with demo data behind it."""
    codes = load_demo_items()
    batch = db.session.scalars(select(DestructionBatch).order_by(DestructionBatch.id)).first()
    return {
        "/reports/ledger.pdf": "/reports/ledger.pdf?kind=form",
        "/reports/exceptions.pdf": "/reports/exceptions.pdf",
        "/reports/terminal-uses.pdf": "/reports/terminal-uses.pdf",
        "/reports/training.pdf": "/reports/training.pdf",
        "/reports/custody/<code>.pdf": f"/reports/custody/{codes[0]}.pdf",
        "/reports/destruction/<int:batch_id>.pdf": f"/reports/destruction/{batch.id}.pdf",
        "/reports/erasure/<code>.pdf": f"/reports/erasure/{certify(api, world)}.pdf",
        "/reports/stocktake/<int:stocktake_id>.pdf": f"/reports/stocktake/{_stocktake(world)}.pdf",
        "/reports/log-review/<int:review_id>/<department>.pdf": f"/reports/log-review/{_log_review(world)}/zeimu.pdf",
    }


def _log_review(world) -> int:
    """A quarter's review drawn over an imported log (the demo has the terminal ZEIMU-CS01)."""
    imports.import_log(world["admin"], csv_file(*_quarter_of_logs(world, count=4)), "log.csv")
    return logreview.open_review(world["auditor"], "2026Q3").id


def _stocktake(world) -> int:
    from datetime import timedelta

    from lifecycle.clock import today_jst
    from lifecycle.stocktake.services import plan_stocktake

    return plan_stocktake(world["security2"], {"department": "zeimu", "kinds": ["form"],
                                               "due": (today_jst() + timedelta(days=7)).isoformat()}).id


def test_every_report_pdf_is_signed(app, client, login, report_urls, tmp_path):
    rules = {r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/reports/") and r.rule.endswith(".pdf")}
    assert rules == set(report_urls), "a report PDF route without a signature test"
    login("auditor")
    ca = crypto.signing_ca_pem(app.instance_path)
    for rule, url in report_urls.items():
        response = client.get(url)
        assert response.status_code == 200 and response.mimetype == "application/pdf", (url, response.status_code)
        verdict = check(response.data, ca, tmp_path / rule.strip("/").replace("/", "_").replace("<", "").replace(">", "").replace(":", ""))
        assert verdict.pdfsig_valid, (url, verdict.pdfsig)
        assert verdict.pyhanko_valid, (url, verdict.pyhanko)


def test_label_pdfs_stay_unsigned(app, client, login, world):
    codes = load_demo_items()
    login("registrar")
    response = client.get(f"/labels/{codes[0]}.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert b"/ByteRange" not in response.data
