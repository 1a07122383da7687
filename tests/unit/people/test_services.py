"""People: training records decide whether roles count, leavers hand everything on (or are forced
out to 所在確認待ち), 異動, the second admin's approval of bulk_operator, and the rights review."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from lifecycle.actors import SystemActor
from lifecycle.audit.models import AuditEvent
from lifecycle.audit.services import head
from lifecycle.auth import services as auth
from lifecycle.clock import today_jst
from lifecycle.custody import services as custody
from lifecycle.custody.models import Transfer
from lifecycle.errors import Conflict, Forbidden, Invalid
from lifecycle.extensions import db
from lifecycle.items.services import get_item
from lifecycle.people import services as people
from lifecycle.policy import services as policy
from lifecycle.roles import Role
from tests import factories

SYSTEM = SystemActor("system:test", "テスト")


def _events(type_: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.type == type_).order_by(AuditEvent.seq)))


def _fresh(login: str):
    db.session.expire_all()
    return auth.get_user(login)


# --- training -------------------------------------------------------------------------------

def test_a_training_counts_for_its_year_or_the_policy_days_whichever_is_later():
    assert auth.training_expires_on(date(2026, 4, 10), 365) == date(2027, 4, 10)
    assert auth.training_expires_on(date(2026, 4, 10), 60) == date(2027, 3, 31)  # the rest of its 年度
    assert auth.training_expires_on(date(2027, 3, 1), 365) == date(2028, 2, 29)


def test_expired_training_turns_roles_off_and_a_new_record_turns_them_back_on(world):
    auth.record_training(world["admin"], "registrar", None)
    auth.record_training(world["admin"], "registrar", today_jst() - timedelta(days=800), "前々年度の研修")
    user = _fresh("registrar")
    assert user.granted_roles == {Role.REGISTRAR}
    assert user.effective_roles == set() and not user.training_current()
    record = auth.record_training(world["admin"], "registrar", today_jst(), "令和8年度 住基ネット研修")
    user = _fresh("registrar")
    assert user.has_role(Role.REGISTRAR) and user.trained_on == today_jst()
    event = _events("user:training_recorded")[-1]
    assert event.actor == "admin" and '"course":"令和8年度 住基ネット研修"' in event.data
    assert [r.id for r in auth.training_records(user)][0] == record.id


def test_training_refuses_a_future_date_and_a_my_number_in_the_course_both_at_once(world):
    before = head()
    with pytest.raises(Invalid) as refused:
        auth.record_training(world["admin"], "registrar", today_jst() + timedelta(days=2), "研修 123456789018")
    assert set(refused.value.fields) == {"completed_on", "course"}
    assert head() == before


def test_changing_the_policy_period_moves_every_last_valid_day(world):
    trained = world["registrar"].trained_on
    policy.set_policy(world["admin"], "training.valid_days", 800)
    assert _fresh("registrar").training_valid_until == trained + timedelta(days=800)


def test_withdrawing_the_training_suspends_the_roles(world):
    auth.record_training(world["admin"], "registrar", None)
    user = _fresh("registrar")
    assert user.effective_roles == set() and user.trained_on is None
    assert all(r.withdrawn_by == "admin" for r in auth.training_records(user))


# --- leaving --------------------------------------------------------------------------------

def test_leaving_with_items_is_refused_and_lists_them(world):
    item = factories.form(world["registrar"])
    before = head()
    with pytest.raises(Conflict) as refused:
        people.leave(world["admin"], "registrar", today_jst().isoformat(), "退職")
    assert refused.value.code == "holds_items" and refused.value.extra["items"] == [item.code]
    assert head() == before and _fresh("registrar").active


def test_the_bulk_hand_off_path_then_leaving(world):
    items = [factories.form(world["registrar"]), factories.form(world["registrar"])]
    transfers = people.hand_off_all(world["admin"], "registrar", "security2")
    assert len(transfers) == 2 and all(t.giver.login == "registrar" for t in transfers)
    with pytest.raises(Conflict):  # still pending: the receiver must accept each
        people.leave(world["admin"], "registrar", today_jst(), None)
    for transfer in transfers:
        custody.accept_transfer(world["security2"], transfer.id)
    people.leave(world["admin"], "registrar", today_jst(), "人事異動による担当替え")
    user = _fresh("registrar")
    assert not user.active and user.granted_roles == set()
    assert {get_item(i.code).holder.login for i in items} == {"security2"}
    assert _events("user:left")[-1].actor == "admin"


def test_the_bulk_hand_off_needs_another_receiver_and_something_to_hand(world):
    with pytest.raises(Conflict) as nothing:
        people.hand_off_all(world["admin"], "registrar", "security2")
    assert nothing.value.code == "nothing_to_hand_off"
    factories.form(world["registrar"])
    with pytest.raises(Invalid) as himself:
        people.hand_off_all(world["admin"], "registrar", "registrar")
    assert himself.value.code == "self_transfer"
    with pytest.raises(Forbidden):
        people.hand_off_all(world["security"], "registrar", "security2")


def test_only_an_admin_other_than_the_person_records_a_leave(world):
    with pytest.raises(Forbidden):
        people.leave(world["security"], "registrar", today_jst(), None)
    with pytest.raises(Forbidden):
        people.leave(world["admin"], "admin", today_jst(), None)


def test_a_forced_leave_needs_a_reason_and_puts_items_under_the_security_manager(world):
    held = factories.form(world["registrar"])
    incoming_item = factories.form(world["registrar2"])
    incoming = custody.request_transfer(world["registrar2"], incoming_item.code, "registrar")
    with pytest.raises(Invalid) as refused:
        people.leave(world["admin"], "registrar", today_jst(), "", force=True)
    assert "reason" in refused.value.fields
    people.leave(world["admin"], "registrar", today_jst(), "長期療養のため", force=True)
    item = get_item(held.code)
    assert item.status == "custody_unconfirmed" and item.holder.login == "security2"
    back = get_item(incoming_item.code)
    assert back.status == "in_custody" and back.holder.login == "registrar2"
    assert db.session.get(Transfer, incoming.id).status == "rejected"
    assert [i.code for i in people.unconfirmed_items()] == [held.code]
    with pytest.raises(Forbidden):
        people.confirm_custody(world["security"], held.code)
    people.confirm_custody(world["security2"], held.code, location="税務課 金庫")
    item = get_item(held.code)
    assert item.status == "in_custody" and item.location == "税務課 金庫"
    assert people.unconfirmed_items() == []


def test_a_forced_leave_without_a_security_manager_in_the_department_is_refused(world):
    factories.form(world["registrar2"])  # 旅券センター has no security manager
    with pytest.raises(Conflict) as refused:
        people.leave(world["admin"], "registrar2", today_jst(), "退職", force=True)
    assert refused.value.code == "no_security_manager" and _fresh("registrar2").active


def test_a_future_effective_date_is_refused(world):
    with pytest.raises(Invalid) as refused:
        people.leave(world["admin"], "auditor", today_jst() + timedelta(days=3), None)
    assert "effective_on" in refused.value.fields


# --- 異動 ------------------------------------------------------------------------------------

def test_a_transfer_between_departments_is_refused_while_holding_items(world):
    factories.form(world["registrar"])
    with pytest.raises(Conflict) as refused:
        people.change_department(world["admin"], "registrar", "ryoken", today_jst())
    assert refused.value.code == "holds_items"


def test_leaving_shicho_ends_bulk_operator(world):
    people.change_department(world["admin"], "bulk", "zeimu", today_jst(), "4月1日付け人事異動")
    user = _fresh("bulk")
    assert user.department.code == "zeimu" and user.granted_roles == {Role.REGISTRAR}
    event = _events("user:department_changed")[-1]
    assert '"roles":["bulk_operator"]' in event.data


# --- bulk_operator needs two admins ---------------------------------------------------------

def test_a_bulk_operator_grant_needs_a_second_admin(world):
    auth.create_user(SYSTEM, "newbulk", "新任 一括", "shicho", roles=["registrar"], trained_on=today_jst())
    with pytest.raises(Conflict) as refused:
        auth.grant_role(world["admin"], "newbulk", "bulk_operator")
    assert refused.value.code == "approval_required"
    request = people.grant_or_request(world["admin"], "newbulk", "bulk_operator", "一括提供の担当追加")
    assert request.status == "pending" and Role.BULK_OPERATOR not in _fresh("newbulk").granted_roles
    with pytest.raises(Forbidden) as same:
        people.approve_grant(world["admin"], request.id)
    assert same.value.code == "separation_of_duties"
    people.approve_grant(world["admin2"], request.id)
    assert _fresh("newbulk").has_role(Role.BULK_OPERATOR)
    assert [e.actor for e in _events("role:grant_requested")][-1:] == ["admin"]
    assert [e.actor for e in _events("role:grant_approved")][-1:] == ["admin2"]
    with pytest.raises(Conflict):
        people.approve_grant(world["admin2"], request.id)


def test_a_grant_request_can_be_refused_with_a_reason(world):
    auth.create_user(SYSTEM, "newbulk", "新任 一括", "shicho", roles=["registrar"], trained_on=today_jst())
    request = people.request_grant(world["admin"], "newbulk", "bulk_operator")
    with pytest.raises(Invalid):
        people.refuse_grant(world["admin2"], request.id, "")
    people.refuse_grant(world["admin2"], request.id, "研修未了のため")
    assert db.session.get(type(request), request.id).status == "refused"
    assert Role.BULK_OPERATOR not in _fresh("newbulk").granted_roles


def test_a_grant_request_outside_shicho_is_refused_when_asked(world):
    with pytest.raises(Invalid) as refused:
        people.request_grant(world["admin"], "registrar", "bulk_operator")
    assert refused.value.code == "bulk_operator_outside_owner"


# --- 権限の棚卸 ----------------------------------------------------------------------------------

def test_the_department_security_manager_confirms_or_revokes_each_role(world):
    people.decide_role(world["security2"], "registrar", "registrar", people.CONFIRMED)
    with pytest.raises(Conflict):
        people.decide_role(world["security2"], "registrar", "registrar", people.CONFIRMED)
    with pytest.raises(Forbidden):  # 市町課's security manager does not review 税務課
        people.decide_role(world["security"], "registrar", "registrar", people.REVOKED, "不要")
    with pytest.raises(Forbidden):
        people.decide_role(world["security2"], "security2", "security_manager", people.CONFIRMED)
    year = people.review_year()
    rows = people.review_rows(world["registrar"].department, year)
    assert {(r.user.login, r.role.value, r.decision.decision if r.decision else None) for r in rows} == {
        ("registrar", "registrar", "confirmed"), ("security2", "security_manager", None)}
    progress = {p.department.code: (p.decided, p.total) for p in people.review_progress(year)}
    assert progress["zeimu"] == (1, 2)


def test_a_revocation_in_the_review_takes_the_role_away(world):
    with pytest.raises(Invalid):
        people.decide_role(world["security"], "bulk", "bulk_operator", people.REVOKED, "")
    people.decide_role(world["security"], "bulk", "bulk_operator", people.REVOKED, "一括提供の担当を外れたため")
    assert _fresh("bulk").granted_roles == {Role.REGISTRAR}
    assert _events("rights_review:revoked")[-1].actor == "security"


def _granted_in_april(login: str) -> None:
    """The demo's grants are made today; the review asks about roles held before its deadline."""
    user = auth.get_user(login)
    with db.transaction():
        for grant in user.grants:
            grant.granted_at = datetime(people.review_year(), 4, 1)


