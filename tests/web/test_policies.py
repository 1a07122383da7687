"""The admin page of the retention policies (保存期間ポリシー)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from lifecycle.audit.events import EventType
from lifecycle.audit.models import AuditEvent
from lifecycle.clock import today_jst
from lifecycle.extensions import db
from lifecycle.policy import services as policy
from tests.factories import form


def test_admin_sees_every_policy_with_its_japanese_label(client, login, world):
    login("admin")
    response = client.get("/admin/policies")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "保存期間ポリシー" in html
    for p in policy.POLICIES.values():
        assert p.label in html
    assert "30日" in html and "（既定値のまま）" in html
    assert 'href="/admin/policies"' in client.get("/admin/users").get_data(as_text=True)  # the admin tab


def test_changing_the_form_retention_applies_to_new_forms_and_is_audited(client, login, world):
    login("admin")
    response = client.post("/admin/policies", data={"key": "form.retention_days", "value": "14"})
    assert response.status_code == 302
    html = client.get("/admin/policies").get_data(as_text=True)
    assert "「帳票の保存期間（出力日から廃棄までの日数）」を14日に変更しました" in html
    assert "admin" in html and "（既定値のまま）" in html  # the others still are
    item = form(world["registrar"])
    assert item.retention_until == today_jst() + timedelta(days=14)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.type == EventType.POLICY_UPDATED.value))
    assert event.subject == "policy:form.retention_days" and '"new":14' in event.data and '"old":30' in event.data


@pytest.mark.parametrize("key,value,message", [
    ("form.retention_days", "0", "1〜3650日の範囲"),
    ("form.retention_days", "abc", "整数で入力してください"),
    ("destruction.min_level.paper", "P-9", "次から選んでください"),
    ("device.require_witnessed_storage_destruction", "maybe", "有効か無効か"),
    ("no.such.policy", "1", "ポリシー「no.such.policy」はありません"),
    ("mynumber.max_minutes", "100", "上限は既定値以上"),
])
def test_bad_values_are_refused_and_nothing_changes(client, login, world, key, value, message):
    login("admin")
    before = {p.key: v for p, v in policy.all_values()}
    response = client.post("/admin/policies", data={"key": key, "value": value})
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    db.session.rollback()
    assert {p.key: v for p, v in policy.all_values()} == before


def test_switch_can_be_turned_on(client, login, world):
    login("admin")
    client.post("/admin/policies", data={"key": "device.require_witnessed_storage_destruction", "value": "true"})
    db.session.rollback()
    assert policy.get("device.require_witnessed_storage_destruction") is True


@pytest.mark.parametrize("who", ["registrar", "bulk", "security", "auditor"])
def test_only_admins_may_see_or_change_policies(client, login, world, who):
    login(who)
    assert client.get("/admin/policies").status_code == 403
    assert client.post("/admin/policies", data={"key": "form.retention_days", "value": "1"}).status_code == 403
    db.session.rollback()
    assert policy.get("form.retention_days") == 30


def test_my_number_periods_are_given_and_shown_in_hours_or_days(client, login, world):
    login("admin")
    page = client.get("/admin/policies").get_data(as_text=True)
    assert "3日" in page and "4320分" not in page and "10080" not in page
    response = client.post("/admin/policies", data={"key": "mynumber.default_minutes", "value": "36", "unit": "hours"})
    assert response.status_code == 302
    assert policy.get("mynumber.default_minutes") == 36 * 60
    assert "1日と12時間に変更しました" in client.get("/admin/policies").get_data(as_text=True)
    response = client.post("/admin/policies", data={"key": "mynumber.max_minutes", "value": "31", "unit": "days"})
    assert response.status_code == 422 and "1時間から30日までの範囲" in response.get_data(as_text=True)
