"""Statistics for the council's annual report: the fiscal year, months in Japan time, and each
figure counted for the right department on a small data set whose answers are known."""
from __future__ import annotations

import io
from datetime import date, datetime

import pytest
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import update

from lifecycle import fiscal
from lifecycle.clock import to_jst, today_jst, utcnow
from lifecycle.custody.models import Transfer
from lifecycle.custody.services import accept_transfer, provide_medium, request_transfer, return_medium
from lifecycle.destruction.models import DestructionBatch
from lifecycle.destruction.services import create_batch, witness_batch
from lifecycle.devices.services import (accept_certificate, request_erasure, return_to_lessor,
                                        submit_certificate)
from lifecycle.errors import Invalid
from lifecycle.extensions import db
from lifecycle.items.models import Item
from lifecycle.mynumber.models import MyNumberCopy, MyNumberDeletion
from lifecycle.mynumber.services import purge_copy, record_copy
from lifecycle.reports import statistics as st
from lifecycle.documents.svg import bar_chart, nice_ceiling
from tests import factories


# --- the fiscal year --------------------------------------------------------------------------

@pytest.mark.parametrize("year, label", [(2026, "令和8年度"), (2019, "令和元年度"), (2018, "平成30年度"),
                                         (2020, "令和2年度")])
def test_fiscal_year_label(year, label):
    assert fiscal.fiscal_year_label(year) == label


@pytest.mark.parametrize("day, year", [(date(2026, 4, 1), 2026), (date(2027, 3, 31), 2026),
                                       (date(2026, 3, 31), 2025), (date(2026, 12, 31), 2026)])
def test_fiscal_year_runs_april_to_march(day, year):
    assert fiscal.fiscal_year_of(day) == year


def test_fiscal_months_start_in_april():
    months = fiscal.fiscal_months(2026)
    assert months[0] == (2026, 4) and months[-1] == (2027, 3) and len(months) == 12


def test_year_choices_go_back_seven_years_from_the_current_one():
    choices = fiscal.year_choices(date(2026, 11, 22))
    assert choices[0] == (2026, "令和8年度") and len(choices) == 7 and choices[-1][0] == 2020
    assert fiscal.year_choices(date(2027, 3, 31))[0][0] == 2026


@pytest.mark.parametrize("value", ["abc", "1900", "99999", "2026.5", "-1"])
def test_a_bad_year_is_refused(value):
    with pytest.raises(Invalid) as refused:
        fiscal.parse_year(value)
    assert refused.value.status == 422 and "年度" in refused.value.message


def test_no_year_is_the_current_fiscal_year():
    assert fiscal.parse_year(None) == fiscal.fiscal_year_of(today_jst())
    assert fiscal.parse_year("２０２６") == 2026  # full-width digits, as typed


# --- a small known data set -------------------------------------------------------------------

def _set(model, row_id, **values):
    key = model.__mapper__.primary_key[0]
    db.session.execute(update(model).where(key == row_id).values(**values))
    db.session.commit()


def _pdf() -> bytes:
    buffer = io.BytesIO()
    canvas = Canvas(buffer)
    canvas.drawString(72, 720, "erasure certificate")
    canvas.save()
    return buffer.getvalue()


@pytest.fixture
def known(world):
    """FY2026 (令和8年度) activity with timestamps placed on month boundaries in Japan time."""
    registrar, bulk, admin = world["registrar"], world["bulk"], world["admin"]
    a = factories.form(registrar, title="A")
    b = factories.form(registrar, title="B")
    c = factories.form(registrar, title="C")
    _set(Item, a.id, created_at=datetime(2026, 4, 30, 15, 30))  # 5月1日 0:30 JST → May
    _set(Item, b.id, created_at=datetime(2026, 4, 10, 3, 0))  # April
    _set(Item, c.id, created_at=datetime(2026, 3, 31, 14, 0))  # 3月31日 23:00 JST → FY2025

    # B is handed over to 旅券センター: its department changes, its registration stays 税務課's.
    transfer = request_transfer(registrar, b.code, "registrar2")
    accept_transfer(world["registrar2"], transfer.id)
    _set(Transfer, transfer.id, resolved_at=datetime(2026, 10, 5, 1, 0))

    # A is shredded, witnessed in November.
    batch = create_batch(registrar, items=[a.code], method="shred", place="税務課 執務室")
    witness_batch(world["security2"], batch.id)
    _set(DestructionBatch, batch.id, witnessed_at=datetime(2026, 11, 20, 2, 0))

    # A medium of 市町課: registered in June, provided in July, back in August.
    m = factories.medium(bulk)
    provide_medium(bulk, m.code)
    return_medium(bulk, m.code)
    _set(Item, m.id, created_at=datetime(2026, 6, 15), provided_at=datetime(2026, 7, 1),
         returned_at=datetime(2026, 7, 31, 15, 0))  # 8月1日 0:00 JST → August

    d = factories.device(admin)
    _set(Item, d.id, created_at=datetime(2026, 9, 1))

    # Two 個人番号 copies recorded in December, one purged in January.
    first = record_copy(bulk, {"my_number": "123456789018", "provided_to": "教育委員会", "reason": "再送に備えて"})
    second = record_copy(bulk, {"my_number": "123456789018", "provided_to": "教育委員会", "reason": "再送に備えて"})
    for copy in (first, second):
        _set(MyNumberCopy, copy.id, created_at=datetime(2026, 12, 1, 1, 0))
    purge_copy(world["bulk"], first.id, "受領確認済み")
    _set(MyNumberDeletion, first.id, purged_at=datetime(2027, 1, 10, 1, 0))
    return {"a": a, "b": b, "c": c, "m": m, "d": d}


