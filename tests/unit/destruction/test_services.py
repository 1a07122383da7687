"""Destruction batches: who may create and witness them, how, at which level, and refusals."""
from __future__ import annotations

import io
import threading

import pytest
from pypdf import PdfWriter
from sqlalchemy import func, select

from lifecycle.actors import SystemActor
from lifecycle.audit.models import AuditEvent
from lifecycle.destruction import services
from lifecycle.destruction.models import DestructionBatch
from lifecycle.errors import (
    Conflict,
    Forbidden,
    Invalid,
    InvalidTransition,
    NotFound,
    PolicyViolation,
)
from lifecycle.extensions import db
from lifecycle.items.services import get_item
from lifecycle.policy.services import set_policy
from tests import factories


def pdf_bytes() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def status_of(code: str) -> str:
    db.session.expire_all()
    return get_item(code).status


def events(type_: str) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.type == type_))


def shred(actor, *items, **kw):
    values = dict(items=[i.code for i in items], method="shred", place="税務課 執務室")
    values.update(kw)
    return services.create_batch(actor, **values)


# --- creating ---------------------------------------------------------------------------------

def test_create_batch_moves_items_to_awaiting_destruction_with_paper_default_level(world):
    a, b = factories.form(world["registrar"]), factories.form(world["registrar"])
    batch = shred(world["registrar"], a, b, planned_on=None)
    assert batch.status == "awaiting_witness" and batch.din_level == "P-4" and batch.material == "paper"
    assert batch.code.startswith("DS-") and [i.code for i in batch.items] == [a.code, b.code]
    assert status_of(a.code) == status_of(b.code) == "awaiting_destruction"
    assert events("destruction:requested") == 3  # two items and the batch


def test_scanning_the_same_label_twice_adds_it_once(world):
    a = factories.form(world["registrar"])
    batch = services.create_batch(world["registrar"], items=[a.code, a.code.lower(), f" {a.code} "],
                                  method="shred", place="x")
    assert len(batch.entries) == 1


@pytest.mark.parametrize("who", ["auditor", "admin"])
def test_roles_without_destruction_rights_are_refused(world, who):
    a = factories.form(world["registrar"])
    with pytest.raises(Forbidden):
        shred(world[who], a)
    assert status_of(a.code) == "registered"


def test_registrar_of_another_department_cannot_destroy_my_items(world):
    a = factories.form(world["registrar"])  # 税務課
    with pytest.raises(Forbidden) as exc:
        shred(world["registrar2"], a)  # 旅券センター
    assert "同じ所属" in exc.value.message
    assert status_of(a.code) == "registered"


def test_security_manager_of_the_same_department_may_create(world):
    a = factories.form(world["registrar"])
    batch = shred(world["security2"], a)  # 税務課 security manager
    assert batch.created_by == "security2"


def test_pure_bulk_operator_cannot_destroy_forms_but_may_destroy_media(world):
    from lifecycle.auth.services import create_user
    bulk_only = create_user(SystemActor("system:test", "テスト"), "bulkonly", "一括 専任", "shicho", roles=("bulk_operator",),
                            trained_on=world["bulk"].trained_on, password="x" * 16)
    form = factories.form(world["bulk"])
    with pytest.raises(Forbidden):
        shred(bulk_only, form)
    medium = factories.medium(world["bulk"])
    batch = services.create_batch(bulk_only, items=[medium.code], method="crush", place="市町課")
    assert batch.din_level == "O-4" and batch.material == "optical"


@pytest.mark.parametrize("state_change,code", [
    ("in_batch", "item_in_batch"), ("destroyed", "item_unavailable"),
])
def test_item_already_in_a_batch_or_destroyed_is_refused_409(world, state_change, code):
    a = factories.form(world["registrar"])
    first = shred(world["registrar"], a)
    if state_change == "destroyed":
        services.witness_batch(world["security"], first.id)
    b = factories.form(world["registrar"])
    with pytest.raises(Conflict) as exc:
        shred(world["registrar"], b, a)
    assert exc.value.status == 409 and exc.value.code == code
    assert status_of(b.code) == "registered"  # nothing changed, not even the good item


