"""The auditor's desk over HTTP: 管理簿 PDF and CSV read back, who may pull what, refusals, the
exceptions page and PDF, the statistics page and CSV, and the JSON twins."""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from pypdf import PdfReader

from lifecycle.audit.services import EventFilter, search_events
from lifecycle.clock import today_jst
from lifecycle.custody.services import provide_medium
from lifecycle.fiscal import fiscal_year_label, fiscal_year_of
from lifecycle.wareki import wareki_date
from tests import factories
from lifecycle.actors import SystemActor


def pdf_pages(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "Excel needs the BOM to read UTF-8"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def reports(kind: str | None = None) -> list[dict]:
    events, _ = search_events(EventFilter(type="report:generated"), per_page=500)
    rows = [json.loads(e.data) | {"actor": e.actor} for e in events]
    return [r for r in rows if kind is None or r.get("report") == kind]


def denied() -> int:
    return search_events(EventFilter(type="access:denied"))[1]


@pytest.fixture
def ledger_world(world):
    zeimu = [factories.form(world["registrar"], title=f"自動車税 課税資料 {n}") for n in range(3)]
    shicho = factories.form(world["bulk"], title="市町課の帳票")
    medium = factories.medium(world["bulk"], due_back=(today_jst() + timedelta(days=10)).isoformat())
    device = factories.device(world["admin"])
    return {"zeimu": zeimu, "shicho": shicho, "medium": medium, "device": device}


# --- 管理簿 PDF --------------------------------------------------------------------------------

def test_ledger_pdf_reads_back_with_codes_headings_and_wareki_dates(client, login, ledger_world):
    login("auditor")
    response = client.get("/reports/ledger.pdf?kind=form")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    (text,) = pdf_pages(response.data)
    assert "帳票管理簿" in text and "1 / 1 頁" in text
    for item in [*ledger_world["zeimu"], ledger_world["shicho"]]:
        assert item.code in text
    assert ledger_world["medium"].code not in text
    assert wareki_date(today_jst()) in text  # 登録日
    assert wareki_date(today_jst() + timedelta(days=30)) in text  # 保存期限
    assert "所属: 全所属" in text and "件数: 4件" in text
    assert "管理番号" in text and "保存期限" in text and "出力者: 監査 正" in text


@pytest.mark.parametrize("kind, title, fixture_key", [("medium", "媒体管理簿", "medium"),
                                                       ("device", "機器管理簿", "device")])
def test_each_kind_has_its_title_and_columns(client, login, ledger_world, kind, title, fixture_key):
    login("auditor")
    (text,) = pdf_pages(client.get(f"/reports/ledger.pdf?kind={kind}").data)
    assert title in text and ledger_world[fixture_key].code in text
    if kind == "device":
        assert "リース満了" in text and "令和9年3月31日" in text
    else:
        assert "返却予定日" in text and wareki_date(today_jst() + timedelta(days=10)) in text


def test_a_long_ledger_repeats_its_header_and_numbers_every_page(client, login, world):
    codes = [factories.form(world["registrar"]).code for _ in range(70)]
    login("auditor")
    pages = pdf_pages(client.get("/reports/ledger.pdf?kind=form&department=zeimu").data)
    total = len(pages)
    assert total >= 2
    for n, text in enumerate(pages, start=1):
        assert f"{n} / {total} 頁" in text
        assert "管理番号" in text and "件名" in text  # the table header on every page
    assert "（続き）" in pages[1]
    found = "".join(pages)
    assert all(code in found for code in codes)
    assert "所属: 税務課" in pages[0] and "件数: 70件" in pages[0]


def test_an_empty_period_says_nothing_matched(client, login, ledger_world):
    login("auditor")
    (text,) = pdf_pages(client.get("/reports/ledger.pdf?kind=form&from=2020-04-01&to=2020-04-30").data)
    assert "該当なし" in text and "期間: 令和2年4月1日～令和2年4月30日" in text
    assert reports("ledger")[0]["rows"] == 0


def test_the_pdf_carries_the_latest_signed_checkpoint(client, login, ledger_world):
    from lifecycle.audit.checkpoints import sign_checkpoint

    checkpoint = sign_checkpoint(SystemActor("system:test", "テスト"))
    login("auditor")
    (text,) = pdf_pages(client.get("/reports/ledger.pdf?kind=form").data)
    assert f"第{checkpoint.seq}号" in text and checkpoint.head_hash[:16] in text and "署名検証済" in text


def test_a_ledger_download_is_an_audited_read(client, login, ledger_world):
    login("security")
    client.get("/reports/ledger.pdf?kind=form&from=2026-04-01&to=2099-03-31&department=zeimu")
    (event,) = reports("ledger")
    assert event == {"report": "ledger", "format": "pdf", "kind": "form", "from": "2026-04-01",
                     "to": "2099-03-31", "department": "zeimu", "rows": 3, "actor": "security"}


# --- 管理簿 CSV --------------------------------------------------------------------------------

def test_ledger_csv_round_trips_with_bom_and_japanese_headers(client, login, ledger_world):
    login("auditor")
    response = client.get("/reports/ledger.csv?kind=form")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.is_streamed
    rows = read_csv(response.data)
    header, body = rows[0], rows[1:]
    assert header[:2] == ["管理番号", "件名"]
    assert header[header.index("登録日") + 1] == "登録日(ISO)"
    assert len(body) == 4  # one row per item
    record = dict(zip(header, body[0]))
    assert record["管理番号"] == ledger_world["zeimu"][0].code
    assert record["登録日"] == wareki_date(today_jst()) and record["登録日(ISO)"] == today_jst().isoformat()
    assert record["保存期限(ISO)"] == (today_jst() + timedelta(days=30)).isoformat()
    assert record["所属"] == "税務課" and record["状態"] == "登録済"
    assert response.data.count(b"\r\n") == 5  # CRLF line ends, as Excel expects
    (event,) = reports("ledger")
    assert event["format"] == "csv" and event["rows"] == 4 and event["department"] is None


def test_csv_cells_that_excel_would_run_are_neutralised(client, login, world):
    factories.form(world["registrar"], title='=HYPERLINK("http://evil.example","開く")')
    login("auditor")
    rows = read_csv(client.get("/reports/ledger.csv?kind=form").data)
    assert rows[1][1].startswith("'=HYPERLINK")


def test_a_registrar_gets_only_his_departments_ledger(client, login, ledger_world):
    login("registrar")
    rows = read_csv(client.get("/reports/ledger.csv?kind=form").data)
    codes = {r[0] for r in rows[1:]}
    assert codes == {i.code for i in ledger_world["zeimu"]}
    (text,) = pdf_pages(client.get("/reports/ledger.pdf?kind=form").data)
    assert "所属: 税務課" in text and ledger_world["shicho"].code not in text
    assert reports("ledger")[0]["department"] == "zeimu"


@pytest.mark.parametrize("path", ["/reports/ledger.pdf", "/reports/ledger.csv"])
def test_a_registrar_asking_for_another_department_is_refused_and_audited(client, login, ledger_world, path):
    login("registrar")
    before = denied()
    response = client.get(f"{path}?kind=form&department=shicho")
    assert response.status_code == 403
    assert "自分の所属（税務課）" in response.get_data(as_text=True)
    assert denied() == before + 1 and reports() == []


@pytest.mark.parametrize("query, message", [
    ("kind=usb", "管理簿の種別は"),
    ("", "種別（帳票・媒体・機器）を選んでください"),
    ("kind=form&from=2026-02-30", "期間（開始日）"),
    ("kind=form&to=yesterday", "期間（終了日）"),
    ("kind=form&from=2026-05-01&to=2026-04-01", "開始日が終了日より後"),
    ("kind=form&department=nowhere", "所属コード「nowhere」は登録されていません"),
    ("kind=form&to=9999-12-31", "2999年までの日付"),
])
@pytest.mark.parametrize("path", ["/reports/ledger.pdf", "/reports/ledger.csv"])
def test_bad_parameters_get_a_japanese_page_not_a_file(client, login, ledger_world, path, query, message):
    login("auditor")
    response = client.get(f"{path}?{query}")
    assert response.status_code == 422
    assert response.mimetype == "text/html"
    body = response.get_data(as_text=True)
    assert message in body and 'id="ledger-form"' in body  # the form, to try again
    assert reports() == []


def test_reports_need_a_login(client, world):
    response = client.get("/reports/ledger.pdf?kind=form")
    assert response.status_code in (302, 401)
    assert b"%PDF" not in response.data


# --- exceptions -------------------------------------------------------------------------------

@pytest.fixture
def overdue_world(world):
    late = [factories.form(world["registrar"], title=f"期限切れ {n}") for n in range(2)]
    medium = factories.medium(world["bulk"], title="返却されない媒体")
    provide_medium(world["bulk"], medium.code)
    return {"late": late, "medium": medium, "as_of": today_jst() + timedelta(days=40)}


def test_exceptions_page_groups_findings_by_department_with_counts(client, login, overdue_world):
    login("auditor")
    as_of = overdue_world["as_of"]
    response = client.get(f"/reports/exceptions?as_of={as_of.isoformat()}")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert f"{wareki_date(as_of)}現在" in body
    zeimu = re.search(r'<tr class="overdue" data-department="zeimu">(.*?)</tr>', body, re.S).group(1)
    assert re.findall(r'<td class="num">(.*?)</td>', zeimu)[1] == "2"  # 保存期限超過
    assert "<strong>2</strong>" in zeimu
    shicho = re.search(r'<tr class="overdue" data-department="shicho">(.*?)</tr>', body, re.S).group(1)
    assert re.findall(r'<td class="num">(.*?)</td>', shicho)[0] == "1"  # 返却期限超過
    assert '<tr data-department="ryoken">' in body  # a clean department is listed too
    assert "税務課（2件）" in body and "市町課（1件）" in body
    for item in [*overdue_world["late"], overdue_world["medium"]]:
        assert item.code in body


def test_exceptions_today_are_none(client, login, overdue_world):
    login("security")
    body = client.get("/reports/exceptions").get_data(as_text=True)
    assert "例外はありません" in body


def test_exceptions_pdf_lists_every_department_finding(client, login, overdue_world):
    login("auditor")
    as_of = overdue_world["as_of"]
    response = client.get(f"/reports/exceptions.pdf?as_of={as_of.isoformat()}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = "".join(pdf_pages(response.data))
    assert "例外一覧" in text and f"（{wareki_date(as_of)}現在）" in text
    assert "税務課（2件）" in text and "市町課（1件）" in text
    assert "保存期限超過の帳票（2件）" in text and "返却期限超過の媒体（1件）" in text
    assert all(item.code in text for item in overdue_world["late"])
    assert re.search(r"1 / \d+ 頁", text)
    (event,) = reports("exceptions")
    assert event["as_of"] == as_of.isoformat() and event["rows"] == 3


@pytest.mark.parametrize("path", ["/reports/exceptions?as_of=2026-99-01", "/reports/exceptions.pdf?as_of=x",
                                  "/reports/exceptions?as_of=9999-12-31", "/reports/exceptions.pdf?as_of=0001-01-01"])
def test_a_bad_as_of_is_422(client, login, world, path):
    login("auditor")
    response = client.get(path)
    assert response.status_code == 422 and "基準日" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/reports/exceptions", "/reports/exceptions.pdf", "/reports/statistics",
                                  "/reports/statistics.csv"])
