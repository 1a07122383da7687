"""Leased devices over HTTP: erasure request, certificate upload and check, return, pages."""
from __future__ import annotations

import io

import pytest

from lifecycle.contractors.services import find_by_name
from lifecycle.policy.services import set_policy
from tests import factories
from tests.unit.destruction.test_services import pdf_bytes
from tests.unit.devices.test_services import certificate_data


def device(world, **kw):
    return factories.device(world["admin"], **kw).code


def upload(client, code, data=None, file=None, name="erasure.pdf"):
    form = certificate_data(**(data or {}))
    form = {k: v for k, v in form.items() if v is not None}
    if file is not False:
        form["file"] = (io.BytesIO(file if file is not None else pdf_bytes()), name, "application/pdf")
    return client.client.post(f"/api/v1/items/{code}/erasure-certificates", data=form, headers=client.headers,
                              content_type="multipart/form-data")


def status(api, code):
    return api("auditor").get(f"/api/v1/items/{code}").get_json()["status"]


def test_api_full_path(api, world):
    code = device(world)
    early = api("admin").post(f"/api/v1/items/{code}/return-to-lessor")
    assert early.status_code == 409
    response = api("admin").post(f"/api/v1/items/{code}/erasure-request", json={"reason": "replacement"})
    assert response.status_code == 200 and response.get_json()["status"] == "erasure_requested"
    assert api("admin").post(f"/api/v1/items/{code}/return-to-lessor").status_code == 409

    created = upload(api("bulk"), code)
    assert created.status_code == 201, created.get_json()
    cert = created.get_json()
    assert set(cert) >= {"id", "sha256"} and len(cert["sha256"]) == 64

    accepted = api("security").post(f"/api/v1/erasure-certificates/{cert['id']}/accept")
    assert accepted.status_code == 200 and accepted.get_json()["status"] == "accepted"
    assert status(api, code) == "erasure_certified"
    returned = api("bulk").post(f"/api/v1/items/{code}/return-to-lessor")
    assert returned.status_code == 200 and returned.get_json()["status"] == "returned_to_lessor"


def test_api_erasure_request_without_body_and_refusals(api, world):
    code = device(world)
    assert api("registrar").post(f"/api/v1/items/{code}/erasure-request").status_code == 403
    assert api("security").post(f"/api/v1/items/{code}/erasure-request").status_code == 403
    assert api("admin").post(f"/api/v1/items/{code}/erasure-request").status_code == 200
    assert api("admin").post(f"/api/v1/items/{code}/erasure-request").status_code == 409
    assert api("admin").post("/api/v1/items/D-2026-999999/erasure-request").status_code == 404
    form = factories.form(world["registrar"]).code
    assert api("admin").post(f"/api/v1/items/{form}/erasure-request").status_code == 422


@pytest.mark.parametrize("reason", [0, False, [], ["lease_end"], {"a": 1}, "retired"])
def test_api_erasure_request_refuses_a_reason_that_is_not_one_of_the_three(api, world, reason):
    """Found by fuzzing: 0 or [] passed for "omitted" (and a list was a 500); the device stays put."""
    code = device(world)
    before = status(api, code)
    response = api("admin").post(f"/api/v1/items/{code}/erasure-request", json={"reason": reason})
    assert response.status_code == 422 and response.get_json()["error"]["message"].startswith("消去依頼の理由")
    assert status(api, code) == before != "erasure_requested"


@pytest.mark.parametrize("data,file,status_code,code", [
    ({"method": "初期化"}, None, 422, "initialisation_not_acceptable"),
    ({"method": "factory_reset"}, None, 422, "initialisation_not_acceptable"),
    ({"method": "shred"}, None, 422, "invalid_method"),
    ({"vendor": ""}, None, 422, "contractor_not_covered"),  # no contractor named, none of that name
    ({"performed_on": "2099-12-31"}, None, 422, "invalid"),
    ({}, b"plain text", 422, "not_pdf"),
    ({}, False, 422, "file_required"),
])
def test_api_upload_refusals(api, world, data, file, status_code, code):
    item = device(world)
    api("admin").post(f"/api/v1/items/{item}/erasure-request")
    response = upload(api("bulk"), item, data, file)
    assert response.status_code == status_code, response.get_json()
    assert response.get_json()["error"]["code"] == code
    assert api("auditor").get(f"/api/v1/items/{item}/erasure-certificates").get_json()["certificates"] == []