def test_registrations_count_in_the_japanese_month_for_the_registering_department(known):
    stats = st.compute_statistics(2026)
    assert stats.value("2026-05", "zeimu", "registered_form") == 1  # A, 5月1日 JST
    assert stats.value("2026-04", "zeimu", "registered_form") == 1  # B, though now 旅券センター's
    assert stats.value("2026-04", "ryoken", "registered_form") == 0
    assert stats.total("registered_form") == 2  # C belongs to 令和7年度
    assert st.compute_statistics(2025).value("2026-03", "zeimu", "registered_form") == 1
    assert stats.value("2026-06", "shicho", "registered_medium") == 1
    assert stats.value("2026-09", "shicho", "registered_device") == 1


def test_handovers_count_accepted_transfers_for_the_giving_department(known):
    stats = st.compute_statistics(2026)
    assert stats.value("2026-10", "zeimu", "handed_over_form") == 1
    assert stats.total("handed_over_form") == 1 and stats.total("handed_over_medium") == 0


def test_pending_or_rejected_handovers_are_not_counted(known, world):
    from lifecycle.custody.services import reject_transfer

    pending = factories.form(world["registrar"])
    request_transfer(world["registrar"], pending.code, "security2")
    rejected = factories.form(world["registrar"])
    transfer = request_transfer(world["registrar"], rejected.code, "security2")
    reject_transfer(world["security2"], transfer.id, "受け取れません")
    _set(Transfer, transfer.id, resolved_at=datetime(2026, 10, 6, 1, 0))
    assert st.compute_statistics(2026).total("handed_over_form") == 1  # only known's accepted one


def test_destructions_count_witnessed_items_by_kind(known):
    stats = st.compute_statistics(2026)
    assert stats.value("2026-11", "zeimu", "destroyed_form") == 1
    assert stats.total("destroyed_medium") == 0


def test_pulped_items_count_when_their_certificate_is_accepted_not_at_the_witness(known, world):
    from lifecycle.destruction.services import accept_pulping_certificate, attach_certificate

    pulped = factories.form(world["registrar"], title="溶解する帳票")
    batch = create_batch(world["registrar"], items=[pulped.code], method="pulp", place="溶解工場",
                         contractor=factories.pulper())
    witness_batch(world["security"], batch.id)
    _set(DestructionBatch, batch.id, witnessed_at=datetime(2026, 11, 20, 2, 0))
    assert st.compute_statistics(2026).total("destroyed_form") == 1  # known's shredded A only
    attach_certificate(world["registrar"], batch.id, io.BytesIO(_pdf()), "溶解証明書.pdf")
    accept_pulping_certificate(world["security2"], batch.id)
    _set(DestructionBatch, batch.id, certificate_accepted_at=datetime(2027, 1, 15, 1, 0))
    stats = st.compute_statistics(2026)
    assert stats.value("2027-01", "zeimu", "destroyed_form") == 1 and stats.total("destroyed_form") == 2
    assert stats.value("2026-11", "zeimu", "destroyed_form") == 1  # the witness month keeps only A


def test_media_provided_and_returned(known):
    stats = st.compute_statistics(2026)
    assert stats.value("2026-07", "shicho", "medium_provided") == 1
    assert stats.value("2026-08", "shicho", "medium_returned") == 1
    assert stats.value("2026-07", "shicho", "medium_returned") == 0


