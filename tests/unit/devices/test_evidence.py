"""Erasure certificates that name what they cover: storage media, serials in the PDF, the minimum
level, the technique, the contractor's coverage, and the return to the lessor."""
from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from lifecycle.audit.models import AuditEvent
from lifecycle.clock import today_jst
from lifecycle.devices import evidence, services
from lifecycle.errors import Invalid
from lifecycle.extensions import db
from lifecycle.items.services import get_item
from lifecycle.policy.services import set_policy
from lifecycle.items import storage
from tests import factories
from tests.unit.devices.test_services import certificate_data

TODAY = today_jst()
TWO_DISKS = [{"media_type": "HDD", "make": "Seagate", "model": "ST1000", "serial": "ZA1B2C3", "capacity_gb": 1000},
             {"media_type": "ssd", "make": "Samsung", "model": "870 EVO", "serial": "s6pxnj0r1", "capacity_gb": 500}]


def status_of(code: str) -> str:
    db.session.expire_all()
    return get_item(code).status


def requested(world, **overrides):
    device = factories.device(world["admin"], **overrides)
    services.request_erasure(world["admin"], device.code, "lease_end")
    return device


def submit(world, device, pdf=None, **overrides):
    data = certificate_data(**overrides)
    pdf = pdf if pdf is not None else factories.text_pdf("Erasure certificate", "S/N ZA1B2C3", "S/N S6PXNJ0R1")
    return services.submit_certificate(world["bulk"], device.code, data, io.BytesIO(pdf), "erasure.pdf")


def last_event(type_: str, subject: str | None = None) -> dict:
    query = select(AuditEvent).where(AuditEvent.type == type_)
    if subject is not None:
        query = query.where(AuditEvent.subject == subject)
    return json.loads(db.session.scalar(query.order_by(AuditEvent.seq.desc())).data)


# --- storage media ------------------------------------------------------------------------------

def test_device_records_its_media_normalised(world):
    device = factories.device(world["admin"], storage=TWO_DISKS, holds_juki_data=True)
    media = storage.media_of(device)
    assert [(m.media_type, m.serial) for m in media] == [("HDD", "ZA1B2C3"), ("SSD", "S6PXNJ0R1")]
    assert device.holds_juki_data is True
    assert last_event("item:registered")["storage"] == ["ZA1B2C3", "S6PXNJ0R1"]


@pytest.mark.parametrize("storage,message", [
    ([{"media_type": "USB", "serial": "X1"}], "HDD・SSD・NVMe・eMMC"),
    ([{"media_type": "HDD", "serial": "X1"}, {"media_type": "SSD", "serial": "x1"}], "重複"),
    ([{"media_type": "HDD"}], "シリアル番号を入力"),
    ("HDD", "一覧で指定"),
])
def test_bad_storage_is_refused(world, storage, message):
    with pytest.raises(Invalid) as exc:
        factories.device(world["admin"], storage=storage)
    assert message in exc.value.message and exc.value.field == "storage"


def test_storage_on_a_device_without_storage_is_refused(world):
    with pytest.raises(Invalid):
        factories.device(world["admin"], has_storage=False, storage=TWO_DISKS[:1])


# --- several media, several certificates --------------------------------------------------------

def test_device_is_certified_only_when_every_medium_is_covered(world):
    device = requested(world, storage=TWO_DISKS)
    first = submit(world, device, media=json.dumps(["ZA1B2C3"]))
    services.accept_certificate(world["security"], first.id)
    assert status_of(device.code) == "erasure_requested"
    accepted = last_event("erasure:certificate_accepted", f"erasure-certificate:{first.id}")
    assert accepted["media_not_yet_covered"] == ["S6PXNJ0R1"]
    second = submit(world, device, media="S6PXNJ0R1", certificate_no="ER-2")
    services.accept_certificate(world["security"], second.id)
    assert status_of(device.code) == "erasure_certified"


