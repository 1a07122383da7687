"""Destruction over HTTP: the API (docs/api.md) and the pages (batch list, batch page, actions)."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from lifecycle.audit.models import AuditEvent
from lifecycle import files
from lifecycle.extensions import db
from tests import factories
from tests.unit.destruction.test_services import pdf_bytes


def forms(world, n=2, who="registrar"):
    return [factories.form(world[who]).code for _ in range(n)]


def create(client, codes, **kw):
    body = {"items": codes, "method": "shred", "din_level": "P-4", "place": "税務課 執務室"}
    body.update(kw)
    return client.post("/api/v1/destructions", json=body)


def item_status(api, code):
    return api("auditor").get(f"/api/v1/items/{code}").get_json()["status"]


# --- API --------------------------------------------------------------------------------------

def test_api_create_witness_and_read(api, world):
    codes = forms(world)
    response = create(api("registrar"), codes, planned_on=None)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "awaiting_witness" and isinstance(body["id"], int)
    assert [i["code"] for i in body["items"]] == codes
    assert all(item_status(api, c) == "awaiting_destruction" for c in codes)

    witnessed = api("security").post(f"/api/v1/destructions/{body['id']}/witness")
    assert witnessed.status_code == 200 and witnessed.get_json()["status"] == "completed"
    assert witnessed.get_json()["witness"] == "security"
    assert all(item_status(api, c) == "destroyed" for c in codes)
    again = api("security2").post(f"/api/v1/destructions/{body['id']}/witness")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "invalid_transition"
    read = api("auditor").get(f"/api/v1/destructions/{body['id']}")
    assert read.status_code == 200 and read.get_json()["witness"] == "security"


def test_api_creator_witnessing_is_403_separation_of_duties(api, world):
    batch = create(api("security2"), forms(world)).get_json()
    response = api("security2").post(f"/api/v1/destructions/{batch['id']}/witness")
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "separation_of_duties"
    assert "職務の分離" in response.get_json()["error"]["message"]
    denied = db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.type == "access:denied"))
    assert denied == 1


@pytest.mark.parametrize("who", ["registrar", "auditor", "admin", "bulk"])
def test_api_witness_without_role_is_403(api, world, who):
    batch = create(api("registrar"), forms(world)).get_json()
    response = api(who).post(f"/api/v1/destructions/{batch['id']}/witness")
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("overrides,status,code", [
    ({"din_level": "P-3"}, 422, "din_level_too_low"),
    ({"method": "crush"}, 422, "method_unsuitable"),
    ({"method": "初期化"}, 422, "initialisation_not_acceptable"),
    ({"method": "melt"}, 422, "invalid_method"),
    ({"items": []}, 422, "no_items"),
    ({"items": "F-1"}, 422, "unknown_item"),
    ({"place": ""}, 422, "invalid"),
    ({"planned_on": "2026-13-01"}, 422, "invalid"),
])
def test_api_refusals_change_nothing(api, world, overrides, status, code):
    codes = forms(world, 1)
    response = create(api("registrar"), codes, **overrides)
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"]["code"] == code
    assert item_status(api, codes[0]) == "registered"


def test_api_initialisation_message_quotes_the_guideline(api, world):
    response = create(api("registrar"), forms(world, 1), method="factory reset")
    assert "OS及び記憶装置の初期化による方法は適当でない" in response.get_json()["error"]["message"]


def test_api_item_in_a_batch_is_409(api, world):
    codes = forms(world)
    create(api("registrar"), codes[:1])
    response = create(api("registrar"), codes)
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "item_in_batch"
    assert item_status(api, codes[1]) == "registered"


def test_api_malformed_json_is_400(api, world):
    response = api("registrar").client.post("/api/v1/destructions", data="{not json",
                                            headers={**api("registrar").headers, "Content-Type": "application/json"})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "malformed_json"


def test_api_cancel(api, world):
    codes = forms(world)
    batch = create(api("registrar"), codes).get_json()
    missing = api("registrar").post(f"/api/v1/destructions/{batch['id']}/cancel", json={})
    assert missing.status_code == 422
    stranger = api("registrar2").post(f"/api/v1/destructions/{batch['id']}/cancel", json={"reason": "x"})
    assert stranger.status_code == 403
    done = api("registrar").post(f"/api/v1/destructions/{batch['id']}/cancel", json={"reason": "数量違い"})
    assert done.status_code == 200 and done.get_json()["status"] == "cancelled"
    assert all(item_status(api, c) == "in_custody" for c in codes)
    late = api("security").post(f"/api/v1/destructions/{batch['id']}/witness")
    assert late.status_code == 409


def test_api_unknown_batch_is_404(api, world):
    assert api("auditor").get("/api/v1/destructions/999").status_code == 404
    assert api("auditor").get("/api/v1/destructions/abc").status_code == 404
    assert api("security").post("/api/v1/destructions/999/witness").status_code == 404


def test_api_other_department_cannot_read(api, world):
    batch = create(api("registrar"), forms(world)).get_json()
    assert api("registrar2").get(f"/api/v1/destructions/{batch['id']}").status_code == 403


def upload(client, batch_id, data: bytes | None, name="yokai.pdf"):
    payload = {} if data is None else {"file": (io.BytesIO(data), name, "application/pdf")}
    return client.client.post(f"/api/v1/destructions/{batch_id}/certificate", data=payload,
                              headers=client.headers, content_type="multipart/form-data")


def test_api_pulp_certificate(api, world):
    batch = create(api("registrar"), forms(world), method="pulp", contractor=factories.pulper()).get_json()
    assert batch["certificate_missing"] is True
    assert upload(api("registrar"), batch["id"], b"not a pdf").status_code == 422
    assert upload(api("registrar"), batch["id"], None).status_code == 422
    assert upload(api("registrar2"), batch["id"], pdf_bytes()).status_code == 403
    response = upload(api("registrar"), batch["id"], pdf_bytes())
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["certificate_missing"] is False and body["certificate"]["file_name"] == "yokai.pdf"
    assert len(body["certificate"]["sha256"]) == 64
    again = upload(api("security"), batch["id"], pdf_bytes())
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "certificate_exists"


def test_api_certificate_over_the_limit_is_413(app, api, world):
    app.config["UPLOAD_MAX_BYTES"] = 2000
    batch = create(api("registrar"), forms(world), method="pulp", contractor=factories.pulper()).get_json()
    response = upload(api("registrar"), batch["id"], pdf_bytes() + b"\n%" + b"x" * 3000)
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "too_large"
    assert api("registrar").get(f"/api/v1/destructions/{batch['id']}").get_json()["certificate"] is None


def test_openapi_documents_the_multipart_upload(api):
    doc = api("auditor").get("/api/v1/openapi.json").get_json()
    upload_op = doc["paths"]["/api/v1/destructions/{batch_id}/certificate"]["post"]
    assert "multipart/form-data" in upload_op["requestBody"]["content"]
    assert "409" in doc["paths"]["/api/v1/destructions/{batch_id}/witness"]["post"]["responses"]


# --- pages ------------------------------------------------------------------------------------

def test_index_with_selection_from_the_ledger_and_scan(client, login, world):
    codes = forms(world, 3)
    login("registrar")
    page = client.get(f"/destructions?codes={codes[0]},{codes[1]}&add={codes[2].lower()}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    for code in codes:
        assert code in text
    assert "3件の廃棄を申請" in text and 'name="add"' in text


def test_scanned_label_url_is_resolved_and_forged_one_refused(app, client, login, world):
    code = forms(world, 1)[0]
    payload = app.extensions["label_signer"].payload(code)
    login("registrar")
    text = client.get(f"/destructions?add=http://lifecycle.test/s/{payload}").get_data(as_text=True)
    assert "1件の廃棄を申請" in text
    forged = client.get(f"/destructions?add={code}.AAAAAAAAAAAA").get_data(as_text=True)
    assert "偽造" in forged and "件の廃棄を申請" not in forged
    events = db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.type == "label:forged"))
    assert events == 1


def test_selection_shows_why_an_item_cannot_be_destroyed(client, login, world):
    other = factories.form(world["registrar2"]).code
    login("registrar")
    text = client.get(f"/destructions?codes={other},F-2026-999999").get_data(as_text=True)
    assert "他の所属" in text and "登録はありません" in text and "件の廃棄を申請" not in text


def test_create_witness_flow_through_pages(client, login, world):
    codes = forms(world, 2)
    login("registrar")
    response = client.post("/destructions", data={"codes": codes, "method": "shred", "din_level": "",
                                                  "place": "税務課 執務室", "planned_on": ""})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "立会い待ち" in page and "P-4" in page and "申請者以外のセキュリティ管理者" in page
    batch_url = response.headers["Location"]
    client.post("/logout")
    login("security")
    page = client.get(batch_url).get_data(as_text=True)
    assert "立会いを記録（廃棄完了）" in page
    done = client.post(batch_url + "/witness", follow_redirects=True).get_data(as_text=True)
    assert "立会いを記録しました" in done and "完了" in done


def test_create_refusal_rerenders_the_form_with_the_message(client, login, world):
    codes = forms(world, 1)
    login("registrar")
    response = client.post("/destructions", data={"codes": codes, "method": "shred", "din_level": "P-2",
                                                  "place": "税務課"})
    text = response.get_data(as_text=True)
    assert response.status_code == 422 and "最低基準 P-4" in text and codes[0] in text
    assert 'value="税務課"' in text


def test_creator_page_explains_separation_and_witness_post_is_refused(client, login, world):
    codes = forms(world, 1)
    login("security2")
    response = client.post("/destructions", data={"codes": codes, "method": "shred", "place": "税務課"})
    batch_url = response.headers["Location"]
    page = client.get(batch_url).get_data(as_text=True)
    assert "立会者にはなれません" in page and "立会いを記録（廃棄完了）" not in page
    done = client.post(batch_url + "/witness", follow_redirects=True).get_data(as_text=True)
    assert "職務の分離" in done and "立会い待ち" in done


def test_pages_refuse_roles_and_other_departments(client, login, world, api):
    batch = create(api("registrar"), forms(world)).get_json()
    login("registrar2")
    assert client.get(f"/destructions/{batch['id']}").status_code == 403
    assert client.get(f"/reports/destruction/{batch['id']}.pdf").status_code == 403
    assert client.post(f"/destructions/{batch['id']}/witness").status_code == 403
    assert client.get("/destructions/999").status_code == 404


def test_anonymous_is_sent_to_login(client, world):
    response = client.get("/destructions")
    assert response.status_code in (302, 401)


def test_certificate_upload_download_and_report_pages(client, login, world, api):
    batch = create(api("registrar"), forms(world), method="pulp", contractor=factories.pulper()).get_json()
    login("registrar")
    listing = client.get("/destructions").get_data(as_text=True)
    assert "証明書未受領" in listing
    bad = client.post(f"/destructions/{batch['id']}/certificate",
                      data={"file": (io.BytesIO(b"hello"), "x.pdf")}, content_type="multipart/form-data",
                      follow_redirects=True).get_data(as_text=True)
    assert "PDFファイルではありません" in bad
    ok = client.post(f"/destructions/{batch['id']}/certificate",
                     data={"file": (io.BytesIO(pdf_bytes()), "溶解証明.pdf")}, content_type="multipart/form-data",
                     follow_redirects=True).get_data(as_text=True)
    assert "証明書を添付しました" in ok and "溶解証明.pdf" in ok
    download = client.get(f"/destructions/{batch['id']}/certificate")
    assert download.status_code == 200 and download.data.startswith(b"%PDF-")
    report = client.get(f"/reports/destruction/{batch['id']}.pdf")
    assert report.status_code == 200 and report.mimetype == "application/pdf"


def test_tampered_certificate_download_is_refused_and_audited(client, login, world, api):
    batch = create(api("registrar"), forms(world), method="pulp", contractor=factories.pulper()).get_json()
    body = upload(api("registrar"), batch["id"], pdf_bytes()).get_json()
    path = files.path_for(body["certificate"]["sha256"])
    path.write_bytes(path.read_bytes() + b"%tamper")
    login("auditor")
    response = client.get(f"/destructions/{batch['id']}/certificate")
    assert response.status_code == 409 and "改ざん" in response.get_data(as_text=True)
    count = db.session.scalar(select(func.count()).select_from(AuditEvent)
                              .where(AuditEvent.type == "file:integrity_failed"))
    assert count == 1


def test_item_page_shows_the_destruction_section(client, login, world, api):
    code = forms(world, 1)[0]
    login("registrar")
    page = client.get(f"/items/{code}").get_data(as_text=True)
    assert "廃棄を申請する" in page
    batch = create(api("registrar"), [code]).get_json()
    page = client.get(f"/items/{code}").get_data(as_text=True)
    assert batch["code"] in page and "廃棄を申請する" not in page  # already in a batch awaiting witness


def test_the_item_page_shows_the_batches_that_hold_the_item(client, login, world, api):
    free, held = forms(world)
    login("registrar")
    batch = create(api("registrar"), [held]).get_json()
    free_page = client.get(f"/items/{free}").get_data(as_text=True)
    held_page = client.get(f"/items/{held}").get_data(as_text=True)
    assert "廃棄を申請する" in free_page and batch["code"] not in free_page
    assert batch["code"] in held_page


@pytest.mark.parametrize("root", ("", "/lifecycle"))
def test_a_batch_page_links_its_items_under_the_script_root(client, login, world, api, root):
    codes = forms(world)
    batch = create(api("registrar"), codes).get_json()
    login("registrar")
    page = client.get(f"/destructions/{batch['id']}", base_url=f"http://localhost{root}/").get_data(as_text=True)
    for code in codes:
        assert f'href="{root}/items/{code}"' in page


def test_dashboard_panel_for_the_witness(client, login, world, api):
    create(api("registrar"), forms(world))
    login("security")
    page = client.get("/").get_data(as_text=True)
    assert "立会い待ちの廃棄" in page


def test_nav_has_destruction_and_devices_for_security(client, login, world):
    login("security")
    page = client.get("/destructions").get_data(as_text=True)
    assert "廃棄・消去" in page and "リース機器" in page


def test_pulping_witnessed_early_and_without_certificate_is_allowed_but_warned(api, client, login, world):
    from datetime import timedelta

    from lifecycle.clock import today_jst

    later = today_jst() + timedelta(days=5)
    batch = create(api("registrar"), forms(world), method="pulp", contractor=factories.pulper(),
                   planned_on=later.isoformat()).get_json()
    login("security")
    page = client.get(f"/destructions/{batch['id']}").get_data(as_text=True)
    assert "予定日" in page and "より前の立会い" in page and "溶解証明書はまだ添付されていません" in page
    response = client.post(f"/destructions/{batch['id']}/witness", follow_redirects=True)
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and "立会いを記録しました" in text
    assert "より前の立会い" in text and "例外一覧に残り" in text
    assert api("auditor").get(f"/api/v1/destructions/{batch['id']}").get_json()["status"] == "completed"
    login("auditor")
    exceptions = client.get("/reports/exceptions").get_data(as_text=True)
    assert batch["code"] in exceptions  # until the certificate is attached and accepted
