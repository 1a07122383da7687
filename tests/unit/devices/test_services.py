"""Leased devices: erasure request, vendor certificate, its check, and the return to the lessor."""
from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from lifecycle.audit.models import AuditEvent
from lifecycle.clock import today_jst
from lifecycle import files
from lifecycle.destruction import services as destruction
from lifecycle.devices import evidence, services
from lifecycle.errors import Conflict, Forbidden, Invalid, InvalidTransition
from lifecycle.extensions import db
from lifecycle.items.services import get_item
from lifecycle.policy.services import set_policy
from tests import factories
from tests.unit.destruction.test_services import pdf_bytes


def certificate_data(**overrides) -> dict:
    data = {"vendor": "九州データ消去株式会社", "certificate_no": "ER-2027-0042", "method": "purge",
            "tool": "Blancco Drive Eraser", "tool_version": "7.9", "verification": "全セクタ読取り検証",
            "verification_result": "合格", "performed_on": (today_jst() - timedelta(days=1)).isoformat(),
            "operator": "消去 作業員", "media_type": "SSD"}
    data.update(overrides)
    return data


def submit(actor, code, **overrides):
    return services.submit_certificate(actor, code, certificate_data(**overrides), io.BytesIO(pdf_bytes()),
                                       "erasure.pdf")


def status_of(code: str) -> str:
    db.session.expire_all()
    return get_item(code).status


def requested(world, **overrides):
    device = factories.device(world["admin"], **overrides)
    services.request_erasure(world["admin"], device.code, "lease_end")
    return device


def certified(world, **overrides):
    device = requested(world, **overrides)
    cert = submit(world["bulk"], device.code)
    services.accept_certificate(world["security"], cert.id)
    return device


def test_full_path_to_the_lessor(world):
    device = requested(world)
    assert status_of(device.code) == "erasure_requested"
    cert = submit(world["bulk"], device.code)
    assert cert.status == "submitted" and len(cert.file.sha256) == 64
    services.accept_certificate(world["security"], cert.id)
    assert status_of(device.code) == "erasure_certified"
    assert cert.decided_by == "security"
    services.return_to_lessor(world["admin"], device.code)
    assert status_of(device.code) == "returned_to_lessor"


@pytest.mark.parametrize("who", ["registrar", "security", "auditor"])
def test_only_admin_or_bulk_operator_request_erasure(world, who):
    device = factories.device(world["admin"])
    with pytest.raises(Forbidden):
        services.request_erasure(world[who], device.code)
    assert status_of(device.code) == "in_service"


def test_erasure_request_twice_is_409_and_forms_are_not_devices(world):
    device = requested(world)
    with pytest.raises(InvalidTransition):
        services.request_erasure(world["bulk"], device.code)
    form = factories.form(world["bulk"])
    with pytest.raises(Invalid) as exc:
        services.request_erasure(world["bulk"], form.code)
    assert exc.value.code == "not_a_device"
    with pytest.raises(Invalid):
        services.request_erasure(world["bulk"], requested(world).code, reason="気分")


def test_certificate_before_erasure_request_is_409(world):
    device = factories.device(world["admin"])
    with pytest.raises(Conflict):
        submit(world["bulk"], device.code)


@pytest.mark.parametrize("field,value", [
    ("method", "初期化"), ("method", "factory reset"), ("method", "フォーマット"),
    ("method_used", "factory_reset"), ("method_used", "初期化"),
])
def test_initialisation_is_refused_with_the_guideline(world, field, value):
    device = requested(world)
    with pytest.raises(Invalid) as exc:
        submit(world["bulk"], device.code, **{field: value})
    assert exc.value.code == "initialisation_not_acceptable"
    assert "総務省" in exc.value.message and "初期化による方法は適当でない" in exc.value.message
    assert services.certificates_of(get_item(device.code)) == []