def test_roles_not_confirmed_by_the_deadline_are_exceptions(world):
    year = people.review_year()
    deadline = people.review_deadline(year)
    assert deadline == date(year, 6, 30)
    late = people.unreviewed_after_deadline(deadline + timedelta(days=1))
    assert ("registrar", Role.REGISTRAR) not in {(r.user.login, r.role) for r in late}  # granted after it
    _granted_in_april("registrar")
    assert people.unreviewed_after_deadline(deadline) == []
    late = people.unreviewed_after_deadline(deadline + timedelta(days=1))
    assert ("registrar", Role.REGISTRAR) in {(r.user.login, r.role) for r in late}
    people.decide_role(world["security2"], "registrar", "registrar", people.CONFIRMED)
    late = people.unreviewed_after_deadline(deadline + timedelta(days=1))
    assert ("registrar", Role.REGISTRAR) not in {(r.user.login, r.role) for r in late}


# --- the exceptions list ----------------------------------------------------------------------

def _exceptions(as_of):
    from lifecycle.reports.queries import compute_findings
    findings = compute_findings(as_of, limit=None)
    return [(row.category.value, row.code, row.title) for d in findings.departments for row in d.rows]


def test_each_people_exception_is_listed_until_resolved(world):
    item = factories.form(world["registrar"])
    people.leave(world["admin"], "registrar", today_jst(), "退職", force=True)
    assert ("custody_unconfirmed", item.code, item.title) in _exceptions(today_jst())
    people.confirm_custody(world["security2"], item.code)
    assert ("custody_unconfirmed", item.code, item.title) not in _exceptions(today_jst())

    auth.record_training(world["admin"], "registrar2", None)
    auth.record_training(world["admin"], "registrar2", today_jst() - timedelta(days=800))
    assert ("training_expired", "", "旅券 二郎（旅券センター）") in _exceptions(today_jst())
    auth.record_training(world["admin"], "registrar2", today_jst())
    assert ("training_expired", "", "旅券 二郎（旅券センター）") not in _exceptions(today_jst())

    _granted_in_april("security2")
    late = people.review_deadline(people.review_year()) + timedelta(days=1)
    assert ("rights_unreviewed", "", "保護 守（税務課）") in _exceptions(late)
    people.decide_role(world["admin"], "security2", "security_manager", people.CONFIRMED)
    assert ("rights_unreviewed", "", "保護 守（税務課）") not in _exceptions(late)


