"""The findings and self-inspection pages: refusals beside their fields with the values kept,
the on-site check by another person, the reports read back from their PDFs."""
from __future__ import annotations

import io
from datetime import timedelta

from pypdf import PdfReader

from lifecycle.clock import fiscal_year, today_jst
from lifecycle.findings import services as findings
from lifecycle.selfinspection import services as selfinspection
from tests import factories


def _text(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(response.data)).pages)


def _finding(world, **overrides):
    data = dict(source="internal_audit", department_code="zeimu", summary="書庫の鍵の管理簿が未更新",
                severity="high", due_on=(today_jst() + timedelta(days=30)).isoformat(), audit="令和8年度 内部監査")
    data.update(overrides)
    return findings.raise_finding(world["auditor"], **data)


def test_raise_form_keeps_values_and_shows_every_error(client, login):
    login("auditor")
    response = client.post("/findings", data={"source": "internal_audit", "department": "", "summary": "鍵の件",
                                              "severity": "", "due_on": "2000-01-01"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "鍵の件" in page and 'id="r-department-error"' in page and 'id="r-severity-error"' in page
    assert 'id="r-due_on-error"' in page and "Traceback" not in page
    ok = client.post("/findings", data={"source": "internal_audit", "department": "zeimu", "summary": "鍵の件",
                                        "severity": "low", "due_on": (today_jst() + timedelta(days=9)).isoformat()})
    assert ok.status_code == 302
    shown = client.get(ok.headers["Location"]).get_data(as_text=True)
    assert "指摘事項の記録" in shown and "監査 正（市町課）" in shown


def test_steps_through_the_pages(client, login, world):
    finding = _finding(world)
    login("security2")
    refused = client.post(f"/findings/{finding.id}/plan", data={"plan": ""})
    assert refused.status_code == 422 and 'id="p-plan-error"' in refused.get_data(as_text=True)
    assert client.post(f"/findings/{finding.id}/plan", data={"plan": "毎日確認"}).status_code == 302
    no_file = client.post(f"/findings/{finding.id}/action", data={"action": "確認欄を設けた"})
    page = no_file.get_data(as_text=True)
    assert no_file.status_code == 422 and "確認欄を設けた" in page and 'id="a-file-error"' in page
    done = client.post(f"/findings/{finding.id}/action", data={
        "action": "確認欄を設けた", "file": (io.BytesIO(factories.text_pdf("ok")), "evidence.pdf")},
        content_type="multipart/form-data")
    assert done.status_code == 302
    own = client.post(f"/findings/{finding.id}/confirm", data={"note": "確認"})
    assert own.status_code == 403 and "別のセキュリティ管理者" in own.get_data(as_text=True)
    client.get("/logout")
    login("security")
    assert client.post(f"/findings/{finding.id}/confirm", data={"note": "現地で確認"}).status_code == 302
    assert findings.get_finding(finding.id).status == "resolved"


def test_report_per_audit_and_department_reads_back(client, login, world):
    late = _finding(world)
    from lifecycle.extensions import db
    with db.transaction():
        findings.get_finding(late.id).due_on = today_jst() - timedelta(days=3)
    _finding(world, department_code="ryoken", summary="旅券センターの媒体の施錠", audit="令和8年度 外部監査",
             source="external_audit")
    login("auditor")
    by_audit = client.get("/findings/report.pdf?view=all&audit=令和8年度 内部監査")
    assert by_audit.status_code == 200
    text = _text(by_audit)
    assert "指摘事項の措置状況報告書" in text and "令和" in text and "書庫の鍵の管理簿" in text
    assert "期限超過" in text and "旅券センターの媒体" not in text and "指摘事項の記録" in text
    by_department = _text(client.get("/findings/report.pdf?view=open&department=ryoken"))
    assert "旅券センターの媒体" in by_department and "書庫の鍵" not in by_department
    assert b"/ByteRange" in client.get("/findings/report.pdf?view=all").data  # signed like other reports


def test_self_inspection_pages_and_reports(client, login, world):
    login("security2")
    opened = client.post("/self-inspections", data={})
    assert opened.status_code == 302
    inspection = selfinspection.open_inspection(world["security2"])
    first = selfinspection.checklist()[0]
    refused = client.post(f"/self-inspections/{inspection.id}/items/{first.id}", data={"answer": "no", "note": ""})
    assert refused.status_code == 422 and "理由・状況を補足" in refused.get_data(as_text=True)
    for n, item in enumerate(selfinspection.checklist()):
        data = {"answer": "no", "note": "未整備"} if n == 0 else {"answer": "yes"}
        if item.evidence_required and n:
            data["file"] = (io.BytesIO(factories.text_pdf("e")), "e.pdf")
        assert client.post(f"/self-inspections/{inspection.id}/items/{item.id}", data=data,
                           content_type="multipart/form-data").status_code == 302
    filed = client.post(f"/self-inspections/{inspection.id}/file", follow_redirects=True)
    assert "指摘事項として記録しました" in filed.get_data(as_text=True)
    text = _text(client.get(f"/self-inspections/{inspection.id}/report.pdf"))
    assert "自己点検結果報告書" in text and "税務課" in text and "いいえ" in text and "令和" in text
    client.get("/logout")
    login("auditor")
    whole = _text(client.get(f"/self-inspections/report.pdf?fiscal_year={fiscal_year(today_jst())}"))
    assert "全庁" in whole and "税務課" in whole and "旅券センター" in whole and "未着手" in whole
    progress = client.get("/self-inspections").get_data(as_text=True)
    assert "100%" in progress


def test_statistics_page_and_council_csv(client, login, world):
    factories.form(world["registrar"], business="housing-rent")
    _finding(world)
    login("auditor")
    year = fiscal_year(today_jst())
    page = client.get(f"/reports/statistics?year={year}").get_data(as_text=True)
    assert 'id="statistics-businesses"' in page and "県営住宅の滞納家賃等の徴収に関する事務" in page
    assert 'data-basis="県条例"' in page and 'id="statistics-findings"' in page and "第1号" in page
    csv = client.get(f"/reports/statistics-council.csv?year={year}")
    assert csv.status_code == 200
    text = csv.data.decode("utf-8-sig")
    assert "利用事務別" in text and "根拠別" in text and "指摘事項" in text and "自己点検" not in text.split("\n")[0]
    assert client.get("/reports/statistics-council.csv?year=abc").status_code == 422


def test_page_forms_refuse_a_my_number_and_keep_nothing(client, login, world):
    from lifecycle.audit.services import head
    from lifecycle.extensions import db

    login("auditor")
    db.session.rollback()
    before = head()
    refused = client.post("/findings", data={"source": "internal_audit", "department": "zeimu",
                                             "summary": "住民 1234 5678 9018 の照会記録", "severity": "low",
                                             "due_on": (today_jst() + timedelta(days=9)).isoformat()})
    assert refused.status_code == 422 and "個人番号と思われる12桁の数字" in refused.get_data(as_text=True)
    db.session.rollback()
    assert head() == before


def test_admin_keeps_the_checklist_on_its_page(client, login, world):
    login("admin")
    empty = client.get("/self-inspections/checklist").get_data(as_text=True)
    assert 'id="seed-defaults"' in empty
    seeded = client.post("/self-inspections/checklist/defaults", follow_redirects=True).get_data(as_text=True)
    assert "既定の点検項目を14件登録しました" in seeded and "委託先管理" in seeded
    refused = client.post("/self-inspections/checklist", data={"theme": "事故対応", "question": "",
                                                               "position": "abc"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and 'id="n-question-error"' in page and 'id="n-position-error"' in page
    assert 'value="事故対応"' in page
