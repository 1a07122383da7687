from datetime import timedelta

import pytest
from sqlalchemy import func, select

from lifecycle.actors import SystemActor
from lifecycle.audit.models import AuditEvent
from lifecycle.audit.services import events_for, head
from lifecycle.auth import services as auth
from lifecycle.clock import today_jst
from lifecycle.custody import services
from lifecycle.custody.models import CustodyException, Transfer
from lifecycle.errors import Conflict, Forbidden, Invalid, InvalidTransition, NotFound
from lifecycle.extensions import db
from lifecycle.items.services import get_item, get_visible_item
from lifecycle.policy import services as policy
from tests import factories


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


class Unchanged:
    """Asserts a refused call left the item, the transfers and the audit log exactly as they were."""

    def __init__(self, code: str) -> None:
        self.code = code

    def _state(self):
        db.session.rollback()
        item = get_item(self.code)
        db.session.refresh(item)
        return (item.status, item.holder_id, item.department_id, item.location, item.recipient,
                item.due_back, item.provided_at, item.returned_at, item.retention_until,
                _count(Transfer), head())

    def __enter__(self):
        self.before = self._state()
        return self

    def __exit__(self, *exc):
        assert self._state() == self.before
        return False


# --- hand-offs ----------------------------------------------------------------------------

def test_transfer_then_accept_moves_holder_and_department(world):
    item = factories.form(world["registrar"])
    transfer = services.request_transfer(world["registrar"], item.code, "registrar2", "書庫移動のため")
    assert transfer.status == "pending"
    item = get_item(item.code)
    assert item.status == "in_transfer"
    assert item.holder.login == "registrar"  # the giver stays responsible until acceptance

    services.accept_transfer(world["registrar2"], transfer.id, location="旅券センター 書庫1")
    item = get_item(item.code)
    assert item.status == "in_custody"
    assert item.holder.login == "registrar2"
    assert item.department.code == "ryoken"
    assert item.location == "旅券センター 書庫1"
    assert db.session.get(Transfer, transfer.id).status == "accepted"


def test_each_step_is_on_the_item_timeline_once_with_details(world):
    item = factories.form(world["registrar"])
    transfer = services.request_transfer(world["registrar"], item.code, "registrar2", "備考です")
    services.accept_transfer(world["registrar2"], transfer.id)
    types = [e.type for e in events_for(item.code)]
    assert types == ["item:registered", "custody:transfer_requested", "custody:accepted"]
    requested = events_for(item.code)[1]
    assert '"transfer":%d' % transfer.id in requested.data
    assert '"giver":"registrar"' in requested.data and '"receiver":"registrar2"' in requested.data
    assert "備考です" in requested.data
    own = [e.type for e in events_for(f"transfer:{transfer.id}")]
    assert own == ["custody:transfer_requested", "custody:accepted"]


def test_reject_returns_the_item_to_the_giver(world):
    item = factories.form(world["registrar"])
    transfer = services.request_transfer(world["registrar"], item.code, "registrar2")
    services.reject_transfer(world["registrar2"], transfer.id, "現物がありません")
    item = get_item(item.code)
    assert (item.status, item.holder.login, item.department.code) == ("in_custody", "registrar", "zeimu")
    assert db.session.get(Transfer, transfer.id).reason == "現物がありません"
    assert events_for(item.code)[-1].type == "custody:rejected"


def test_giver_may_cancel(world):
    item = factories.form(world["registrar"])
    transfer = services.request_transfer(world["registrar"], item.code, "registrar2")
    services.cancel_transfer(world["registrar"], transfer.id)
    item = get_item(item.code)
    assert (item.status, item.holder.login) == ("in_custody", "registrar")
    assert db.session.get(Transfer, transfer.id).status == "cancelled"
    # …and may hand it over again afterwards
    again = services.request_transfer(world["registrar"], item.code, "security2")
    assert again.status == "pending"


