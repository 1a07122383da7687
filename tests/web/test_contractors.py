"""The contractor register over the API and as pages."""
from __future__ import annotations

import io
from datetime import timedelta

from lifecycle.clock import today_jst
from tests import factories
from tests.unit.destruction.test_services import pdf_bytes

TODAY = today_jst()
BODY = {"name": "県央溶解センター（試験）株式会社", "services": ["pulping", "transport"],
        "contract": {"number": "K-2026-7", "start": "2026-04-01", "end": "2029-03-31",
                     "clauses": factories.ALL_CLAUSES}}


def test_api_register_read_and_inspect(api, world):
    created = api("admin").post("/api/v1/contractors", json=BODY)
    assert created.status_code == 201, created.get_json()
    cid = created.get_json()["id"]
    listed = api("auditor").get("/api/v1/contractors").get_json()["contractors"]
    assert BODY["name"] in [c["name"] for c in listed]
    one = api("auditor").get(f"/api/v1/contractors/{cid}").get_json()
    assert one["services"] == ["pulping", "transport"] and one["contracts"][0]["missing_clauses"] == []
    inspected = api("security").post(f"/api/v1/contractors/{cid}/inspections",
                                     json={"on": TODAY.isoformat(), "by": "安全 管理子", "findings": "なし"})
    assert inspected.status_code == 201 and inspected.get_json()["by"] == "安全 管理子"


def test_api_refusals(api, world):
    assert api("registrar").post("/api/v1/contractors", json=BODY).status_code == 403
    assert api("auditor").post("/api/v1/contractors", json=BODY).status_code == 403
    assert api("registrar").get("/api/v1/contractors").status_code == 403
    bad = api("admin").post("/api/v1/contractors", json={**BODY, "contract": {**BODY["contract"], "end": "2020-01-01"}})
    assert bad.status_code == 422
    assert api("admin").get("/api/v1/contractors/999").status_code == 404


def test_api_pledge_with_file(api, world):
    cid = factories.contractor(world["admin"]).id
    response = api("admin").post(f"/api/v1/contractors/{cid}/pledges", data={
        "received_on": TODAY.isoformat(), "signatories": "作業員A、作業員B",
        "file": (io.BytesIO(pdf_bytes()), "誓約書.pdf")}, content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    pledge = response.get_json()["pledges"][0]
    assert len(pledge["file"]["sha256"]) == 64


def test_pages_register_and_show(client, login, world):
    login("admin")
    page = client.get("/contractors")
    assert page.status_code == 200 and "委託先の登録" in page.get_data(as_text=True)
    response = client.post("/contractors", data={
        "name": "北部リース株式会社", "services": ["leasing"], "number": "L-9", "start": "2021-04-01",
        "end": (TODAY + timedelta(days=30)).isoformat(), "clauses": ["confidentiality"]})
    assert response.status_code == 302
    shown = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "北部リース株式会社" in shown and "✗ 再委託の禁止（事前承認制）" in shown
    assert "誓約書を受領していません" in shown


def test_auditor_sees_no_register_form(client, login, world):
    login("auditor")
    page = client.get("/contractors").get_data(as_text=True)
    assert "委託先の登録" not in page