@pytest.mark.parametrize("field,value", [
    ("method", "wipe"), ("vendor", ""), ("certificate_no", " "), ("tool", ""), ("verification", ""),
    ("performed_on", ""), ("performed_on", "2099-01-01"), ("performed_on", "2020-01-01"),
    ("performed_on", "昨日"), ("verification_result", "不合格"),
])
def test_certificate_fields_are_checked(world, field, value):
    device = requested(world)
    with pytest.raises(Invalid):
        submit(world["bulk"], device.code, **{field: value})


def test_certificate_file_must_be_a_pdf(world):
    device = requested(world)
    with pytest.raises(Invalid) as exc:
        services.submit_certificate(world["bulk"], device.code, certificate_data(), io.BytesIO(b"GIF89a"), "x.pdf")
    assert exc.value.code == "not_pdf"


def test_second_pending_certificate_is_409(world):
    device = requested(world)
    submit(world["bulk"], device.code)
    with pytest.raises(Conflict) as exc:
        submit(world["admin"], device.code)
    assert exc.value.code == "certificate_pending"


def test_uploader_cannot_accept_or_reject(world):
    from lifecycle.auth.services import grant_role
    grant_role(world["admin2"], "bulk", "security_manager")
    bulk = db.session.merge(world["bulk"])
    db.session.refresh(bulk)
    device = requested(world)
    cert = submit(bulk, device.code)
    for action in (lambda: services.accept_certificate(bulk, cert.id),
                   lambda: services.reject_certificate(bulk, cert.id, "自分で")):
        with pytest.raises(Forbidden) as exc:
            action()
        assert exc.value.code == "separation_of_duties"
    assert status_of(device.code) == "erasure_requested"


@pytest.mark.parametrize("who", ["admin", "registrar", "auditor", "bulk"])
def test_accept_needs_a_security_manager(world, who):
    device = requested(world)
    cert = submit(world["admin2"], device.code)
    with pytest.raises(Forbidden):
        services.accept_certificate(world[who], cert.id)


def test_reject_with_reason_then_a_new_certificate(world):
    device = requested(world)
    cert = submit(world["bulk"], device.code)
    with pytest.raises(Invalid):
        services.reject_certificate(world["security"], cert.id, "")
    services.reject_certificate(world["security"], cert.id, "製造番号が機器と一致しません")
    assert status_of(device.code) == "erasure_requested"
    with pytest.raises(InvalidTransition):
        services.accept_certificate(world["security"], cert.id)
    second = submit(world["bulk"], device.code, certificate_no="ER-2027-0043")
    services.accept_certificate(world["security2"], second.id)
    assert status_of(device.code) == "erasure_certified"


def test_tampered_certificate_cannot_be_accepted_and_is_audited(world):
    device = requested(world)
    cert = submit(world["bulk"], device.code)
    path = files.path_for(cert.file.sha256)
    path.write_bytes(b"%PDF-1.4 replaced")
    with pytest.raises(Conflict) as exc:
        services.accept_certificate(world["security"], cert.id)
    assert exc.value.code == "file_integrity_failed"
    assert status_of(device.code) == "erasure_requested"
    db.session.expire_all()
    assert services.get_certificate(cert.id).status == "submitted"
    count = db.session.scalar(select(func.count()).select_from(AuditEvent)
                              .where(AuditEvent.type == "file:integrity_failed"))
    assert count == 1


@pytest.mark.parametrize("stage", ["in_service", "erasure_requested", "submitted"])
def test_return_before_certification_is_409(world, stage):
    device = factories.device(world["admin"])
    if stage != "in_service":
        services.request_erasure(world["admin"], device.code)
    if stage == "submitted":
        submit(world["bulk"], device.code)
    with pytest.raises(InvalidTransition) as exc:
        services.return_to_lessor(world["admin"], device.code)
    assert exc.value.status == 409 and "受理" in exc.value.message