@pytest.mark.parametrize("who", ["registrar", "security2", "admin", "registrar2"])
def test_only_the_named_receiver_may_accept_or_reject(world, who):
    item = factories.form(world["registrar"])
    transfer = services.request_transfer(world["registrar"], item.code, "bulk")
    with Unchanged(item.code):
        with pytest.raises(Forbidden):
            services.accept_transfer(world[who], transfer.id)
        with pytest.raises(Forbidden):
            services.reject_transfer(world[who], transfer.id, "担当外のため")


def test_only_the_giver_may_cancel(world):
    item = factories.form(world["registrar"])
    transfer = services.request_transfer(world["registrar"], item.code, "registrar2")
    with Unchanged(item.code):
        with pytest.raises(Forbidden):
            services.cancel_transfer(world["registrar2"], transfer.id)
        with pytest.raises(Forbidden):
            services.cancel_transfer(world["admin"], transfer.id)


def test_second_pending_transfer_is_a_conflict(world):
    item = factories.form(world["registrar"])
    services.request_transfer(world["registrar"], item.code, "registrar2")
    with Unchanged(item.code):
        with pytest.raises(Conflict) as refused:
            services.request_transfer(world["registrar"], item.code, "security2")
    assert refused.value.status == 409
    assert "引継ぎ中" in refused.value.message


def test_a_finished_transfer_cannot_be_accepted_again(world):
    item = factories.form(world["registrar"])
    transfer = services.request_transfer(world["registrar"], item.code, "registrar2")
    services.accept_transfer(world["registrar2"], transfer.id)
    with Unchanged(item.code):
        for action in (services.accept_transfer, services.reject_transfer):
            with pytest.raises(InvalidTransition) as refused:
                action(world["registrar2"], transfer.id)
            assert refused.value.status == 409 and "受領済" in refused.value.message
    with pytest.raises(InvalidTransition):
        services.cancel_transfer(world["registrar"], transfer.id)


@pytest.mark.parametrize("to, code", [
    ("nobody", "unknown_user"),
    ("registrar", "self_transfer"),
    ("auditor", "receiver_not_allowed"),
    ("", None),
    (None, None),
    (123, None),
    ("x" * 100, None),
])
def test_bad_receivers_are_refused_with_422(world, to, code):
    item = factories.form(world["registrar"])
    with Unchanged(item.code):
        with pytest.raises(Invalid) as refused:
            services.request_transfer(world["registrar"], item.code, to)
    assert refused.value.status == 422
    if code:
        assert refused.value.code == code


def test_inactive_and_untrained_receivers_are_refused(world):
    item = factories.form(world["registrar"])
    auth.set_active(SystemActor("system:test", "テスト"), "registrar2", False)
    with Unchanged(item.code):
        with pytest.raises(Invalid) as refused:
            services.request_transfer(world["registrar"], item.code, "registrar2")
    assert refused.value.code == "inactive_user" and "利用停止" in refused.value.message
    auth.record_training(SystemActor("system:test", "テスト"), "security2", None)
    with pytest.raises(Invalid) as refused:
        services.request_transfer(world["registrar"], item.code, "security2")
    assert "研修" in refused.value.message


def test_only_the_holder_may_hand_over(world):
    item = factories.form(world["registrar"])
    with Unchanged(item.code):
        with pytest.raises(Forbidden) as refused:
            services.request_transfer(world["security2"], item.code, "registrar2")  # same department
    assert refused.value.code == "not_holder"
    with pytest.raises(Forbidden):
        services.request_transfer(world["registrar2"], item.code, "registrar2")  # other department
    with pytest.raises(Forbidden):
        services.request_transfer(world["auditor"], item.code, "registrar2")  # auditors only read


def test_unknown_item_and_transfer_are_404(world):
    with pytest.raises(NotFound):
        services.request_transfer(world["registrar"], "F-2026-999999", "registrar2")
    for bad in (999, 0, -1, "abc", None):
        with pytest.raises(NotFound):
            services.accept_transfer(world["registrar"], bad)