def test_one_certificate_covers_every_medium_by_default(world):
    device = requested(world, storage=TWO_DISKS)
    cert = submit(world, device)
    assert [m.serial for m in cert.media] == ["ZA1B2C3", "S6PXNJ0R1"]
    services.accept_certificate(world["security"], cert.id)
    assert status_of(device.code) == "erasure_certified"


def test_a_serial_the_device_does_not_have_cannot_be_claimed(world):
    device = requested(world, storage=TWO_DISKS)
    with pytest.raises(Invalid) as exc:
        submit(world, device, media=json.dumps(["NOPE123"]))
    assert exc.value.code == "unknown_medium"


# --- serials found in the PDF -------------------------------------------------------------------

def test_serial_mismatch_is_shown_and_recorded_with_the_acceptance(world):
    device = requested(world, storage=TWO_DISKS)
    pdf = factories.text_pdf("Certificate of Sanitization", "Serial Number: ZA1B2C3", "S/N: WX99ZZ88")
    cert = submit(world, device, pdf=pdf)
    shown = services.certificate_json(cert)
    assert shown["serials_missing_from_pdf"] == ["S6PXNJ0R1"]
    assert shown["serials_unknown_to_device"] == ["WX99ZZ88"]
    services.accept_certificate(world["security"], cert.id)
    accepted = last_event("erasure:certificate_accepted", f"erasure-certificate:{cert.id}")
    assert accepted["serials_missing_from_pdf"] == ["S6PXNJ0R1"]
    assert accepted["serials_unknown_to_device"] == ["WX99ZZ88"]


def test_serials_match_whatever_the_spacing_and_case(world):
    device = requested(world, storage=TWO_DISKS)
    cert = submit(world, device, pdf=factories.text_pdf("disk za1b-2c3 and S6PX NJ0R1"))
    assert services.certificate_json(cert)["serials_missing_from_pdf"] == []


def test_the_device_serial_itself_is_not_unknown():
    missing, unknown = evidence.compare_serials("製造番号: SN00000042 S/N: ZA1B2C3", ["ZA1B2C3"],
                                                ["ZA1B2C3", "SN00000042"])
    assert missing == [] and unknown == []


# --- the minimum level --------------------------------------------------------------------------

@pytest.mark.parametrize("flag", ["holds_juki_data", "holds_my_number_data"])
def test_clear_is_too_weak_for_resident_data(world, flag):
    device = requested(world, **{flag: True})
    with pytest.raises(Invalid) as exc:
        submit(world, device, method="clear", method_used="overwrite")
    assert exc.value.code == "sanitization_too_weak" and "Purge" in exc.value.message
    submit(world, device, method="purge", method_used="crypto_erase")


def test_clear_is_enough_for_other_devices_unless_the_policy_says_otherwise(world):
    device = requested(world)
    cert = submit(world, device, level="clear", method_used="overwrite")
    assert cert.method == "clear"
    set_policy(world["admin"], "device.min_sanitization.other", "purge")
    with pytest.raises(Invalid) as exc:
        services.accept_certificate(world["security"], cert.id)
    assert exc.value.code == "sanitization_too_weak"


def test_guideline_switch_asks_for_destroy(world):
    set_policy(world["admin"], "device.require_witnessed_storage_destruction", "true")
    device = requested(world, holds_my_number_data=True)
    with pytest.raises(Invalid) as exc:
        submit(world, device, method="purge")
    assert exc.value.code == "sanitization_too_weak" and "Destroy" in exc.value.message
    submit(world, device, method="destroy", method_used="physical")


# --- the technique, and no refusal by words -----------------------------------------------------

def test_technique_must_reach_the_level(world):
    device = requested(world)
    with pytest.raises(Invalid) as exc:
        submit(world, device, method="purge", method_used="overwrite")
    assert exc.value.code == "method_level_mismatch"