def test_provided_medium_is_refused_409(world):
    from lifecycle import states
    from lifecycle.audit.events import EventType
    medium = get_item(factories.medium(world["bulk"]).code)
    with db.transaction():
        states.transition(medium, states.State.PROVIDED, actor=world["bulk"], event=EventType.MEDIUM_PROVIDED)
    with pytest.raises(Conflict) as exc:
        services.create_batch(world["bulk"], items=[medium.code], method="crush", place="x")
    assert "提供中" in exc.value.message


def test_item_in_transfer_is_refused_409(world):
    from lifecycle import states
    from lifecycle.audit.events import EventType
    form = get_item(factories.form(world["registrar"]).code)
    with db.transaction():
        states.transition(form, states.State.IN_TRANSFER, actor=world["registrar"],
                          event=EventType.TRANSFER_REQUESTED)
    with pytest.raises(Conflict) as exc:
        shred(world["registrar"], form)
    assert "引継ぎ中" in exc.value.message


def test_unknown_code_is_422(world):
    with pytest.raises(Invalid) as exc:
        services.create_batch(world["registrar"], items=["F-2026-999999"], method="shred", place="x")
    assert exc.value.code == "unknown_item"


@pytest.mark.parametrize("items", [[], "", None, [1, 2], {"a": 1}])
def test_empty_or_malformed_item_list_is_422(world, items):
    with pytest.raises(Invalid):
        services.create_batch(world["registrar"], items=items, method="shred", place="x")


@pytest.mark.parametrize("method", ["初期化", "factory reset", "フォーマット", "Initialise", "工場出荷時リセット"])
def test_initialisation_is_refused_with_the_guideline(world, method):
    a = factories.form(world["registrar"])
    with pytest.raises(Invalid) as exc:
        shred(world["registrar"], a, method=method)
    assert exc.value.code == "initialisation_not_acceptable"
    assert "OS及び記憶装置の初期化による方法は適当でない" in exc.value.message


@pytest.mark.parametrize("method", ["burn", "", None, "shredder"])
def test_unknown_method_is_422(world, method):
    with pytest.raises(Invalid) as exc:
        shred(world["registrar"], factories.form(world["registrar"]), method=method)
    assert exc.value.code == "invalid_method"


def test_japanese_method_names_are_understood(world):
    batch = shred(world["registrar"], factories.form(world["registrar"]), method="溶解", contractor=factories.pulper())
    assert batch.method == "pulp"


@pytest.mark.parametrize("kind,method", [("form", "crush"), ("cd", "pulp"), ("mo", "shred"), ("mo", "pulp")])
def test_method_must_fit_the_material(world, kind, method):
    item = {"form": lambda: factories.form(world["bulk"]),
            "cd": lambda: factories.medium(world["bulk"]),
            "mo": lambda: factories.medium(world["bulk"], media_type="MO")}[kind]()
    with pytest.raises(Invalid) as exc:
        services.create_batch(world["bulk"], items=[item.code], method=method, place="x")
    assert exc.value.code == "method_unsuitable" and "使える方法" in exc.value.message


def test_paper_and_media_cannot_share_a_batch(world):
    form, medium = factories.form(world["bulk"]), factories.medium(world["bulk"])
    with pytest.raises(Invalid) as exc:
        services.create_batch(world["bulk"], items=[form.code, medium.code], method="shred", place="x")
    assert exc.value.code == "mixed_material"


@pytest.mark.parametrize("level,ok", [("P-4", True), ("P-5", True), ("p5", True), ("P-3", False),
                                      ("O-4", False), ("P-8", False), ("X", False)])
def test_paper_level_is_checked_against_the_policy(world, level, ok):
    form = factories.form(world["registrar"])
    if ok:
        assert shred(world["registrar"], form, din_level=level).din_level[0] == "P"
    else:
        with pytest.raises(Invalid) as exc:
            shred(world["registrar"], form, din_level=level)
        if level == "P-3":
            assert isinstance(exc.value, PolicyViolation) and exc.value.status == 422
            assert exc.value.code == "din_level_too_low"


