"""The request path: sessions that end, who sees which items, and errors that tell the truth."""
import csv
import io

import pytest

from lifecycle.auth import services as auth
from lifecycle.actors import SystemActor
from lifecycle.extensions import db
from lifecycle.seeds import DEMO_PASSWORD
from tests.factories import device, form, medium

ADMIN = SystemActor("system:test", "テスト")


def test_a_cookie_captured_before_logout_no_longer_works(client, login, world):
    login("registrar")
    cookie = client.get_cookie("lifecycle_session").value
    assert client.get("/items").status_code == 200
    client.post("/logout")
    client.set_cookie("lifecycle_session", cookie)  # an attacker replays the copy taken before
    response = client.get("/items")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("change", [
    lambda: auth.set_password(ADMIN, "registrar", "a-new-password-of-length"),
    lambda: auth.set_active(ADMIN, "registrar", False),
])
def test_a_password_reset_or_deactivation_ends_every_session(client, login, world, change):
    login("registrar")
    assert client.get("/items").status_code == 200
    change()
    db.session.remove()
    response = client.get("/items")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_signing_in_again_after_logout_works(client, login, world):
    login("registrar")
    client.post("/logout")
    login("registrar")
    assert client.get("/items").status_code == 200


def test_no_effective_role_sees_no_item_anywhere(client, login, api, world):
    item = form(world["registrar"])
    token_client = api("registrar")
    auth.record_training(ADMIN, "registrar", None)
    db.session.remove()
    assert token_client.get(f"/api/v1/items/{item.code}").status_code == 403
    assert token_client.get("/api/v1/items?kind=form").get_json()["total"] == 0
    assert token_client.get(f"/labels/{item.code}.pdf").status_code == 403
    client.post("/login", data={"login": "registrar", "password": DEMO_PASSWORD})
    assert client.get(f"/items/{item.code}").status_code == 403
    assert item.code not in client.get("/items?kind=form").get_data(as_text=True)


def _csv_codes(data: bytes) -> set[str]:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    return {row[0] for row in rows[1:]}


@pytest.mark.parametrize("login_name", ["registrar", "registrar2", "bulk", "security", "auditor", "admin"])
def test_the_ledger_page_the_api_and_the_exports_list_the_same_items(client, login, api, world, login_name):
    made = {"form": [form(world["registrar"]), form(world["registrar2"]), form(world["bulk"])],
            "medium": [medium(world["bulk"])], "device": [device(world["admin"])]}
    every = {kind: {i.code for i in items} for kind, items in made.items()}
    token_client = api(login_name)
    login(login_name)
    for kind, codes in every.items():
        listed = {row["code"] for row in token_client.get(f"/api/v1/items?kind={kind}&per_page=200").get_json()["items"]}
        page = client.get(f"/items?kind={kind}").get_data(as_text=True)
        on_page = {code for code in codes if f">{code}<" in page}
        csv_response = client.get(f"/reports/ledger.csv?kind={kind}")
        exported = _csv_codes(csv_response.data) if csv_response.status_code == 200 else set()
        assert listed == on_page == exported, (kind, listed, on_page, exported)
        assert listed <= codes
    if login_name in ("registrar", "registrar2"):
        own = {i.code for i in made["form"] if i.department_code == world[login_name].department.code}
        assert {row["code"] for row in token_client.get("/api/v1/items?kind=form").get_json()["items"]} == own
    else:
        assert {row["code"] for row in token_client.get("/api/v1/items?kind=form").get_json()["items"]} == every["form"]


def test_an_error_after_the_action_was_saved_does_not_say_nothing_was_applied(app, client, login, world):
    from flask_login import current_user

    from lifecycle.items.services import register_item

    @app.route("/save-then-fail", methods=["POST"])
    def save_then_fail():
        register_item(current_user, {"kind": "form", "title": "保存後の表示エラー", "business": "car-tax",
                                     "sheets": 1, "location": "書庫"})
        raise RuntimeError("the page could not be drawn")

    login("registrar")
    response = client.post("/save-then-fail")
    text = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "操作は記録されました" in text and "反映されていません" not in text


def test_an_error_before_anything_was_saved_says_nothing_was_applied(app, client, login, world):
    @app.route("/fail-at-once")
    def fail_at_once():
        raise RuntimeError("nothing saved")

    login("registrar")  # the sign-in itself committed, in an earlier request
    text = client.get("/fail-at-once").get_data(as_text=True)
    assert "操作は反映されていません" in text and "操作は記録されました" not in text


def test_every_refused_field_of_a_registration_is_answered_at_once(api, world):
    response = api("admin").post("/api/v1/items", json={
        "kind": "device", "title": "", "device_type": "冷蔵庫", "asset_tag": "PC-1", "model": "M",
        "serial": "S-1", "lessor": "L", "lease_contract": "C", "lease_start": "2026-04-01",
        "lease_end": "2025-03-31", "location": ""})
    assert response.status_code == 422
    error = response.get_json()["error"]
    # has_storage defaults to あり, so the device must name at least one storage medium too
    assert set(error["fields"]) == {"title", "device_type", "lease_end", "location", "storage"}
    assert all(message in error["message"] for message in error["fields"].values())


def test_the_registration_page_shows_every_error_beside_its_field_and_keeps_the_values(client, login, world):
    login("registrar")
    response = client.post("/items/new?kind=form", data={"title": "", "business": "car-tax", "sheets": "0",
                                                          "location": "税務課 書庫", "output_at": "昨日"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert page.count('class="error"') >= 3  # 件名, 枚数 and 出力日時, each beside its field
    assert "2026-12-04 10:30" in page and "ISO 8601" not in page
    assert 'value="税務課 書庫"' in page