def test_a_device_or_destroyed_item_cannot_be_handed_over(world):
    device = factories.device(world["bulk"])
    with Unchanged(device.code):
        with pytest.raises(InvalidTransition) as refused:
            services.request_transfer(world["bulk"], device.code, "security")
    assert refused.value.status == 409 and "使用中" in refused.value.message


def test_provided_medium_cannot_be_handed_over(world):
    medium = factories.medium(world["bulk"])
    services.provide_medium(world["bulk"], medium.code)
    with Unchanged(medium.code):
        with pytest.raises(InvalidTransition) as refused:
            services.request_transfer(world["bulk"], medium.code, "security")
    assert "提供中" in refused.value.message


def test_a_note_with_a_my_number_is_refused(world):
    item = factories.form(world["registrar"])
    for note in ("番号 123456789018 の件", "１２３４ ５６７８ ９０１８", "1234-5678-9018"):
        with Unchanged(item.code):
            with pytest.raises(Invalid) as refused:
                services.request_transfer(world["registrar"], item.code, "registrar2", note)
        assert refused.value.code == "my_number_in_text"
    # an ordinary 12-digit number that is not a valid 個人番号 is fine
    services.request_transfer(world["registrar"], item.code, "registrar2", "伝票 123456789012")


def test_receiver_of_another_department_may_open_the_item_while_pending(world):
    item = factories.form(world["registrar"])
    with pytest.raises(Forbidden):
        get_visible_item(world["registrar2"], item.code)
    transfer = services.request_transfer(world["registrar"], item.code, "registrar2")
    assert get_visible_item(world["registrar2"], item.code).code == item.code
    services.reject_transfer(world["registrar2"], transfer.id, "担当外のため")
    with pytest.raises(Forbidden):
        get_visible_item(world["registrar2"], item.code)


def test_inbox_lists(world):
    item = factories.form(world["registrar"])
    transfer = services.request_transfer(world["registrar"], item.code, "registrar2")
    assert [t.id for t in services.incoming_transfers(world["registrar2"])] == [transfer.id]
    assert [t.id for t in services.outgoing_transfers(world["registrar"])] == [transfer.id]
    assert services.incoming_transfers(world["registrar"]) == []
    services.accept_transfer(world["registrar2"], transfer.id)
    assert services.incoming_transfers(world["registrar2"]) == []
    assert [t.id for t in services.recent_transfers(world["registrar"])] == [transfer.id]


def test_eligible_receivers_exclude_auditors_and_oneself(world):
    logins = {u.login for u in services.eligible_receivers(world["registrar"])}
    assert "registrar" not in logins and "auditor" not in logins
    assert {"registrar2", "bulk", "security", "security2"} <= logins


# --- bulk media ---------------------------------------------------------------------------

def test_provide_and_return_a_medium(world):
    medium = factories.medium(world["bulk"])
    provided = services.provide_medium(world["bulk"], medium.code, "公安委員会")
    assert provided.status == "provided" and provided.recipient == "公安委員会"
    assert provided.provided_at is not None
    returned = services.return_medium(world["bulk"], medium.code)
    assert returned.status == "returned"
    assert returned.returned_at is not None
    assert returned.retention_until == today_jst() + timedelta(days=policy.get("medium.retention_days"))
    types = [e.type for e in events_for(medium.code)]
    assert types[-2:] == ["medium:provided", "medium:returned"]


def test_provide_defaults_to_the_registered_recipient_and_may_set_a_new_due_date(world):
    medium = factories.medium(world["bulk"], recipient="教育委員会")
    due = today_jst() + timedelta(days=30)
    provided = services.provide_medium(world["bulk"], medium.code, None, due.isoformat())
    assert provided.recipient == "教育委員会" and provided.due_back == due


def test_retention_follows_the_policy(world):
    policy.set_policy(world["admin"], "medium.retention_days", 7)
    medium = factories.medium(world["bulk"])
    services.provide_medium(world["bulk"], medium.code)
    assert services.return_medium(world["bulk"], medium.code).retention_until == today_jst() + timedelta(days=7)