def test_api_initialisation_refusal_quotes_the_guideline(api, world):
    item = device(world)
    api("admin").post(f"/api/v1/items/{item}/erasure-request")
    message = upload(api("bulk"), item, {"method": "初期化"}).get_json()["error"]["message"]
    assert "総務省" in message and "OS及び記憶装置の初期化による方法は適当でない" in message


def test_api_upload_too_large_is_413(app, api, world):
    app.config["UPLOAD_MAX_BYTES"] = 1500
    item = device(world)
    api("admin").post(f"/api/v1/items/{item}/erasure-request")
    response = upload(api("bulk"), item, file=pdf_bytes() + b"%" * 2000)
    assert response.status_code == 413


def test_api_upload_roles(api, world):
    item = device(world)
    api("admin").post(f"/api/v1/items/{item}/erasure-request")
    for who in ("registrar", "security", "auditor"):
        assert upload(api(who), item).status_code == 403


def test_api_accept_refusals(api, world):
    item = device(world)
    api("admin").post(f"/api/v1/items/{item}/erasure-request")
    cert = upload(api("admin"), item).get_json()
    for who in ("admin", "admin2", "bulk", "auditor", "registrar"):
        response = api(who).post(f"/api/v1/erasure-certificates/{cert['id']}/accept")
        assert response.status_code == 403
    assert api("security").post("/api/v1/erasure-certificates/999/accept").status_code == 404
    reject = api("security").post(f"/api/v1/erasure-certificates/{cert['id']}/reject", json={"reason": ""})
    assert reject.status_code == 422
    reject = api("security").post(f"/api/v1/erasure-certificates/{cert['id']}/reject",
                                  json={"reason": "証明書番号の記載漏れ"})
    assert reject.status_code == 200 and reject.get_json()["status"] == "rejected"
    again = api("security2").post(f"/api/v1/erasure-certificates/{cert['id']}/accept")
    assert again.status_code == 409
    assert status(api, item) == "erasure_requested"


def test_api_uploader_holding_security_role_gets_separation_of_duties(api, world):
    from lifecycle.auth.services import grant_role
    grant_role(world["admin"], "admin2", "security_manager")
    item = device(world)
    api("admin").post(f"/api/v1/items/{item}/erasure-request")
    cert = upload(api("admin2"), item).get_json()
    response = api("admin2").post(f"/api/v1/erasure-certificates/{cert['id']}/accept")
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "separation_of_duties"


def certify(api, world, **kw):
    item = device(world, **kw)
    api("admin").post(f"/api/v1/items/{item}/erasure-request")
    cert = upload(api("bulk"), item).get_json()
    assert api("security").post(f"/api/v1/erasure-certificates/{cert['id']}/accept").status_code == 200
    return item


def test_api_policy_switch_both_ways(api, world):
    off = certify(api, world, holds_my_number_data=True)
    assert api("admin").post(f"/api/v1/items/{off}/return-to-lessor").status_code == 200

    set_policy(world["admin"], "device.require_witnessed_storage_destruction", True)
    on = certify(api, world)
    refused = api("admin").post(f"/api/v1/items/{on}/return-to-lessor")
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "storage_destruction_required"
    batch = api("bulk").post("/api/v1/destructions", json={"items": [on], "method": "crush", "place": "市町課"})
    assert batch.status_code == 201, batch.get_json()
    assert batch.get_json()["din_level"] == "H-4"
    assert api("admin").post(f"/api/v1/items/{on}/return-to-lessor").status_code == 409
    assert api("security").post(f"/api/v1/destructions/{batch.get_json()['id']}/witness").status_code == 200
    assert api("admin").post(f"/api/v1/items/{on}/return-to-lessor").status_code == 200


def test_erasure_record_pdf(client, login, api, world):
    item = certify(api, world)
    login("auditor")
    response = client.get(f"/reports/erasure/{item}.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    from pypdf import PdfReader
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages)
    assert "消去証明受領記録" in text and item in text and "九州データ消去株式会社" in text
    assert "Purge" in text and "Blancco" in text and "整合性: 一致" in text
    other = device(world)
    assert client.get(f"/reports/erasure/{other}.pdf").status_code == 409


