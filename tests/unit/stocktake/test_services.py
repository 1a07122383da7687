from datetime import date, timedelta

import pytest
from flask import current_app
from sqlalchemy import func, select

from lifecycle.audit.models import AuditEvent
from lifecycle.audit.services import events_for, head
from lifecycle.clock import today_jst
from lifecycle.errors import Conflict, Forbidden, Invalid, InvalidTransition
from lifecycle.extensions import db
from lifecycle.items.schemas import qr_url
from lifecycle.items.services import get_item
from lifecycle.stocktake import services
from lifecycle.stocktake.models import StocktakeScan
from tests import factories

SHELF = "税務課 書庫A-3"


def _due() -> str:
    return (today_jst() + timedelta(days=14)).isoformat()


def _plan(actor, **overrides):
    data = {"department": "zeimu", "kinds": ["form", "medium"], "location": SHELF, "due": _due(),
            "scanners": ["registrar"]}
    data.update(overrides)
    return services.plan_stocktake(actor, data)


def _label(code: str) -> str:
    return qr_url(code)


@pytest.fixture
def shelf(world):
    """Three forms of 税務課 on the shelf, one elsewhere, one of another department."""
    reg = world["registrar"]
    here = [factories.form(reg).code for _ in range(3)]
    other_place = factories.form(reg, location="税務課 倉庫").code
    elsewhere = factories.form(world["registrar2"], location="旅券センター 書庫").code
    return {"here": here, "other_place": other_place, "elsewhere": elsewhere}


def test_plan_expects_the_items_on_the_shelf(world, shelf):
    stocktake = _plan(world["security2"])
    assert stocktake.status == "open"
    assert services.counts(stocktake.id).expected == 3
    assert events_for(stocktake.audit_subject)[-1].type == "stocktake:planned"


def test_plan_refuses_every_bad_field_at_once(world):
    with pytest.raises(Invalid) as refused:
        services.plan_stocktake(world["security2"], {"department": "nope", "kinds": ["usb"], "due": "x"})
    assert set(refused.value.fields) >= {"department", "kinds", "due"}


def test_only_the_departments_security_manager_plans(world, shelf):
    with pytest.raises(Forbidden):
        _plan(world["registrar"])
    with pytest.raises(Forbidden):  # security2 manages 税務課 only
        _plan(world["security2"], department="ryoken", scanners=[])
    assert _plan(world["security"]).department.code == "zeimu"  # 市町課's manager plans for any


def test_registrar_of_another_department_cannot_be_a_scanner(world):
    with pytest.raises(Invalid) as refused:
        _plan(world["security2"], scanners=["registrar2"])
    assert "scanners" in refused.value.fields


def test_each_outcome(world, shelf):
    stocktake = _plan(world["security2"])
    reg = world["registrar"]
    first = services.record_scan(reg, stocktake.id, _label(shelf["here"][0]))
    assert first.outcome == "confirmed" and first.counts.confirmed == 1 and first.counts.remaining == 2
    typed = services.record_scan(reg, stocktake.id, shelf["here"][1].lower())
    assert typed.outcome == "confirmed"
    again = services.record_scan(reg, stocktake.id, _label(shelf["here"][0]))
    assert again.outcome == "duplicate" and again.counts.confirmed == 2
    wrong = services.record_scan(reg, stocktake.id, shelf["other_place"])
    assert wrong.outcome == "wrong_location" and "税務課 倉庫" in wrong.message
    other = services.record_scan(reg, stocktake.id, _label(shelf["elsewhere"]))
    assert other.outcome == "out_of_scope" and other.code is None
    title = get_item(shelf["elsewhere"]).title
    assert title not in other.message
    unknown = services.record_scan(reg, stocktake.id, "F-2026-999999")
    assert unknown.outcome == "unknown"
    assert services.record_scan(reg, stocktake.id, "F-2026-999999").outcome == "duplicate"
    payload = _label(shelf["here"][2])
    forged = services.record_scan(reg, stocktake.id, payload[:-3] + ("AAA" if not payload.endswith("AAA") else "BBB"))
    assert forged.outcome == "forged"
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.type == "label:forged")) == 1
    outcomes = [s.outcome for s in db.session.scalars(select(StocktakeScan).order_by(StocktakeScan.id))]
    assert outcomes == ["confirmed", "confirmed", "wrong_location", "out_of_scope", "unknown", "forged"]
    final = services.counts(stocktake.id)
    assert (final.expected, final.confirmed, final.unknown, final.forged) == (3, 2, 1, 1)