@pytest.mark.parametrize("who", ["registrar", "security", "auditor", "admin"])
def test_only_bulk_operators_provide_and_return(world, who):
    medium = factories.medium(world["bulk"])
    with Unchanged(medium.code):
        with pytest.raises(Forbidden):
            services.provide_medium(world[who], medium.code)
    services.provide_medium(world["bulk"], medium.code)
    with Unchanged(medium.code):
        with pytest.raises(Forbidden):
            services.return_medium(world[who], medium.code)


def test_a_form_cannot_be_provided_or_returned(world):
    form = factories.form(world["bulk"])
    with Unchanged(form.code):
        with pytest.raises(Conflict) as refused:
            services.provide_medium(world["bulk"], form.code)
        assert refused.value.code == "not_a_medium" and refused.value.status == 409
        with pytest.raises(Conflict):
            services.return_medium(world["bulk"], form.code)


def test_return_of_a_medium_never_provided_is_409(world):
    medium = factories.medium(world["bulk"])
    with Unchanged(medium.code):
        with pytest.raises(InvalidTransition) as refused:
            services.return_medium(world["bulk"], medium.code)
    assert refused.value.status == 409 and "提供中ではない" in refused.value.message


def test_provide_twice_is_409(world):
    medium = factories.medium(world["bulk"])
    services.provide_medium(world["bulk"], medium.code)
    with Unchanged(medium.code):
        with pytest.raises(InvalidTransition):
            services.provide_medium(world["bulk"], medium.code)


@pytest.mark.parametrize("due", ["yesterday", "far", "2026-13-45", 42])
def test_bad_due_back_on_provide_is_422(world, due):
    medium = factories.medium(world["bulk"])
    value = {"yesterday": (today_jst() - timedelta(days=1)).isoformat(),
             "far": (today_jst() + timedelta(days=10000)).isoformat()}.get(due, due)
    with Unchanged(medium.code):
        with pytest.raises(Invalid):
            services.provide_medium(world["bulk"], medium.code, None, value)


def test_medium_in_transfer_cannot_be_provided(world):
    medium = factories.medium(world["bulk"])
    services.request_transfer(world["bulk"], medium.code, "security")
    with Unchanged(medium.code):
        with pytest.raises(InvalidTransition):
            services.provide_medium(world["bulk"], medium.code)


# --- exceptions ---------------------------------------------------------------------------

def _exception_events():
    return db.session.scalars(select(AuditEvent).where(AuditEvent.type == "exception:recorded")).all()


def test_scan_records_overdue_media_once(world):
    medium = factories.medium(world["bulk"])
    services.provide_medium(world["bulk"], medium.code)
    due = get_item(medium.code).due_back
    assert services.scan_exceptions(SystemActor("system:test", "テスト"), due).recorded == 0  # on the due date: not yet
    first = services.scan_exceptions(SystemActor("system:test", "テスト"), due + timedelta(days=1))
    assert (first.recorded, first.open) == (1, 1)
    second = services.scan_exceptions(SystemActor("system:test", "テスト"), due + timedelta(days=2))
    assert second.recorded == 0
    [exc] = services.list_open_exceptions()
    assert (exc.kind, exc.item.code, exc.deadline) == ("overdue_medium", medium.code, due)
    assert len(_exception_events()) == 1 and _exception_events()[0].subject == medium.code


def test_return_resolves_the_overdue_exception(world):
    medium = factories.medium(world["bulk"])
    services.provide_medium(world["bulk"], medium.code)
    services.scan_exceptions(SystemActor("system:test", "テスト"), get_item(medium.code).due_back + timedelta(days=3))
    services.return_medium(world["bulk"], medium.code)
    assert services.list_open_exceptions() == []
    resolved = db.session.scalar(select(CustodyException))
    assert resolved.resolved_at is not None
    assert events_for(medium.code)[-1].type == "exception:resolved"
    assert '"days_late":' in [e for e in events_for(medium.code) if e.type == "medium:returned"][0].data


