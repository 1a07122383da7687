"""Findings and the self-inspection over the API: the life cycle, refusals in the error JSON."""
from __future__ import annotations

import io
from datetime import timedelta

from lifecycle.clock import today_jst
from tests import factories


def _raise(api, **overrides):
    body = {"source": "internal_audit", "department": "zeimu", "summary": "鍵の管理簿が未更新", "severity": "high",
            "due_on": (today_jst() + timedelta(days=30)).isoformat(), "refs": [{"kind": "user", "ref": "registrar"}]}
    body.update(overrides)
    return api("auditor").post("/api/v1/findings", json=body)


def test_life_cycle_over_the_api(api):
    created = _raise(api)
    assert created.status_code == 201, created.get_json()
    finding = created.get_json()
    assert finding["status"] == "recorded" and finding["raised_by"] == "監査 正（市町課）"
    url = f"/api/v1/findings/{finding['id']}"
    assert api("security2").post(url + "/plan", json={"plan": "毎日確認"}).status_code == 200
    pdf = factories.text_pdf("done")
    answered = api("security2").post(url + "/action", data={"action": "確認欄", "file": (io.BytesIO(pdf), "e.pdf")},
                                     content_type="multipart/form-data")
    assert answered.status_code == 200 and answered.get_json()["evidence"][0]["file_name"] == "e.pdf"
    same = api("security2").post(url + "/confirm", json={"note": "自分"})
    assert same.status_code == 403 and same.get_json()["error"]["code"] == "same_person"
    closed = api("security").post(url + "/confirm", json={"note": "現地で確認"})
    assert closed.status_code == 200 and closed.get_json()["status"] == "resolved"
    assert closed.get_json()["confirmed_by"] == "安全 管理子（市町課）"
    listed = api("auditor").get("/api/v1/findings?view=closed").get_json()["findings"]
    assert [f["id"] for f in listed] == [finding["id"]]


def test_refusals_name_every_field(api):
    refused = _raise(api, source="x", severity="y", summary="", due_on="tomorrow")
    assert refused.status_code == 422
    assert set(refused.get_json()["error"]["fields"]) == {"source", "severity", "summary", "due_on"}
    assert api("registrar").post("/api/v1/findings", json={}).status_code == 403
    assert api("auditor").get("/api/v1/findings?view=nope").status_code == 422
    assert api("auditor").get("/api/v1/findings/999999").status_code == 404


def test_self_inspection_over_the_api(api):
    opened = api("security2").post("/api/v1/self-inspections", json={})
    assert opened.status_code == 201
    inspection = opened.get_json()
    assert inspection["department"] == "zeimu" and len(inspection["unanswered"]) >= 14
    first = inspection["unanswered"][0]
    answered = api("security2").post(f"/api/v1/self-inspections/{inspection['id']}/items/{first}",
                                     data={"answer": "no", "note": "未実施"}, content_type="multipart/form-data")
    assert answered.status_code == 200 and answered.get_json()["answers"][0]["answer"] == "no"
    early = api("security2").post(f"/api/v1/self-inspections/{inspection['id']}/file")
    assert early.status_code == 422 and early.get_json()["error"]["code"] == "unanswered_items"
    assert api("registrar2").get(f"/api/v1/self-inspections/{inspection['id']}").status_code == 403