@pytest.mark.parametrize("value", ["factory_reset", "初期化", "フォーマット"])
def test_initialisation_is_refused_by_the_technique_chosen(world, value):
    device = requested(world)
    with pytest.raises(Invalid) as exc:
        submit(world, device, method_used=value)
    assert exc.value.code == "initialisation_not_acceptable"


def test_words_in_free_text_are_not_refused(world):
    device = requested(world)
    cert = submit(world, device, tool="Blancco Drive Eraser Information Security 版",
                  verification="プリセット消去の後、全セクタ読取り", media_type="SSD（フォーマット済み領域を含む）",
                  destination="リース会社へ返却（再利用）")
    assert cert.tool.endswith("Information Security 版") and cert.destination.startswith("リース会社")


# --- the contractor -----------------------------------------------------------------------------

def test_certificate_outside_the_erasure_contract_is_refused(world):
    ended = factories.contractor(world["admin"], start=TODAY - timedelta(days=400), end=TODAY - timedelta(days=5))
    device = requested(world)
    with pytest.raises(Invalid) as exc:
        submit(world, device, contractor=str(ended.id))
    assert exc.value.code == "contractor_not_covered" and "契約期間外です" in exc.value.message


def test_certificate_by_a_lessor_without_erasure_in_its_contract_is_refused(world):
    lessor = factories.contractor(world["admin"], services=("leasing",))
    device = requested(world)
    with pytest.raises(Invalid) as exc:
        submit(world, device, contractor=lessor.id, vendor="")
    assert "この業務（データ消去）は契約に含まれていません" in exc.value.message


def test_certificate_performed_by_an_unapproved_subcontractor_is_refused(world):
    device = requested(world)
    with pytest.raises(Invalid) as exc:
        submit(world, device, performed_by_organisation="孫請け消去サービス")
    assert "再委託の承認がありません" in exc.value.message


def test_certificate_names_the_contractor(world):
    erasure = factories.contractor(world["admin"], name="南九州イレース株式会社")
    device = requested(world)
    cert = submit(world, device, contractor=erasure.id, vendor="")
    assert cert.vendor == "南九州イレース株式会社" and cert.contractor_id == erasure.id


# --- the return to the lessor -------------------------------------------------------------------

def certified(world, **overrides):
    device = requested(world, **overrides)
    services.accept_certificate(world["security"], submit(world, device).id)
    return device


def test_return_to_an_unregistered_lessor_is_refused(world):
    device = certified(world, lessor="どこかのリース")
    with pytest.raises(Invalid) as exc:
        services.return_to_lessor(world["admin"], device.code)
    assert exc.value.code == "contractor_not_covered"
    assert status_of(device.code) == "erasure_certified"


def test_return_after_the_lease_contract_ended_is_refused(world):
    factories.contractor(world["admin"], name="旧リース株式会社", services=("leasing",),
                         start=TODAY - timedelta(days=900), end=TODAY - timedelta(days=1))
    device = certified(world, lessor="旧リース株式会社")
    with pytest.raises(Invalid) as exc:
        services.return_to_lessor(world["admin"], device.code)
    assert "契約期間外です" in exc.value.message


def test_return_names_the_covered_lessor(world):
    other = factories.contractor(world["admin"], name="引取りリース株式会社", services=("leasing",))
    device = certified(world)
    services.return_to_lessor(world["admin"], device.code, other.id)
    assert status_of(device.code) == "returned_to_lessor"
    assert last_event("device:returned_to_lessor")["lessor"] == "引取りリース株式会社"


# --- the exceptions report ----------------------------------------------------------------------

def test_device_returned_on_weaker_evidence_stays_an_exception(world):
    device = certified(world, holds_juki_data=False)  # clear would do: it held no resident data
    services.return_to_lessor(world["admin"], device.code)
    assert evidence.list_weak_erasures() == []
    set_policy(world["admin"], "device.min_sanitization.other", "destroy")
    (weak,) = evidence.list_weak_erasures()
    assert weak.item.code == device.code and "最低基準 Destroy" in weak.detail