def test_devices_page_highlights_and_lists_exceptions(client, login, world):
    near = device(world, lease_start="2021-04-01", lease_end="2027-03-31")
    ended = device(world, lease_start="2020-04-01", lease_end="2026-10-31")
    login("security")
    page = client.get("/devices?as_of=2026-11-22").get_data(as_text=True)
    assert near in page and ended in page
    assert "満了まで129日" in page and "満了超過（22日）" in page
    assert "令和9年4月1日" in page  # 更新予定 = lease start + 6 years
    assert "5年7か月" in page
    assert "例外" in page
    assert client.get("/devices?as_of=nonsense").status_code == 422


@pytest.mark.parametrize("who,code", [("registrar", 403), ("registrar2", 403), ("auditor", 200), ("bulk", 200)])
def test_devices_page_roles(client, login, world, who, code):
    login(who)
    assert client.get("/devices").status_code == code


def test_device_page_actions_through_the_web(client, login, world):
    code = device(world, holds_my_number_data=True)
    login("bulk")
    page = client.get(f"/devices/{code}").get_data(as_text=True)
    assert "マイナンバー利用事務系" in page and "消去を依頼する" in page
    client.post(f"/devices/{code}/erasure-request", data={"reason": "lease_end"})
    # The page names the contractor by its register entry (a choice), not by the vendor's name as text.
    vendor = find_by_name(certificate_data()["vendor"]).id
    form = certificate_data(contractor=str(vendor))
    form["file"] = (io.BytesIO(pdf_bytes()), "証明書.pdf")
    bad = dict(certificate_data(method="初期化", contractor=str(vendor)), file=(io.BytesIO(pdf_bytes()), "x.pdf"))
    refused = client.post(f"/devices/{code}/certificates", data=bad, content_type="multipart/form-data",
                          follow_redirects=True).get_data(as_text=True)
    assert "初期化による方法は適当でない" in refused
    done = client.post(f"/devices/{code}/certificates", data=form, content_type="multipart/form-data",
                       follow_redirects=True).get_data(as_text=True)
    assert "消去証明書を登録しました" in done and "証明書.pdf" in done
    early = client.post(f"/devices/{code}/return", follow_redirects=True).get_data(as_text=True)
    assert "受理されるまで" in early or "できません" in early
    client.post("/logout")
    login("security")
    page = client.get(f"/items/{code}").get_data(as_text=True)  # the item page carries the section
    assert "受理する" in page
    import re
    cert_id = re.search(r"/devices/certificates/(\d+)/accept", page).group(1)
    accepted = client.post(f"/devices/certificates/{cert_id}/accept", follow_redirects=True).get_data(as_text=True)
    assert "受理しました" in accepted
    file = client.get(f"/devices/certificates/{cert_id}/file")
    assert file.status_code == 200 and file.data.startswith(b"%PDF-")
    client.post("/logout")
    login("registrar")
    assert client.get(f"/devices/certificates/{cert_id}/file").status_code == 403


def test_dashboard_panel_for_devices(client, login, world):
    device(world, lease_start="2020-04-01", lease_end="2021-03-31")
    login("admin")
    assert "リース満了後に消去証明のない機器: 1台" in client.get("/").get_data(as_text=True)


def test_erasure_record_has_its_own_fields_and_a_clear_footer(client, login, api, world):
    import re

    from pypdf import PdfReader

    item = certify(api, world)
    login("auditor")
    reader = PdfReader(io.BytesIO(client.get(f"/reports/erasure/{item}.pdf").data))
    text = "".join(p.extract_text() for p in reader.pages)
    assert "実施場所" not in text and "セキュリティレベル" not in text and "（指定なし）" not in text
    assert "予定日" not in text and "立会者" not in text
    assert "消去業者（作業者）" in text and "証明書の確認・受理" in text and "九州データ消去株式会社" in text
    # The footer's report line and the page number do not share a line's space.
    for page in reader.pages:
        runs = []
        page.extract_text(visitor_text=lambda t, _cm, tm, _f, size, runs=runs: runs.append((t, tm[4], tm[5])))
        number = next((x, y) for t, x, y in runs if re.fullmatch(r"\d+ / \d+ 頁", t.strip()))
        footer = [(t, x, y) for t, x, y in runs if "出力" in t and abs(y - number[1]) < 1]
        assert not footer, f"the footer line runs into the page number: {footer}"