def test_raised_policy_minimum_refuses_the_old_default_and_becomes_the_default(world):
    set_policy(world["admin"], "destruction.min_level.paper", "P-5")
    with pytest.raises(PolicyViolation):
        shred(world["registrar"], factories.form(world["registrar"]), din_level="P-4")
    assert shred(world["registrar"], factories.form(world["registrar"])).din_level == "P-5"


def test_mo_default_follows_a_raised_magnetic_minimum(world):
    set_policy(world["admin"], "destruction.min_level.magnetic", "T-6")  # 10 mm², finer than O-4
    mo = factories.medium(world["bulk"], media_type="MO")
    batch = services.create_batch(world["bulk"], items=[mo.code], method="crush", place="x")
    assert batch.din_level == "O-5"


def test_optical_default_and_minimum(world):
    cd = factories.medium(world["bulk"])
    with pytest.raises(PolicyViolation):
        services.create_batch(world["bulk"], items=[cd.code], method="crush", place="x", din_level="O-3")
    assert services.create_batch(world["bulk"], items=[cd.code], method="crush", place="x").din_level == "O-4"


@pytest.mark.parametrize("level,ok", [(None, True), ("O-4", True), ("T-5", True), ("T-4", False),
                                      ("O-3", False), ("P-7", False)])
def test_mo_must_meet_the_stricter_of_optical_and_magnetic(world, level, ok):
    mo = factories.medium(world["bulk"], media_type="MO")
    call = lambda: services.create_batch(world["bulk"], items=[mo.code], method="crush", place="x",  # noqa: E731
                                         din_level=level)
    if ok:
        assert call().din_level == (level or "O-4")
    else:
        with pytest.raises(Invalid):
            call()


def test_planned_date_in_the_past_is_refused(world):
    with pytest.raises(Invalid):
        shred(world["registrar"], factories.form(world["registrar"]), planned_on="2020-01-01")
    with pytest.raises(Invalid):
        shred(world["registrar"], factories.form(world["registrar"]), planned_on="not a date")


def test_place_is_required(world):
    with pytest.raises(Invalid):
        shred(world["registrar"], factories.form(world["registrar"]), place="  ")


# --- witnessing -------------------------------------------------------------------------------

def test_witness_completes_the_batch_and_destroys_every_item(world):
    a, b = factories.form(world["registrar"]), factories.form(world["registrar"])
    batch = shred(world["registrar"], a, b)
    done = services.witness_batch(world["security"], batch.id)
    assert done.status == "completed" and done.witness.login == "security" and done.witnessed_at
    assert status_of(a.code) == status_of(b.code) == "destroyed"
    assert events("item:destroyed") == 2 and events("destruction:witnessed") == 1


def test_creator_cannot_witness_his_own_batch(world):
    a = factories.form(world["registrar"])
    batch = shred(world["security2"], a)
    with pytest.raises(Forbidden) as exc:
        services.witness_batch(world["security2"], batch.id)
    assert exc.value.code == "separation_of_duties"
    assert status_of(a.code) == "awaiting_destruction"


@pytest.mark.parametrize("who", ["registrar", "registrar2", "auditor", "admin", "bulk"])
def test_witness_needs_the_security_manager_role(world, who):
    batch = shred(world["registrar"], factories.form(world["registrar"]))
    with pytest.raises(Forbidden) as exc:
        services.witness_batch(world[who], batch.id)
    assert exc.value.code == "forbidden"


def test_second_witness_is_409(world):
    batch = shred(world["registrar"], factories.form(world["registrar"]))
    services.witness_batch(world["security"], batch.id)
    with pytest.raises(InvalidTransition):
        services.witness_batch(world["security2"], batch.id)


def test_unknown_batch_is_404(world):
    for key in ("999", "abc", "-1", "99999999999999"):
        with pytest.raises(NotFound):
            services.witness_batch(world["security"], key)


