"""Registering a device with storage asks for at least one storage medium."""
import pytest

from lifecycle.errors import Invalid
from tests import factories


def test_a_device_with_storage_but_no_media_is_refused_beside_the_field(world):
    with pytest.raises(Invalid) as refused:
        factories.device(world["admin"], storage=[], title="")
    fields = refused.value.fields
    assert fields["storage"] == "記憶装置ありの機器は、記憶装置を1台以上（種類とシリアル番号）登録してください。"
    assert "title" in fields  # every error of the form at once


def test_a_device_with_one_medium_or_without_storage_is_registered(world):
    assert factories.device(world["admin"], storage=[{"media_type": "SSD", "serial": "SSD-0001"}]).code
    assert factories.device(world["admin"], has_storage=False, device_type="ハブ", storage=[]).code


def test_the_api_names_the_storage_field(api, world):
    response = api("bulk").post("/api/v1/items", json={
        "kind": "device", "title": "業務端末", "device_type": "業務端末", "asset_tag": "A-77", "model": "M",
        "serial": "S-77", "lessor": "九州リース株式会社", "lease_contract": "L-1", "lease_start": "2024-04-01",
        "lease_end": "2029-03-31", "location": "市町課", "has_storage": True})
    assert response.status_code == 422
    assert "記憶装置を1台以上" in response.get_json()["error"]["fields"]["storage"]
