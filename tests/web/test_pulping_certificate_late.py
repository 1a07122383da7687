"""A 溶解 whose certificate is late, as people see it: the exceptions page, its signed PDF and
JSON, the contractor's page, and the home page of those who must act."""
from __future__ import annotations

import io
from datetime import timedelta

from pypdf import PdfReader
from sqlalchemy import text

from lifecycle.clock import today_jst, utcnow
from lifecycle.destruction import services
from lifecycle.extensions import db
from lifecycle.policy.services import POLICIES
from tests import factories
from tests.unit.destruction.test_services import pdf_bytes

DAYS = POLICIES["contractor.pulping_certificate_days"].default


def witnessed_pulp(world, days_ago: int = 0):
    form = factories.form(world["registrar"])
    batch = services.create_batch(world["registrar"], items=[form.code], method="pulp", place="溶解工場",
                                  contractor=factories.pulper())
    services.witness_batch(world["security"], batch.id)
    if days_ago:
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE destruction_batches SET witnessed_at = :at WHERE id = :id"),
                         {"at": utcnow() - timedelta(days=days_ago), "id": batch.id})
        db.session.expire_all()
    return batch


def pdf_text(data: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_exceptions_page_pdf_and_json_list_it_only_after_n_days(client, login, api, world):
    batch = witnessed_pulp(world)
    login("auditor")
    before, after = today_jst() + timedelta(days=DAYS - 1), today_jst() + timedelta(days=DAYS + 1)
    page = client.get(f"/reports/exceptions?as_of={before.isoformat()}").get_data(as_text=True)
    assert "立会いから30日を過ぎても" not in page
    page = client.get(f"/reports/exceptions?as_of={after.isoformat()}").get_data(as_text=True)
    assert f"溶解 {batch.code}" in page and f"立会いから{DAYS}日を過ぎても受領していません" in page
    assert "委託先の契約・条項・誓約書・実地確認・溶解証明書" in page and factories.PULPER in page
    response = client.get(f"/reports/exceptions.pdf?as_of={after.isoformat()}")
    assert response.status_code == 200
    assert f"立会いから{DAYS}日を過ぎても受領していません" in pdf_text(response.data)
    assert f"立会いから{DAYS}日" not in pdf_text(client.get(f"/reports/exceptions.pdf?as_of={before.isoformat()}").data)
    body = api("auditor").get(f"/api/v1/reports/exceptions?as_of={after.isoformat()}").get_json()
    shicho = next(d for d in body["departments"] if d["code"] == "shicho")
    assert any(i["category"] == "contractor" and batch.code in i["detail"] for i in shicho["items"])


def test_the_contractor_page_shows_it(client, login, world):
    batch = witnessed_pulp(world, days_ago=DAYS + 2)
    login("admin")
    page = client.get(f"/contractors/{batch.contractor_id}").get_data(as_text=True)
    assert f"溶解 {batch.code}" in page and f"（{DAYS + 2}日経過）" in page


def test_home_counts_it_for_who_must_act_until_accepted(client, login, world):
    batch = witnessed_pulp(world, days_ago=DAYS + 1)
    login("security2")  # accepts it
    page = client.get("/").get_data(as_text=True)
    assert "溶解証明書の受理が期限を過ぎた溶解: 1件" in page and batch.code in page
    login("registrar")  # asked for the batch: attaches the certificate
    page = client.get("/").get_data(as_text=True)
    assert "溶解証明書の受理が期限を過ぎた溶解: 1件" in page
    services.attach_certificate(world["registrar"], batch.id, io.BytesIO(pdf_bytes()), "溶解証明書.pdf")
    services.accept_pulping_certificate(world["security2"], batch.id)
    assert "溶解証明書の受理が期限を過ぎた溶解" not in client.get("/").get_data(as_text=True)


def test_home_does_not_count_it_before_n_days(client, login, world):
    witnessed_pulp(world, days_ago=DAYS - 1)
    login("security2")
    assert "溶解証明書の受理が期限を過ぎた溶解" not in client.get("/").get_data(as_text=True)