def test_scan_records_forms_past_retention_and_resolves_them_when_gone(world):
    form = factories.form(world["registrar"])
    kept = factories.form(world["registrar"])
    deadline = get_item(form.code).retention_until
    result = services.scan_exceptions(SystemActor("system:test", "テスト"), deadline + timedelta(days=1))
    assert result.recorded == 2
    assert {e.kind for e in services.list_open_exceptions()} == {"retention_expired"}
    again = services.scan_exceptions(SystemActor("system:test", "テスト"), deadline + timedelta(days=1))
    assert (again.recorded, again.resolved) == (0, 0)
    # judged again as of a day before the deadline, the findings no longer hold: they are closed
    closed = services.scan_exceptions(SystemActor("system:test", "テスト"), deadline - timedelta(days=1))
    assert closed.resolved == 2 and services.list_open_exceptions() == []
    # and a new finding opens when it becomes true again (no unique clash with the closed ones)
    assert services.scan_exceptions(SystemActor("system:test", "テスト"), deadline + timedelta(days=5)).recorded == 2
    assert {e.item.code for e in services.list_open_exceptions()} == {form.code, kept.code}


def test_list_open_exceptions_filters_by_department(world):
    factories.form(world["registrar"])
    factories.form(world["registrar2"])
    services.scan_exceptions(SystemActor("system:test", "テスト"), today_jst() + timedelta(days=60))
    zeimu = world["registrar"].department_id
    assert {e.item.department.code for e in services.list_open_exceptions(department_id=zeimu)} == {"zeimu"}
    assert len(services.list_open_exceptions()) == 2


def test_overdue_summary_counts_live(world):
    medium = factories.medium(world["bulk"])
    services.provide_medium(world["bulk"], medium.code)
    due = get_item(medium.code).due_back
    assert services.overdue_summary(due).overdue_media == 0
    summary = services.overdue_summary(due + timedelta(days=1))
    assert summary.overdue_media == 1 and summary.open_exceptions == 0


def test_scheduled_scan_is_safe_to_run_twice(world):
    factories.form(world["registrar"], output_at=(today_jst() - timedelta(days=40)).isoformat() + "T09:00:00+09:00")
    assert services.scheduled_scan() == 1
    assert services.scheduled_scan() == 0
    assert len(_exception_events()) == 1


def _destroy(world, code):
    from lifecycle.destruction.services import create_batch, witness_batch

    batch = create_batch(world["registrar"], items=[code], method="shred", place="税務課 裁断機")
    witness_batch(world["security2"], batch.id)


def test_a_destroyed_form_cannot_be_handed_over(world):
    form = factories.form(world["registrar"])
    _destroy(world, form.code)
    assert get_item(form.code).status == "destroyed"
    with Unchanged(form.code):
        with pytest.raises(InvalidTransition) as refused:
            services.request_transfer(world["registrar"], form.code, "registrar2")
    assert refused.value.status == 409 and "廃棄済" in refused.value.message


def test_scan_resolves_retention_exception_once_destroyed(world):
    form = factories.form(world["registrar"])
    as_of = get_item(form.code).retention_until + timedelta(days=1)
    services.scan_exceptions(SystemActor("system:test", "テスト"), as_of)
    _destroy(world, form.code)
    result = services.scan_exceptions(SystemActor("system:test", "テスト"), as_of)
    assert (result.recorded, result.resolved, result.open) == (0, 1, 0)
    assert services.list_open_exceptions() == []


def test_no_my_number_in_location_or_recipient(world):
    item = factories.form(world["registrar"])
    transfer = services.request_transfer(world["registrar"], item.code, "registrar2")
    with Unchanged(item.code):
        with pytest.raises(Invalid):
            services.accept_transfer(world["registrar2"], transfer.id, location="棚 123456789018")
    medium = factories.medium(world["bulk"])
    with Unchanged(medium.code):
        with pytest.raises(Invalid):
            services.provide_medium(world["bulk"], medium.code, "123456789018 様")