def test_registrars_do_not_reach_the_desk(client, login, world, path):
    login("registrar")
    before = denied()
    response = client.get(path)
    assert response.status_code == 403 and denied() == before + 1
    assert reports() == []


# --- statistics -------------------------------------------------------------------------------

def test_statistics_page_shows_the_year_a_chart_and_tables(client, login, ledger_world):
    login("auditor")
    year = fiscal_year_of(today_jst())
    response = client.get(f"/reports/statistics?year={year}")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert f"{fiscal_year_label(year)} 統計" in body
    assert "<svg" in body and "<script>" not in body.split("<svg", 1)[1].split("</svg>")[0]
    assert "cdn" not in body.lower()
    month = f"{today_jst().year:04d}-{today_jst().month:02d}"
    row = re.search(rf'<tr data-month="{month}">(.*?)</tr>', body, re.S).group(1)
    assert re.findall(r'<td class="num">(.*?)</td>', row)[:3] == ["4", "1", "1"]  # forms, media, devices
    assert f'<option value="{year}" selected>' in body


def test_statistics_for_one_department(client, login, ledger_world):
    login("auditor")
    body = client.get(f"/reports/statistics?year={fiscal_year_of(today_jst())}&department=zeimu").get_data(as_text=True)
    assert "税務課の件数です" in body
    dept_rows = re.findall(r'<tr data-department="(\w+)">', body)
    assert dept_rows == ["zeimu"]


