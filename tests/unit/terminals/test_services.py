"""使用伺い: request → approval with the pre-use check → use → close, and the rules around it."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from lifecycle.audit.models import AuditEvent
from lifecycle.audit.services import head
from lifecycle.errors import Forbidden, Invalid, InvalidTransition
from lifecycle.extensions import db
from lifecycle.items.models import Item
from lifecycle.states import State
from lifecycle.terminals import services
from lifecycle.terminals.queries import approved_use_at, approved_uses_at
from tests import factories

from .conftest import ask, at


def _events(subject: str) -> list[str]:
    db.session.rollback()
    return list(db.session.scalars(select(AuditEvent.type).where(AuditEvent.subject == subject)
                                   .order_by(AuditEvent.seq)))


def test_terminal_code_is_normalised_and_unique(world, terminal):
    assert terminal.code == "ZEIMU-CS01" and terminal.department.code == "zeimu"
    with pytest.raises(Exception) as refused:
        services.register_terminal(world["admin"], {"code": "ＺＥＩＭＵ-cs01", "department": "zeimu",
                                                    "location": "別室"})
    assert refused.value.code == "duplicate_terminal"


def test_only_an_admin_registers_a_terminal(world):
    for login in ("registrar", "security2", "auditor"):
        with pytest.raises(Forbidden):
            services.register_terminal(world[login], {"code": "X1", "department": "zeimu", "location": "x"})


def test_a_device_of_the_ledger_can_be_linked(world, terminal):
    device = factories.device(world["admin"])
    services.link_device(world["admin"], terminal.code, device.code)
    assert services.get_terminal(terminal.code).device.code == device.code
    with pytest.raises(Invalid) as refused:
        services.link_device(world["admin"], terminal.code, factories.form(world["registrar"]).code)
    assert refused.value.code == "unknown_device"
    assert _events("terminal:ZEIMU-CS01") == ["terminal:registered", "terminal:device_linked"]


def test_approval_use_and_close_with_a_registered_form(world, terminal):
    use = ask(world["registrar"])
    assert use.status == State.REQUESTED.value
    services.approve_use(world["security2"], use.id, {"no_camera_phone_usb": True})
    approved = services.get_use(use.id)
    assert approved.status == "approved" and approved.no_camera_phone_usb and approved.approver.login == "security2"

    form = factories.form(world["registrar"], terminal_use=use.id)
    item = db.session.scalar(select(Item).where(Item.code == form.code))
    assert item.terminal == "ZEIMU-CS01"
    assert services.use_of_form(item.id) == use.id

    services.close_use(world["registrar"], use.id, {"output_note": "照会結果の控え 1枚"})
    closed = services.get_use(use.id)
    assert closed.status == "closed" and closed.ended_at is not None
    assert services.linked_forms(closed) == [form.code]
    assert _events(f"terminal-use:{use.id}") == ["terminal_use:requested", "terminal_use:approved",
                                                  "terminal_use:closed"]
    registered = db.session.scalar(select(AuditEvent).where(AuditEvent.subject == form.code))
    assert f'"terminal_use":{use.id}' in registered.data


def test_refusal_needs_a_reason_and_ends_the_request(world, terminal):
    use = ask(world["registrar"])
    with pytest.raises(Invalid) as refused:
        services.refuse_use(world["security2"], use.id, {"reason": ""})
    assert refused.value.fields == {"reason": "却下の理由を入力してください。"}
    services.refuse_use(world["security2"], use.id, {"reason": "利用事務が所属の事務ではないため"})
    assert services.get_use(use.id).status == "refused"
    with pytest.raises(InvalidTransition):
        services.close_use(world["registrar"], use.id, {})
    with pytest.raises(InvalidTransition):
        services.approve_use(world["security2"], use.id, {"no_camera_phone_usb": True})


def test_the_requester_cannot_approve_their_own(world, terminal):
    use = ask(world["security2"])  # a security manager of 税務課 asks for a 税務課 terminal
    before = head()
    with pytest.raises(Forbidden) as refused:
        services.approve_use(world["security2"], use.id, {"no_camera_phone_usb": True})
    assert refused.value.code == "separation_of_duties"
    with pytest.raises(Forbidden) as refused:
        services.refuse_use(world["security2"], use.id, {"reason": "自分で却下"})
    assert refused.value.code == "separation_of_duties"
    assert head() == before and services.get_use(use.id).status == "requested"


def test_only_a_security_manager_of_the_terminals_department_decides(world, terminal):
    use = ask(world["registrar"])
    for login in ("security", "admin", "auditor", "registrar2"):  # 市町課's manager, no manager role
        with pytest.raises(Forbidden):
            services.approve_use(world[login], use.id, {"no_camera_phone_usb": True})
    assert services.get_use(use.id).status == "requested"


def test_approval_needs_the_pre_use_check(world, terminal):
    use = ask(world["registrar"])
    with pytest.raises(Invalid) as refused:
        services.approve_use(world["security2"], use.id, {"no_camera_phone_usb": False})
    assert refused.value.code == "pre_use_check_required" and "no_camera_phone_usb" in refused.value.fields


def test_of_two_approvals_only_the_first_succeeds(world, terminal):
    use = ask(world["registrar"])
    services.approve_use(world["security2"], use.id, {"no_camera_phone_usb": True})
    with pytest.raises(InvalidTransition) as second:
        services.approve_use(world["security2"], use.id, {"no_camera_phone_usb": True})
    assert "承認済" in second.value.message


def test_a_request_tells_every_bad_field_at_once(world, terminal):
    before = head()
    with pytest.raises(Invalid) as refused:
        services.request_use(world["registrar"], {"terminal": "NONE", "business": "nope",
                                                  "starts_at": "明日", "ends_at": "", "purpose": "x" * 501})
    assert set(refused.value.fields) == {"terminal", "business", "starts_at", "ends_at", "purpose"}
    with pytest.raises(Invalid) as refused:
        services.request_use(world["registrar"], {"terminal": "ZEIMU-CS01", "business": "car-tax",
                                                  "starts_at": at(timedelta(hours=2)), "ends_at": at(timedelta(hours=1))})
    assert set(refused.value.fields) == {"ends_at"}
    assert head() == before


def test_an_auditor_cannot_ask_decide_or_close(world, terminal):
    use = ask(world["registrar"])
    with pytest.raises(Forbidden):
        ask(world["auditor"])
    with pytest.raises(Forbidden):
        services.approve_use(world["auditor"], use.id, {"no_camera_phone_usb": True})
    with pytest.raises(Forbidden):
        services.close_use(world["auditor"], use.id, {})
    with pytest.raises(Forbidden):
        services.cancel_use(world["auditor"], use.id, {})


def test_a_form_cannot_name_an_unapproved_or_non_covering_use(world, terminal):
    use = ask(world["registrar"])
    with pytest.raises(Invalid) as refused:
        factories.form(world["registrar"], terminal_use=use.id)
    assert refused.value.code == "terminal_use_not_approved" and "terminal_use" in refused.value.fields
    services.approve_use(world["security2"], use.id, {"no_camera_phone_usb": True})
    with pytest.raises(Invalid) as refused:  # printed before the approval was given
        factories.form(world["registrar"], terminal_use=use.id, output_at=at(timedelta(minutes=-30)))
    assert refused.value.code == "terminal_use_not_covering"
    with pytest.raises(Invalid) as refused:
        factories.form(world["registrar"], terminal_use=use.id, terminal="OTHER-01")
    assert "terminal" in refused.value.fields
    with pytest.raises(Invalid) as refused:
        factories.form(world["registrar2"], terminal_use=use.id)  # 旅券センター: not theirs
    assert "terminal_use" in refused.value.fields


def test_cancel_by_the_requester_only(world, terminal):
    use = ask(world["registrar"])
    with pytest.raises(Forbidden):
        services.cancel_use(world["registrar2"], use.id, {})
    services.cancel_use(world["registrar"], use.id, {"reason": "日程変更"})
    assert services.get_use(use.id).status == "cancelled"


def test_approved_use_at_for_the_access_log_review(world, terminal):
    use = ask(world["registrar"])
    services.approve_use(world["security2"], use.id, {"no_camera_phone_usb": True})
    approved = services.get_use(use.id)
    moment = approved.approved_at + timedelta(seconds=1)
    found = approved_use_at("zeimu-cs01", "registrar", moment)
    assert found is not None and found.id == use.id and found.user_login == "registrar"
    assert approved_use_at("ZEIMU-CS01", world["registrar"].id, moment).id == use.id
    assert approved_use_at("ZEIMU-CS01", "registrar2", moment) is None  # another operator
    assert approved_use_at("ZEIMU-CS01", "registrar", approved.ends_at + timedelta(minutes=1)) is None
    assert approved_use_at("OTHER", "registrar", moment) is None
    answers = approved_uses_at([("ZEIMU-CS01", "registrar", moment), ("ZEIMU-CS01", "registrar2", moment),
                                ("ZEIMU-CS01", world["registrar"].id, approved.ends_at - timedelta(seconds=1)),
                                ("OTHER", "registrar", moment)])
    assert [a.id if a else None for a in answers] == [use.id, None, use.id, None]


def test_a_retired_terminal_takes_no_new_requests(world, terminal):
    with pytest.raises(Invalid) as refused:
        services.set_active(world["admin"], terminal.code, {"active": False, "reason": ""})
    assert set(refused.value.fields) == {"reason"}
    with pytest.raises(Forbidden):
        services.set_active(world["security2"], terminal.code, {"active": False, "reason": "撤去"})
    services.set_active(world["admin"], terminal.code, {"active": False, "reason": "機器更新による撤去"})
    with pytest.raises(Invalid) as refused:
        ask(world["registrar"])
    assert "terminal" in refused.value.fields
    services.set_active(world["admin"], terminal.code, {"active": True, "reason": "再設置"})
    assert ask(world["registrar"]).status == "requested"
    assert _events("terminal:ZEIMU-CS01") == ["terminal:registered", "terminal:updated", "terminal:updated"]
