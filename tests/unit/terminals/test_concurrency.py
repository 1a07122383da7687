"""Decisions on one 使用伺い pressed at the same moment: exactly one goes through."""
from __future__ import annotations

from lifecycle.audit.services import events_for, verify_chain
from lifecycle.extensions import db
from lifecycle.terminals import services
from tests.unit.custody.test_concurrency import _race

from .conftest import ask


def test_approvals_refusal_and_withdrawal_racing_leave_one_outcome(app, world, terminal):
    use = ask(world["registrar"])
    check = {"no_camera_phone_usb": True}
    outcomes = _race(app, [("security2", services.approve_use, (use.id, check)),
                           ("security2", services.approve_use, (use.id, check)),
                           ("security2", services.refuse_use, (use.id, {"reason": "同時の却下"})),
                           ("registrar", services.cancel_use, (use.id, {"reason": "同時の取消し"}))])
    assert outcomes.count("ok") == 1 and outcomes.count(409) == 3, outcomes
    db.session.expire_all()
    decided = [e.type for e in events_for(f"terminal-use:{use.id}")][1:]
    assert len(decided) == 1
    assert verify_chain().ok


def test_two_closes_record_one_end(app, world, terminal):
    use = ask(world["registrar"])
    services.approve_use(world["security2"], use.id, {"no_camera_phone_usb": True})
    outcomes = _race(app, [("registrar", services.close_use, (use.id, {}))] * 3)
    assert sorted(outcomes, key=str) == [409, 409, "ok"]
    db.session.expire_all()
    assert [e.type for e in events_for(f"terminal-use:{use.id}")].count("terminal_use:closed") == 1
