"""The access-log review over HTTP: the page upload, the API, the review pages and the report PDF."""
from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from lifecycle.logreview import imports, services
from lifecycle.terminals import services as terminals
from tests.unit.logreview.test_services import _quarter_of_logs, csv_file, line


@pytest.fixture
def terminal(world):
    terminals.register_terminal(world["admin"], {"code": "zeimu-cs01", "department": "zeimu", "location": "税務課"})
    terminals.register_terminal(world["admin"], {"code": "ryoken-cs01", "department": "ryoken", "location": "旅券"})


def _text(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_the_page_upload_lists_bad_lines_and_refuses_the_same_file(client, login, world, terminal):
    login("admin")
    data = csv_file(line("2026-07-01 10:00:00"), line("2026-07-01 日中")).getvalue()
    response = client.post("/log-reviews/import", data={"file": (io.BytesIO(data), "log.csv")},
                           content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "1件を取り込みました" in page
    assert "3行目" in page and "日時「2026-07-01 日中」を読み取れません" in page
    again = client.post("/log-reviews/import", data={"file": (io.BytesIO(data), "copy.csv")},
                        content_type="multipart/form-data")
    assert again.status_code == 409 and "このファイルは取込み済みです" in again.get_data(as_text=True)
    none = client.post("/log-reviews/import", data={}, content_type="multipart/form-data")
    assert none.status_code == 422 and "取り込む CSV ファイルを選んでください" in none.get_data(as_text=True)


def test_the_api_imports_draws_and_lists_the_checks(client, api, world, terminal):
    body = csv_file(*_quarter_of_logs(world, count=4), line("2026-07-05 10:00:00")).getvalue()  # a Sunday
    created = api("admin").post("/api/v1/access-logs", data={"file": (io.BytesIO(body), "log.csv")},
                                content_type="multipart/form-data")
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.get_json()["rows"] == 25 and created.get_json()["rejected"] == []
    again = api("admin").post("/api/v1/access-logs", data={"file": (io.BytesIO(body), "log.csv")},
                              content_type="multipart/form-data")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_imported"
    drawn = api("auditor").post("/api/v1/log-reviews", json={"quarter": "2026Q3"})
    assert drawn.status_code == 201, drawn.get_data(as_text=True)
    review_id = drawn.get_json()["id"]
    review = api("auditor").get(f"/api/v1/log-reviews/{review_id}").get_json()
    assert review == drawn.get_json() and review["seed"] and review["checkpoint"]["seq"] > 0
    assert {s["department"] for s in review["samples"]} == {"zeimu", "ryoken"}
    checks = api("auditor").get(f"/api/v1/log-reviews/{review_id}/checks").get_json()["hits"]
    sunday = [h for h in checks if h["check"] == "off_hours" and h["accessed_at"] == "2026-07-05T10:00:00+09:00"]
    assert len(sunday) == 1 and "日曜日" in sunday[0]["detail"] and sunday[0]["operator_name"] == "登録 一郎（税務課）"
    decided = api("auditor").post(f"/api/v1/log-review-hits/{sunday[0]['id']}/decide", json={"decision": "confirmed"})
    assert decided.status_code == 200 and decided.get_json()["finding"] is not None
    lookback = api("auditor").post("/api/v1/log-reviews/lookbacks", json={
        "hit": sunday[0]["id"], "operator": "registrar", "date_from": "2026-07-01", "date_to": "2026-07-31",
        "reason": "日曜日の操作が確認されたため"})
    assert lookback.status_code == 201, lookback.get_data(as_text=True)
    assert lookback.get_json()["kind"] == "lookback" and len(lookback.get_json()["samples"][0]["records"]) == 5
    refused = api("auditor").post("/api/v1/log-reviews", json={"quarter": "Q3"})
    assert refused.status_code == 422 and "quarter" in refused.get_json()["error"]["fields"]
    assert api("registrar").post("/api/v1/log-reviews", json={"quarter": "2026Q4"}).status_code == 403


def test_pages_mark_answer_and_the_report_reads_back(client, login, world, terminal):
    imports.import_log(world["admin"], csv_file(*_quarter_of_logs(world, count=4)), "log.csv")
    review = services.open_review(world["auditor"], "2026Q3")
    first = services.sample_rows(services.sample_for(review, "zeimu"))[0]
    login("auditor")
    page = client.get(f"/log-reviews/{review.id}").get_data(as_text=True)
    assert review.seed in page and "税務課" in page
    assert client.get(f"/log-reviews/{review.id}/zeimu").status_code == 200
    marked = client.post(f"/log-reviews/records/{first.id}/mark",
                         data={"mark": "query", "note": "照会の理由を確認してください", "next": f"/log-reviews/{review.id}/zeimu"})
    assert marked.status_code == 302
    pdf = client.get(f"/reports/log-review/{review.id}/zeimu.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = _text(pdf.data)
    assert "アクセスログ検証結果報告書" in text and "税務課" in text and "令和8年" in text
    flat = text.replace("\n", "")  # long values wrap inside their table cells
    assert review.seed[:40] in flat and "照会の理由を確認してください" in flat
    assert "夜間・休日の操作" in text
    client.post("/logout")
    login("security2")
    answered = client.post(f"/log-reviews/records/{first.id}/answer",
                           data={"answer": "課税資料の確認（決裁あり）", "next": f"/log-reviews/{review.id}/zeimu"})
    assert answered.status_code == 302
    assert services.sample_rows(services.sample_for(review, "zeimu"))[0].answer == "課税資料の確認（決裁あり）"


def test_the_look_back_form_opens_from_the_finding_and_tells_every_error_at_once(client, login, world, terminal):
    from sqlalchemy import func, select

    from lifecycle.extensions import db
    from lifecycle.logreview.models import LogReview

    imports.import_log(world["admin"], csv_file(*_quarter_of_logs(world, count=4), line("2026-09-21 10:00:00")),
                       "log.csv")  # 2026-09-21 is 敬老の日
    holiday = next(h for h in services.hit_rows(status="candidate") if "敬老の日" in h.detail)
    other = next(h for h in services.hit_rows(status="candidate") if h.id != holiday.id)
    hit = services.decide_hit(world["auditor"], holiday.id, "confirmed")
    login("auditor")
    finding = client.get(f"/findings/{hit.finding_id}").get_data(as_text=True)
    assert "アクセスログ点検" in finding and f"/log-reviews/lookbacks/new?hit={hit.id}" in finding
    form = client.get(f"/log-reviews/lookbacks/new?hit={hit.id}")
    page = form.get_data(as_text=True)
    assert form.status_code == 200 and "登録 一郎（税務課）" in page and "敬老の日" in page
    assert 'value="2026-06-23"' in page and 'value="2026-09-21"' in page  # 90 days up to the day found

    before = db.session.scalar(select(func.count()).select_from(LogReview))
    refused = client.post("/log-reviews/lookbacks", data={"hit": hit.id, "date_from": "2026-09-30",
                                                         "date_to": "2026-07-01", "reason": ""})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    for message in ("操作者IDか端末のどちらかを指定してください。", "期間の末日は初日以降にしてください。",
                    "理由を入力してください。"):
        assert message in page
    assert 'value="2026-09-30"' in page  # what was typed is kept
    assert db.session.scalar(select(func.count()).select_from(LogReview)) == before
    assert client.get(f"/log-reviews/lookbacks/new?hit={other.id}").status_code == 409  # not confirmed
    assert client.get("/log-reviews/lookbacks/new?hit=999999").status_code == 404
    unchosen = client.get("/log-reviews/lookbacks/new")
    assert unchosen.status_code == 422 and "該当の一覧で" in unchosen.get_data(as_text=True)

    opened = client.post("/log-reviews/lookbacks", data={
        "hit": hit.id, "operator": "registrar", "date_from": "2026-07-01", "date_to": "2026-09-30",
        "reason": "祝日の操作が確認されたため、四半期を遡って確認する"})
    assert opened.status_code == 302
    review = db.session.scalar(select(LogReview).where(LogReview.basis_hit_id == hit.id))
    assert opened.headers["Location"].endswith(f"/log-reviews/{review.id}")
    assert review.operator == "registrar" and review.terminal is None and review.samples[0].population == 13
    shown = client.get(f"/log-reviews/{review.id}").get_data(as_text=True)
    assert "登録 一郎" in shown and f"指摘事項 第{hit.finding_id}号" in shown
    assert f"第{review.id}号" in client.get(f"/findings/{hit.finding_id}").get_data(as_text=True)
    client.post("/logout")
    login("registrar")
    assert client.get(f"/log-reviews/lookbacks/new?hit={hit.id}").status_code == 403


def test_the_exceptions_list_shows_undecided_hits_unanswered_queries_and_quarters_not_drawn(
        client, api, login, world, terminal):
    from lifecycle.logreview.exceptions import review_exceptions
    from lifecycle.reports.queries import compute_findings
    from lifecycle.clock import today_jst

    # Q3 2026 (July–September) has logs, one of them on a Sunday; Q4 is not over on the test's day
    imports.import_log(world["admin"], csv_file(*_quarter_of_logs(world, count=4), line("2026-07-05 10:00:00")),
                       "log.csv")
    as_of = today_jst()
    rows = review_exceptions(as_of)
    due = [r for r in rows if r.category == "log_draw_due"]
    assert [r.code for r in due] == ["2026Q3"] and "この期間を含む取込み 1件" in due[0].detail
    assert due[0].department is None and "令和8年7月1日～令和8年9月30日" in due[0].title
    undecided = {(r.department, r.title): r.detail for r in rows if r.category == "log_hit_candidate"}
    sundays = services.hit_counts()["off_hours"]["candidate"]
    assert undecided[("税務課", "自動点検「夜間・休日の操作」")] .startswith("未判断の該当 ")
    assert sum(int(d.split("未判断の該当 ")[1].split("件")[0].replace(",", "")) for (dept, title), d in undecided.items()
               if title == "自動点検「夜間・休日の操作」") == sundays

    review = services.open_review(world["auditor"], "2026Q3")
    first = services.sample_rows(services.sample_for(review, "zeimu"))[0]
    services.mark_record(world["auditor"], first.id, "query", "照会の理由を確認してください")
    rows = review_exceptions(as_of)
    assert not [r for r in rows if r.category == "log_draw_due"]
    queried = [r for r in rows if r.category == "log_query_unanswered"]
    assert len(queried) == 1 and queried[0].department == "税務課" and queried[0].code == "検証 2026Q3"
    assert "登録 一郎（税務課）" in queried[0].title and "照会の理由を確認してください" in queried[0].detail

    login("auditor")
    page = client.get("/reports/exceptions").get_data(as_text=True)
    for label in ("未判断のアクセスログ自動点検の該当", "所属の回答がないアクセスログ検証の要確認"):
        assert label in page
    assert "照会の理由を確認してください" in page
    text = _text(client.get("/reports/exceptions.pdf").data).replace("\n", "")
    assert "所属の回答がないアクセスログ検証の要確認" in text and "照会の理由を確認してください" in text
    listed = api("auditor").get("/api/v1/reports/exceptions").get_json()
    assert listed["totals"]["log_query_unanswered"] == 1 and listed["totals"]["log_hit_candidate"] >= 1

    services.answer_query(world["security2"], first.id, "課税資料の確認（決裁あり）")
    for hit in services.hit_rows(status="candidate", limit=10_000):
        services.decide_hit(world["auditor"], hit.id, "dismissed", "業務上の理由を確認した")
    assert review_exceptions(as_of) == []
    assert compute_findings(as_of).totals["log_query_unanswered"] == 0