def test_destroyed_item_says_which(world, shelf):
    from lifecycle.destruction import services as destruction

    code = shelf["here"][0]
    batch = destruction.create_batch(world["registrar"], items=[code], method="shred", place="税務課")
    destruction.witness_batch(world["security2"], batch.id)
    stocktake = _plan(world["security2"])
    result = services.record_scan(world["registrar"], stocktake.id, code)
    assert result.outcome == "out_of_scope" and "廃棄済" in result.message


def test_pasted_list_with_duplicates_and_unknown_codes(world, shelf):
    stocktake = _plan(world["security2"])
    text = "\n".join([shelf["here"][0], _label(shelf["here"][1]), shelf["here"][0], "", "X-UNKNOWN", "X-UNKNOWN"])
    results, counts = services.record_scans(world["registrar"], stocktake.id, services.split_pasted(text))
    assert [r.outcome for r in results] == ["confirmed", "confirmed", "duplicate", "unknown", "duplicate"]
    assert (counts.confirmed, counts.remaining, counts.unknown) == (2, 1, 1)


def test_scanner_must_be_assigned(world, shelf):
    stocktake = _plan(world["security2"], scanners=[])
    with pytest.raises(Forbidden):
        services.record_scan(world["registrar2"], stocktake.id, shelf["here"][0])
    with pytest.raises(Forbidden):
        services.record_scan(world["auditor"], stocktake.id, shelf["here"][0])


def test_wrong_location_is_corrected_by_a_recorded_event(world, shelf):
    stocktake = _plan(world["security2"])
    code = shelf["other_place"]
    services.record_scan(world["registrar"], stocktake.id, code)
    services.correct_location(world["registrar"], stocktake.id, code)
    assert get_item(code).location == SHELF
    assert events_for(code)[-1].type == "stocktake:location_corrected"
    with pytest.raises(Conflict):
        services.correct_location(world["registrar"], stocktake.id, code)
    with pytest.raises(Conflict):
        services.correct_location(world["registrar"], stocktake.id, shelf["here"][0])


def test_close_makes_the_unseen_missing_and_found_again_returns(world, shelf):
    stocktake = _plan(world["security2"])
    services.record_scan(world["registrar"], stocktake.id, shelf["here"][0])
    closed, missing = services.close_stocktake(world["security2"], stocktake.id)
    assert closed.status == "closed" and sorted(missing) == sorted(shelf["here"][1:])
    assert closed.closed_head_seq == head()[0]
    for code in missing:
        assert get_item(code).status == "missing"
        assert events_for(code)[-1].type == "item:missing"
    with pytest.raises(InvalidTransition):
        services.record_scan(world["registrar"], stocktake.id, shelf["here"][1])
    with pytest.raises(Invalid):
        services.mark_found(world["registrar"], missing[0], "")
    item = services.mark_found(world["registrar"], missing[0], "書庫B の奥で発見")
    assert item.status == "registered"
    assert events_for(missing[0])[-1].type == "item:found"
    with pytest.raises(InvalidTransition):
        services.mark_found(world["registrar"], missing[0], "二度目")


def test_scan_in_a_later_stocktake_finds_a_missing_item(world, shelf):
    first = _plan(world["security2"])
    services.close_stocktake(world["security2"], first.id)
    code = shelf["here"][0]
    assert get_item(code).status == "missing"
    second = _plan(world["security2"])
    result = services.record_scan(world["registrar"], second.id, code)
    assert result.outcome == "found" and get_item(code).status == "registered"


def test_write_off_by_a_different_security_manager_only(world, shelf):
    code = factories.form(world["registrar"], contains_my_number=True).code
    stocktake = _plan(world["security2"])
    services.close_stocktake(world["security2"], stocktake.id)
    with pytest.raises(Forbidden) as refused:
        services.write_off(world["security2"], code, "見つからない")
    assert refused.value.code == "separation_of_duties"
    assert get_item(code).status == "missing"
    with pytest.raises(Forbidden):
        services.write_off(world["registrar"], code, "見つからない")
    item = services.write_off(world["security"], code, "捜索したが見つからない")
    assert item.status == "written_off"
    event = events_for(code)[-1]
    assert event.type == "item:written_off" and '"possible_leak":true' in event.data.replace(" ", "")


def test_sign_after_close(world, shelf):
    stocktake = _plan(world["security2"])
    with pytest.raises(InvalidTransition):
        services.sign_stocktake(world["security2"], stocktake.id)
    services.close_stocktake(world["security2"], stocktake.id)
    with pytest.raises(Forbidden):
        services.sign_stocktake(world["registrar"], stocktake.id)
    signed = services.sign_stocktake(world["security2"], stocktake.id, "確認しました")
    assert signed.status == "signed" and events_for(stocktake.audit_subject)[-1].type == "stocktake:signed"


