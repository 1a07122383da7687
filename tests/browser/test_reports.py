"""The auditor's desk in a real browser: pulling a 管理簿 PDF from the index form, a refused
period shown in Japanese, the exceptions page and the statistics chart (inline SVG under the CSP)."""
from __future__ import annotations

import re

import pytest

from tests.browser.helpers import register_form

pytestmark = pytest.mark.browser


def test_auditor_pulls_a_ledger_pdf_and_csv_from_the_index(new_page, live_server):
    registrar = new_page("registrar")
    code = register_form(registrar, live_server, "自動車税 課税台帳 出力（報告書テスト）")

    auditor = new_page("auditor")
    auditor.goto(live_server + "/")
    auditor.click("nav.mainnav a:has-text('帳票出力・統計')")
    auditor.wait_for_url(live_server + "/reports")
    assert auditor.locator("h1").inner_text() == "帳票出力・統計"
    auditor.select_option("#r-kind", "form")
    auditor.select_option("#r-department", "zeimu")
    # The button's request is observed, then fetched again through the page's own session:
    # headless Chromium sometimes cancels attachment downloads, which says nothing about the app.
    with auditor.expect_response(re.compile(r"/reports/ledger\.pdf")) as pdf:
        auditor.click("#ledger-form button:has-text('PDF')")
    assert pdf.value.status == 200
    assert 'filename="ledger-form-zeimu' in pdf.value.headers["content-disposition"]
    assert auditor.request.get(pdf.value.url).body().startswith(b"%PDF")
    with auditor.expect_response(re.compile(r"/reports/ledger\.csv")) as csv_file:
        auditor.click("#ledger-form button:has-text('CSV')")
    assert csv_file.value.status == 200
    text = auditor.request.get(csv_file.value.url).body()
    assert text.startswith(b"\xef\xbb\xbf") and code.encode() in text


def test_a_reversed_period_is_explained_in_japanese(new_page, live_server):
    auditor = new_page("auditor")
    auditor.goto(live_server + "/reports")
    auditor.fill("#r-from", "2026-05-01")
    auditor.fill("#r-to", "2026-04-01")
    auditor.click("#ledger-form button:has-text('PDF')")
    assert "開始日が終了日より後" in auditor.locator("#report-error").inner_text()
    assert auditor.locator("#r-from").input_value() == "2026-05-01"  # kept for correcting


def test_exceptions_and_statistics_pages_render_under_the_csp(new_page, live_server):
    errors: list[str] = []
    auditor = new_page("auditor")
    auditor.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    auditor.goto(live_server + "/reports/exceptions")
    assert "例外一覧" in auditor.locator("h1").inner_text()
    assert auditor.locator("#exception-summary tbody tr").count() >= 7  # every department
    auditor.goto(live_server + "/reports/statistics")
    assert "年度 統計" in auditor.locator("h1").inner_text()
    chart = auditor.locator("svg.chart")
    assert chart.is_visible() and chart.bounding_box()["width"] > 300
    assert auditor.locator("svg.chart rect").count() > 36  # 12 months × 3 series, and the legend
    auditor.select_option("#year", index=1)
    auditor.click(".toolbar form button[type=submit]")
    assert "year=" in auditor.url
    assert not [e for e in errors if "Content Security Policy" in e]
