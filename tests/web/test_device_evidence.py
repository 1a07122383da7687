"""Storage media and the serial check over the API and on the device page."""
from __future__ import annotations

import io

from tests import factories
from tests.unit.devices.test_services import certificate_data

DISKS = [{"media_type": "HDD", "make": "Seagate", "model": "ST500", "serial": "ZA1B2C3", "capacity_gb": 500},
         {"media_type": "NVMe", "serial": "NV-0001"}]


def register(api, **extra):
    body = {"kind": "device", "title": "業務端末 市町課9", "device_type": "業務端末", "asset_tag": "PC-9",
            "model": "FMV", "serial": "SN-9", "lessor": "九州リース株式会社", "lease_contract": "L-1",
            "lease_start": "2021-04-01", "lease_end": "2027-03-31", "location": "市町課", "storage": DISKS,
            "holds_juki_data": True, **extra}
    return api("admin").post("/api/v1/items", json=body)


def upload(api, code, pdf, **data):
    form = {k: v for k, v in certificate_data(**data).items() if v is not None}
    form["file"] = (io.BytesIO(pdf), "erasure.pdf", "application/pdf")
    return api("bulk").client.post(f"/api/v1/items/{code}/erasure-certificates", data=form,
                                   headers=api("bulk").headers, content_type="multipart/form-data")


def test_api_device_with_media_and_a_certificate_that_misses_one(api, world, client, login):
    created = register(api)
    assert created.status_code == 201, created.get_json()
    code = created.get_json()["code"]
    assert created.get_json()["holds_juki_data"] is True
    api("admin").post(f"/api/v1/items/{code}/erasure-request")
    listed = api("auditor").get(f"/api/v1/items/{code}/erasure-certificates").get_json()
    assert [m["serial"] for m in listed["storage"]] == ["ZA1B2C3", "NV-0001"]
    assert listed["minimum_level"] == "purge"
    weak = upload(api, code, factories.text_pdf("S/N ZA1B2C3"), method="clear")
    assert weak.status_code == 422 and weak.get_json()["error"]["code"] == "sanitization_too_weak"
    response = upload(api, code, factories.text_pdf("S/N ZA1B2C3", "S/N QQ77XX11"),
                      method_used="crypto_erase", performed_by="消去 作業員", destination="再利用")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["serials_missing_from_pdf"] == ["NV-0001"] and body["serials_unknown_to_device"] == ["QQ77XX11"]
    assert body["contractor"]["name"] == "九州データ消去株式会社" and body["level"] == "purge"
    login("security")
    page = client.get(f"/devices/{code}").get_data(as_text=True)
    assert "シリアル番号の照合で不一致があります" in page and "NV-0001" in page and "QQ77XX11" in page


def test_api_return_names_the_lessor(api, world):
    code = register(api, storage=[], has_storage=False, holds_juki_data=False, lessor="未登録リース").get_json()["code"]
    api("admin").post(f"/api/v1/items/{code}/erasure-request")
    cert = upload(api, code, factories.text_pdf("certificate")).get_json()
    api("security").post(f"/api/v1/erasure-certificates/{cert['id']}/accept")
    refused = api("admin").post(f"/api/v1/items/{code}/return-to-lessor")
    assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "contractor_not_covered"
    lessor = factories.contractor(world["admin"], services=("leasing",)).id
    returned = api("admin").post(f"/api/v1/items/{code}/return-to-lessor", json={"contractor": lessor})
    assert returned.status_code == 200 and returned.get_json()["status"] == "returned_to_lessor"


def test_the_registration_page_records_the_media(client, login, world):
    from lifecycle.items.storage import media_of
    from lifecycle.items.services import get_item

    login("admin")
    page = client.get("/items/new?kind=device").get_data(as_text=True)
    assert "記憶装置1のシリアル番号" in page and "住基ネットのデータ" in page
    response = client.post("/items/new?kind=device", data={
        "title": "業務端末 市町課5", "device_type": "業務端末", "asset_tag": "PC-5", "model": "FMV",
        "serial": "SN5", "lessor": "九州リース株式会社", "lease_contract": "L-9", "lease_start": "2021-04-01",
        "lease_end": "2027-03-31", "location": "市町課", "has_storage": "y", "holds_juki_data": "y",
        "storage_type_1": "SSD", "storage_serial_1": "s5-ssd", "storage_capacity_1": "256",
        "storage_type_2": "", "storage_serial_2": ""})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    code = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    device = get_item(code)
    assert device.holds_juki_data is True
    assert [(m.media_type, m.serial, m.capacity_gb) for m in media_of(device)] == [("SSD", "S5-SSD", 256)]