def test_my_number_copies_retained_and_purged(known):
    stats = st.compute_statistics(2026)
    assert stats.value("2026-12", "shicho", "mynumber_retained") == 2  # one live, one purged
    assert stats.value("2027-01", "shicho", "mynumber_purged") == 1
    assert stats.total("mynumber_purged") == 1


def test_a_department_filter_keeps_only_its_figures(known, world):
    from lifecycle.auth.services import get_department

    stats = st.compute_statistics(2026, get_department("zeimu"))
    assert stats.shown_departments == [("zeimu", "税務課")]
    assert stats.total("registered_form") == 2 and stats.total("registered_medium") == 0
    assert stats.month_total("2026-05", "registered_form") == 1


def test_series_sum_the_chart_groups_per_month(known):
    stats = st.compute_statistics(2026)
    registered = stats.series("registered")
    assert len(registered) == 12
    assert registered[0] == 1 and registered[1] == 1 and registered[2] == 1 and registered[5] == 1
    assert stats.series("destroyed")[7] == 1  # November


def test_csv_rows_cover_every_month_and_department(known):
    stats = st.compute_statistics(2026)
    rows = list(stats.csv_rows())
    assert len(rows) == 12 * len(stats.departments)
    headers = stats.csv_headers()
    may = next(r for r in rows if r[2] == "2026-05" and r[3] == "zeimu")
    record = dict(zip(headers, may))
    assert record["年度"] == "令和8年度" and record["月"] == "令和8年5月" and record["所属"] == "税務課"
    assert record["帳票 登録"] == 1 and record["帳票 廃棄"] == 0


def test_json_carries_months_metrics_and_rows(known):
    data = st.compute_statistics(2026).to_json()
    assert data["label"] == "令和8年度" and data["months"][0] == "2026-04"
    assert data["totals"]["registered_form"] == 2
    assert {m["key"] for m in data["metrics"]} == set(st.METRIC_KEYS)


def test_devices_returned_to_the_lessor_are_counted_from_the_audit_log(world):
    admin = world["admin"]
    device = factories.device(admin)
    request_erasure(admin, device.code, reason="replacement")
    cert = submit_certificate(admin, device.code, {
        "vendor": "九州データ消去株式会社", "certificate_no": "E-1", "method": "purge", "tool": "Blancco 7",
        "verification": "全セクタ読取り検証", "performed_on": today_jst().isoformat()},
        io.BytesIO(_pdf()), "erasure.pdf")
    accept_certificate(world["security"], cert.id)
    return_to_lessor(admin, device.code)
    now = to_jst(utcnow())
    stats = st.compute_statistics(fiscal.fiscal_year_of(now.date()))
    assert stats.value(f"{now.year:04d}-{now.month:02d}", "shicho", "device_returned") == 1
    assert stats.total("device_returned") == 1


def test_an_empty_year_is_all_zeros(world):
    stats = st.compute_statistics(2020)
    assert all(stats.total(k) == 0 for k in st.METRIC_KEYS)
    assert stats.label == "令和2年度"


# --- the chart --------------------------------------------------------------------------------

@pytest.mark.parametrize("value, ceiling", [(0, 1), (1, 1), (3, 5), (7, 10), (10, 10), (11, 20),
                                            (180, 200), (201, 500), (12345, 20000)])
def test_nice_ceiling(value, ceiling):
    assert nice_ceiling(value) == ceiling


def test_bar_chart_is_plain_svg_with_escaped_text():
    svg = str(bar_chart(["4月", "5月"], [("登録<script>", "#2f6db5", [3, 0]), ("廃棄", "#3c9a5f", [1, 2])],
                        title="令和8年度 & 月別"))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<script" not in svg and "&lt;script&gt;" in svg and "令和8年度 &amp; 月別" in svg
    assert "style=" not in svg  # the CSP forbids inline style
    assert svg.count("<rect") == 1 + 4 + 2  # background, one bar per value, two legend keys
    assert "4月 登録&lt;script&gt;: 3件" in svg


def test_bar_heights_are_proportional():
    svg = str(bar_chart(["a", "b"], [("x", "#000", [10, 5])], title="t", height=300))
    import re
    heights = [float(h) for h in re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)" fill="#000">', svg)]
    assert len(heights) == 2 and heights[0] == pytest.approx(2 * heights[1])