def test_return_needs_admin_or_bulk(world):
    device = certified(world)
    with pytest.raises(Forbidden):
        services.return_to_lessor(world["security"], device.code)


# --- the policy switch ------------------------------------------------------------------------

def test_policy_off_returns_without_destruction_but_warns_for_my_number_devices(world):
    plain = certified(world)
    assert services.device_warnings(get_item(plain.code)) == []
    mynumber = certified(world, holds_my_number_data=True)
    warnings = services.device_warnings(get_item(mynumber.code))
    assert len(warnings) == 1 and "マイナンバー利用事務系" in warnings[0].message
    services.return_to_lessor(world["admin"], mynumber.code)
    assert status_of(mynumber.code) == "returned_to_lessor"


def test_policy_on_requires_a_witnessed_crush_of_the_storage(world):
    set_policy(world["admin"], evidence.POLICY_KEY, True)
    device = certified(world)
    assert services.device_warnings(get_item(device.code))[0].level == "error"
    with pytest.raises(Conflict) as exc:
        services.return_to_lessor(world["admin"], device.code)
    assert exc.value.code == "storage_destruction_required"
    batch = destruction.create_batch(world["bulk"], items=[device.code], method="crush", place="市町課")
    with pytest.raises(Conflict):  # not yet witnessed
        services.return_to_lessor(world["admin"], device.code)
    destruction.witness_batch(world["security"], batch.id)
    assert services.device_warnings(get_item(device.code)) == []
    services.return_to_lessor(world["admin"], device.code)
    assert status_of(device.code) == "returned_to_lessor"


def test_policy_on_does_not_apply_to_devices_without_storage(world):
    set_policy(world["admin"], evidence.POLICY_KEY, True)
    hub = certified(world, has_storage=False, device_type="ハブ")
    services.return_to_lessor(world["admin"], hub.code)
    assert status_of(hub.code) == "returned_to_lessor"


def test_witnessed_destruction_silences_the_my_number_warning(world):
    device = requested(world, holds_my_number_data=True)
    batch = destruction.create_batch(world["bulk"], items=[device.code], method="crush", place="市町課")
    destruction.witness_batch(world["security"], batch.id)
    assert services.device_warnings(get_item(device.code)) == []


# --- leases -----------------------------------------------------------------------------------

def test_lease_overview_renewal_cycle_and_warning_window(world):
    as_of = date(2026, 11, 22)
    near = factories.device(world["admin"], lease_start="2021-04-01", lease_end="2027-03-31")
    far = factories.device(world["admin"], lease_start="2024-04-01", lease_end="2030-03-31")
    ended = factories.device(world["admin"], lease_start="2020-02-29", lease_end="2026-10-31")
    leases = {lease.item.code: lease for lease in services.list_devices(as_of)}
    assert leases[near.code].renewal_due == date(2027, 4, 1)
    assert (leases[near.code].years, leases[near.code].months) == (5, 7)
    assert leases[near.code].near_end and not leases[near.code].ended_unerased
    assert not leases[far.code].near_end
    assert leases[ended.code].ended_unerased and leases[ended.code].renewal_due == date(2026, 2, 28)
    set_policy(world["admin"], "device.lease_warning_days", 30)
    assert not services.lease_of(get_item(near.code), as_of).near_end


def test_device_exceptions_list_past_lease_end_without_accepted_certificate(world):
    as_of = date(2026, 11, 22)
    ended = factories.device(world["admin"], lease_start="2020-04-01", lease_end="2026-10-31")
    ended_certified = certified(world, lease_start="2020-04-01", lease_end="2026-09-30")
    factories.device(world["admin"], lease_start="2021-04-01", lease_end="2027-03-31")
    rows = services.list_device_exceptions(as_of)
    assert [r.item.code for r in rows] == [ended.code]
    assert rows[0].days_past == 22 and rows[0].department == "市町課" and "令和8年10月31日" in rows[0].detail
    assert ended_certified.code not in [r.item.code for r in rows]