def test_statistics_csv_has_bom_japanese_headers_and_known_counts(client, login, ledger_world):
    login("admin")
    year = fiscal_year_of(today_jst())
    response = client.get(f"/reports/statistics.csv?year={year}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = read_csv(response.data)
    header = rows[0]
    assert header[:5] == ["年度", "月", "月(ISO)", "所属コード", "所属"] and "帳票 登録" in header
    month = f"{today_jst().year:04d}-{today_jst().month:02d}"
    zeimu = dict(zip(header, next(r for r in rows[1:] if r[2] == month and r[3] == "zeimu")))
    assert zeimu["帳票 登録"] == "3" and zeimu["年度"] == fiscal_year_label(year)
    (event,) = reports("statistics")
    assert event["year"] == year and event["rows"] == len(rows) - 1


@pytest.mark.parametrize("query", ["year=abc", "year=1800", "department=nowhere"])
def test_bad_statistics_parameters_are_422(client, login, world, query):
    login("auditor")
    for path in ("/reports/statistics", "/reports/statistics.csv"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 422 and response.mimetype == "text/html"
    assert reports() == []


# --- index ------------------------------------------------------------------------------------

def test_index_offers_every_report_to_an_auditor(client, login, world):
    login("auditor")
    body = client.get("/reports").get_data(as_text=True)
    for target in ("/reports/ledger.pdf", "/reports/ledger.csv", "/reports/exceptions",
                   "/reports/statistics", "/audit/checkpoints", "/audit/export.zip"):
        assert target in body
    assert "すべての所属" in body and "令和" in body and "年度" in body


def test_index_for_a_registrar_offers_his_own_ledger_only(client, login, world):
    login("registrar")
    body = client.get("/reports").get_data(as_text=True)
    assert "/reports/ledger.pdf" in body and "/reports/exceptions" not in body
    assert "/audit/export.zip" not in body and "すべての所属" not in body
    options = re.findall(r'<option value="([\w-]+)"', body.split('id="r-department"')[1].split("</select>")[0])
    assert options == ["zeimu"]


@pytest.mark.parametrize("user", ["auditor", "registrar"])
def test_the_nav_entry_leads_to_the_index(client, login, world, user):
    login(user)
    assert 'href="/reports"' in client.get("/").get_data(as_text=True)


# --- JSON -------------------------------------------------------------------------------------

def test_api_exceptions_and_statistics(api, overdue_world):
    as_of = overdue_world["as_of"].isoformat()
    response = api("auditor").get(f"/api/v1/reports/exceptions?as_of={as_of}")
    assert response.status_code == 200
    data = response.get_json()
    zeimu = next(d for d in data["departments"] if d["code"] == "zeimu")
    assert zeimu["counts"]["retention_passed"] == 2 and data["total"] == 3
    stats = api("security").get(f"/api/v1/reports/statistics?year={fiscal_year_of(today_jst())}").get_json()
    assert stats["totals"]["registered_form"] == 2 and stats["totals"]["registered_medium"] == 1


@pytest.mark.parametrize("path, status", [("/api/v1/reports/exceptions?as_of=bad", 422),
                                          ("/api/v1/reports/statistics?year=x", 422)])
def test_api_refusals_are_error_json(api, world, path, status):
    response = api("auditor").get(path)
    assert response.status_code == status and response.get_json()["error"]["code"] == "invalid"
    refused = api("registrar").get(path.split("?")[0])
    assert refused.status_code == 403 and "監査担当" in refused.get_json()["error"]["message"]


def test_openapi_lists_the_report_endpoints(client, world):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path in ("/api/v1/reports/exceptions", "/api/v1/reports/statistics"):
        assert "get" in spec["paths"][path] and "403" in spec["paths"][path]["get"]["responses"]