def test_concurrent_double_witness_exactly_one_succeeds(app, world):
    batch = shred(world["registrar"], factories.form(world["registrar"]), factories.form(world["registrar"]))
    batch_id = batch.id
    db.session.remove()
    barrier = threading.Barrier(2)
    results: list[str] = []

    def witness(login):
        with app.app_context():
            from lifecycle.auth.services import get_user
            user = get_user(login)
            db.session.rollback()
            barrier.wait()
            try:
                services.witness_batch(user, batch_id)
                results.append("ok")
            except InvalidTransition:
                results.append("409")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=witness, args=(login,)) for login in ("security", "security2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["409", "ok"]
    assert events("destruction:witnessed") == 1 and events("item:destroyed") == 2


# --- cancelling -------------------------------------------------------------------------------

def test_cancel_brings_items_back_into_custody(world):
    a = factories.form(world["registrar"])
    batch = shred(world["registrar"], a)
    done = services.cancel_batch(world["registrar"], batch.id, "枚数の確認漏れ")
    assert done.status == "cancelled" and done.cancel_reason == "枚数の確認漏れ"
    assert status_of(a.code) == "in_custody"
    assert services.active_batch_of(get_item(a.code)) is None
    shred(world["registrar"], a)  # may join a new batch afterwards


def test_cancel_needs_a_reason(world):
    batch = shred(world["registrar"], factories.form(world["registrar"]))
    with pytest.raises(Invalid):
        services.cancel_batch(world["registrar"], batch.id, "   ")


def test_cancel_after_witness_is_409(world):
    batch = shred(world["registrar"], factories.form(world["registrar"]))
    services.witness_batch(world["security"], batch.id)
    with pytest.raises(InvalidTransition):
        services.cancel_batch(world["security"], batch.id, "遅すぎる")


def test_others_cannot_cancel(world):
    batch = shred(world["registrar"], factories.form(world["registrar"]))
    for who in ("registrar2", "auditor", "bulk"):
        with pytest.raises(Forbidden):
            services.cancel_batch(world[who], batch.id, "理由")


# --- certificates ------------------------------------------------------------------------------

def test_pulp_batch_shows_certificate_missing_until_attached(world):
    batch = shred(world["registrar"], factories.form(world["registrar"]), method="pulp",
                  contractor=factories.pulper())
    assert batch.certificate_required and batch.certificate_missing
    services.witness_batch(world["security"], batch.id)
    done = services.attach_certificate(world["registrar"], batch.id, io.BytesIO(pdf_bytes()), "溶解証明書.pdf")
    assert not done.certificate_missing and done.certificate.original_name == "溶解証明書.pdf"
    assert len(done.certificate.sha256) == 64


def test_certificate_cannot_be_replaced_or_attached_to_a_cancelled_batch(world):
    batch = shred(world["registrar"], factories.form(world["registrar"]), method="pulp",
                  contractor=factories.pulper())
    services.attach_certificate(world["registrar"], batch.id, io.BytesIO(pdf_bytes()), "a.pdf")
    with pytest.raises(Conflict) as exc:
        services.attach_certificate(world["security"], batch.id, io.BytesIO(pdf_bytes()), "b.pdf")
    assert exc.value.code == "certificate_exists"
    other = shred(world["registrar"], factories.form(world["registrar"]), method="pulp",
                  contractor=factories.pulper())
    services.cancel_batch(world["registrar"], other.id, "中止")
    with pytest.raises(Conflict):
        services.attach_certificate(world["registrar"], other.id, io.BytesIO(pdf_bytes()), "c.pdf")


def test_certificate_attach_refused_for_strangers(world):
    batch = shred(world["registrar"], factories.form(world["registrar"]), method="pulp",
                  contractor=factories.pulper())
    with pytest.raises(Forbidden):
        services.attach_certificate(world["registrar2"], batch.id, io.BytesIO(pdf_bytes()), "a.pdf")


# --- device storage ---------------------------------------------------------------------------

def test_device_storage_joins_a_crush_batch_without_changing_the_lease_state(world):
    from lifecycle.devices.services import request_erasure
    device = factories.device(world["admin"])
    with pytest.raises(Conflict):  # still in service: not yet
        services.create_batch(world["bulk"], items=[device.code], method="crush", place="市町課")
    request_erasure(world["admin"], device.code)
    with pytest.raises(Invalid):
        services.create_batch(world["bulk"], items=[device.code], method="shred", place="市町課")
    batch = services.create_batch(world["bulk"], items=[device.code], method="crush", place="市町課")
    assert batch.din_level == "H-4" and batch.material == "hdd"  # no media recorded: a terminal's disk
    assert status_of(device.code) == "erasure_requested"
    services.witness_batch(world["security"], batch.id)
    assert status_of(device.code) == "erasure_requested"
    assert services.storage_destruction_of(get_item(device.code)).id == batch.id
    with pytest.raises(Conflict):  # storage already crushed
        services.create_batch(world["bulk"], items=[device.code], method="crush", place="市町課")


def test_a_device_awaiting_its_witnessed_crush_cannot_join_another_batch(world):
    """The item page passes the batches it has just read; the answer must be the same as a fresh look."""
    from lifecycle.devices.services import request_erasure
    device = factories.device(world["admin"])
    request_erasure(world["admin"], device.code)
    item = get_item(device.code)
    assert services.selection_row(world["bulk"], item, services.batches_of(item)).problem is None
    batch = services.create_batch(world["bulk"], items=[device.code], method="crush", place="市町課")
    item = get_item(device.code)
    for batches in (None, services.batches_of(item)):
        problem = services.selection_row(world["bulk"], item, batches).problem
        assert problem and batch.code in problem and "既に廃棄" in problem


def test_registrar_cannot_put_a_device_in_a_batch(world):
    from lifecycle.devices.services import request_erasure
    device = factories.device(world["admin"])
    request_erasure(world["admin"], device.code)
    with pytest.raises(Forbidden):
        services.create_batch(world["registrar"], items=[device.code], method="crush", place="x")


def test_device_without_storage_is_refused(world):
    from lifecycle.devices.services import request_erasure
    device = factories.device(world["admin"], has_storage=False, device_type="ハブ")
    request_erasure(world["admin"], device.code)
    with pytest.raises(Invalid) as exc:
        services.create_batch(world["bulk"], items=[device.code], method="crush", place="x")
    assert exc.value.code == "no_storage"


# --- reading ----------------------------------------------------------------------------------

def test_visibility_of_batches(world):
    batch = shred(world["registrar"], factories.form(world["registrar"]))
    assert services.may_view(world["security"], batch) and services.may_view(world["auditor"], batch)
    assert services.may_view(world["security2"], batch)
    assert not services.may_view(world["registrar2"], batch)
    with pytest.raises(Forbidden):
        services.get_visible_batch(world["registrar2"], batch.id)
    assert [b.id for b in services.list_batches(world["registrar2"])] == []
    assert [b.id for b in services.list_batches(world["registrar"])] == [batch.id]


def test_destruction_exceptions(world):
    from datetime import timedelta

    from lifecycle.clock import today_jst
    waiting = shred(world["registrar"], factories.form(world["registrar"]))
    pulp = shred(world["registrar"], factories.form(world["registrar"]), method="pulp",
                  contractor=factories.pulper())
    services.witness_batch(world["security"], pulp.id)
    rows = services.list_destruction_exceptions(today_jst() + timedelta(days=3))
    found = {(r.batch.id, r.category) for r in rows}
    assert found == {(waiting.id, "awaiting_witness"), (pulp.id, "certificate_missing")}
    assert all(r.department == "税務課" for r in rows)
    assert services.list_destruction_exceptions(today_jst()) and \
        {r.category for r in services.list_destruction_exceptions(today_jst())} == {"certificate_missing"}


def test_batch_rows_exist_only_for_successful_requests(world):
    a = factories.form(world["registrar"])
    with pytest.raises(Invalid):
        shred(world["registrar"], a, din_level="P-1")
    assert db.session.scalar(select(func.count()).select_from(DestructionBatch)) == 0