def test_due_and_overdue(world):
    today = date(2026, 12, 4)
    assert services.due_on(None, 365, today) == date(2027, 3, 31)
    assert services.due_on(date(2026, 6, 1), 365, today) == date(2027, 6, 1)  # done this 年度: interval
    assert services.due_on(date(2026, 6, 1), 100, today) == date(2026, 9, 9)
    assert services.due_on(date(2025, 6, 1), 365, today) == date(2026, 6, 1)
    rows = services.departments_due(date(2027, 3, 20))
    assert {r.department.code for r in rows} >= {"zeimu", "shicho"}
    assert not any(r.overdue for r in rows)
    assert all(r.overdue for r in services.departments_due(date(2027, 4, 1)))


def test_a_closed_stocktake_takes_the_department_off_the_due_list(world, shelf):
    stocktake = _plan(world["security2"])
    services.close_stocktake(world["security2"], stocktake.id)
    end = services.fiscal_year_end(today_jst())
    due = {r.department.code for r in services.departments_due(end)}
    assert "zeimu" not in due and "shicho" in due


def test_an_open_stocktake_past_its_due_date_is_overdue(world, shelf):
    stocktake = _plan(world["security2"])
    rows = services.departments_due(stocktake.due + timedelta(days=1), department_id=stocktake.department_id)
    assert rows and rows[0].overdue and rows[0].open_ids == (stocktake.id,)


def test_my_number_in_a_reason_is_refused(world, shelf):
    stocktake = _plan(world["security2"])
    services.close_stocktake(world["security2"], stocktake.id)
    with pytest.raises(Invalid) as refused:
        services.mark_found(world["registrar"], shelf["here"][0], "番号 123456789018 の書類")
    assert refused.value.code == "my_number_in_text"


def test_a_missing_item_leaves_missing_only_when_found_or_written_off(world, shelf):
    from lifecycle import states
    from lifecycle.custody import services as custody

    stocktake = _plan(world["security2"])
    services.close_stocktake(world["security2"], stocktake.id)
    code = shelf["here"][0]
    assert not states.can("form", "missing", states.State.IN_CUSTODY)
    assert not states.can("form", "missing", states.State.CUSTODY_UNCONFIRMED)
    with pytest.raises(InvalidTransition):
        custody.request_transfer(world["registrar"], code, "registrar2")
    assert get_item(code).status == "missing"


# --- the holder: 場所違い when the ledger's holder cannot be the department's ---------------------

@pytest.fixture
def leaver(world):
    """A registrar of 税務課 who registered a form on the shelf and then left (利用停止)."""
    from lifecycle.auth.services import create_user, set_active

    person = create_user(world["admin"], "taishoku", "退職 三郎", "zeimu", roles=["registrar"], trained_on=today_jst())
    code = factories.form(person).code
    set_active(world["admin"], "taishoku", False)
    return code


def test_a_holder_who_left_is_a_wrong_location_shown_by_name(world, shelf, leaver):
    stocktake = _plan(world["security2"])
    result = services.record_scan(world["registrar"], stocktake.id, _label(leaver))
    assert result.outcome == "wrong_location"
    assert result.holder.name == "退職 三郎（税務課）" and result.holder.problem == "left"
    assert "退職 三郎" in result.message and "taishoku" not in result.message
    assert result.to_json()["holder"]["problem_label"] == "退職・利用停止"
    assert services.record_scan(world["registrar"], stocktake.id, leaver).outcome == "duplicate"
    # A plain one on the shelf held by an active registrar of the department is still 確認.
    assert services.record_scan(world["registrar"], stocktake.id, shelf["here"][0]).outcome == "confirmed"
    scanned = events_for(stocktake.audit_subject)[-2]
    assert '"holder_problem":"left"' in scanned.data


def test_holder_problems_moved_and_no_role(world):
    from lifecycle.auth.services import create_user, revoke_role

    moved = create_user(world["admin"], "idou", "異動 四郎", "zeimu", roles=["registrar"], trained_on=today_jst())
    lapsed = create_user(world["admin"], "kengen", "権限 五郎", "zeimu", roles=["registrar"], trained_on=today_jst())
    assert services.holder_problem(moved, moved.department_id) is None
    assert services.holder_problem(moved, world["registrar2"].department_id) == "moved"
    revoke_role(world["admin"], "kengen", "registrar")
    assert services.holder_problem(lapsed, lapsed.department_id) == "no_role"