# --- the inbox ----------------------------------------------------------------------------------

def _kinds(login: str) -> list[str]:
    from lifecycle.notifications.tasks import tasks_for
    db.session.expire_all()
    return [t.kind for t in tasks_for(auth.get_user(login))]


def test_a_grant_request_waits_in_the_other_admins_inbox(world):
    request = people.request_grant(world["admin"], "security", "bulk_operator")
    assert "grant_to_approve" in _kinds("admin2") and "grant_to_approve" not in _kinds("admin")
    people.approve_grant(world["admin2"], request.id)
    assert "grant_to_approve" not in _kinds("admin2")


def test_the_rights_review_waits_for_the_security_manager_from_its_month(world):
    policy.set_policy(world["admin"], "rights_review.month", today_jst().month)
    assert "rights_review_due" not in _kinds("security2")  # the demo's roles are new this month
    _granted_in_april("registrar")
    if people.review_start(people.review_year()) > datetime(people.review_year(), 4, 1).date():
        assert "rights_review_due" in _kinds("security2")
    people.decide_role(world["security2"], "registrar", "registrar", people.CONFIRMED)
    assert "rights_review_due" not in _kinds("security2")


def test_a_forced_leavers_item_waits_for_the_security_manager(world):
    item = factories.form(world["registrar"])
    people.leave(world["admin"], "registrar", today_jst(), "退職", force=True)
    assert "custody_to_confirm" in _kinds("security2")
    people.confirm_custody(world["security2"], item.code)
    assert "custody_to_confirm" not in _kinds("security2")