def test_the_scanner_takes_over_an_item_whose_holder_left(world, shelf, leaver):
    stocktake = _plan(world["security2"])
    services.record_scan(world["registrar"], stocktake.id, leaver)
    line = services.correct_holder(world["registrar"], stocktake.id, leaver)
    item = get_item(leaver)
    assert line.holder_corrected and item.holder_id == world["registrar"].id and item.status == "registered"
    event = events_for(leaver)[-1]
    assert event.type == "stocktake:holder_corrected" and event.actor == "registrar"
    assert '"holder_before":"taishoku"' in event.data and '"holder_after":"registrar"' in event.data
    with pytest.raises(Conflict):
        services.correct_holder(world["registrar"], stocktake.id, leaver)


def test_only_a_person_who_may_hold_for_the_department_takes_over(world, shelf, leaver):
    stocktake = _plan(world["security2"], scanners=["registrar"])
    services.record_scan(world["security"], stocktake.id, leaver)  # 市町課's security manager scans
    before = head()
    with pytest.raises(Forbidden) as refused:
        services.correct_holder(world["security"], stocktake.id, leaver)
    assert refused.value.code == "cannot_hold_here" and head() == before
    assert get_item(leaver).holder.login == "taishoku"
    with pytest.raises(Conflict):  # a line read as 確認 has no holder to correct
        services.record_scan(world["registrar"], stocktake.id, shelf["here"][0])
        services.correct_holder(world["registrar"], stocktake.id, shelf["here"][0])


def test_a_holder_changed_since_the_scan_is_not_corrected(world, shelf, leaver):
    stocktake = _plan(world["security2"])
    services.record_scan(world["registrar"], stocktake.id, leaver)
    services.correct_holder(world["security2"], stocktake.id, leaver)
    with pytest.raises(Conflict):
        services.correct_holder(world["registrar"], stocktake.id, leaver)
    assert get_item(leaver).holder.login == "security2"


# --- cancelling -------------------------------------------------------------------------------

def test_cancel_keeps_the_scans_and_changes_no_item(world, shelf):
    stocktake = _plan(world["security2"])
    services.record_scan(world["registrar"], stocktake.id, shelf["here"][0])
    services.record_scan(world["registrar"], stocktake.id, "F-2026-999999")
    statuses = {code: get_item(code).status for code in shelf["here"]}
    cancelled = services.cancel_stocktake(world["security2"], stocktake.id, "年度末の異動で延期")
    assert cancelled.status == "cancelled" and services.status_label(cancelled.status) == "中止"
    assert cancelled.cancel_reason == "年度末の異動で延期" and cancelled.cancelled_by == "security2"
    assert {code: get_item(code).status for code in shelf["here"]} == statuses
    assert db.session.scalar(select(func.count()).select_from(StocktakeScan)
                             .where(StocktakeScan.stocktake_id == stocktake.id)) == 2
    event = events_for(stocktake.audit_subject)[-1]
    assert event.type == "stocktake:cancelled" and '"reason":"年度末の異動で延期"' in event.data
    with pytest.raises(InvalidTransition):
        services.record_scan(world["registrar"], stocktake.id, shelf["here"][1])
    with pytest.raises(InvalidTransition):
        services.close_stocktake(world["security2"], stocktake.id)
    with pytest.raises(InvalidTransition):
        services.sign_stocktake(world["security2"], stocktake.id)
    with pytest.raises(InvalidTransition):
        services.cancel_stocktake(world["security2"], stocktake.id, "もう一度")


def test_cancel_needs_a_reason_and_a_manager_of_the_department(world, shelf):
    stocktake = _plan(world["security2"])
    before = head()
    with pytest.raises(Invalid) as refused:
        services.cancel_stocktake(world["security2"], stocktake.id, "  ")
    assert refused.value.fields == {"reason": refused.value.message}
    with pytest.raises(Forbidden):
        services.cancel_stocktake(world["registrar"], stocktake.id, "中止します")
    ryoken = services.plan_stocktake(world["security"], {"department": "ryoken", "kinds": ["form"], "due": _due()})
    with pytest.raises(Forbidden):
        services.cancel_stocktake(world["security2"], ryoken.id, "他の所属")
    assert head()[0] == before[0] + 1  # only the other plan was recorded
    services.cancel_stocktake(world["security"], stocktake.id, "市町課から中止")  # the 市町課's may


def test_a_closed_stocktake_cannot_be_cancelled(world, shelf):
    stocktake = _plan(world["security2"])
    services.close_stocktake(world["security2"], stocktake.id)
    with pytest.raises(InvalidTransition) as refused:
        services.cancel_stocktake(world["security2"], stocktake.id, "やはり中止")
    assert "締め済" in refused.value.message
