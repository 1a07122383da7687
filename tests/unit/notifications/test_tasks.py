"""What waits for whom: each kind appears for the people who act on it, and disappears when it is
done, since nothing is stored."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest

from lifecycle.auth.services import get_user, grant_role, record_training
from lifecycle.clock import today_jst
from lifecycle.custody.services import accept_transfer, request_transfer
from lifecycle.destruction.services import create_batch, witness_batch
from lifecycle.devices.services import accept_certificate, request_erasure, submit_certificate
from lifecycle.extensions import db
from lifecycle.mynumber import services as mynumber
from lifecycle.notifications.tasks import KINDS, PROVIDERS, Task, register_task_provider, task_count, tasks_for
from lifecycle.policy.services import set_policy
from lifecycle.scheduler import run_job
from tests import factories


def kinds(login: str) -> list[str]:
    db.session.expire_all()
    return [task.kind for task in tasks_for(get_user(login))]


def _certificate(world, code: str):
    return submit_certificate(world["bulk"], code, {
        "vendor": "九州データ消去株式会社", "certificate_no": "E-7", "method": "purge", "tool": "Blancco 7",
        "verification": "全セクタ読取り検証", "performed_on": (today_jst() - timedelta(days=1)).isoformat()},
        io.BytesIO(factories.text_pdf("Erasure certificate")), "e.pdf")


def test_nobody_has_anything_to_do_in_a_quiet_ledger(world):
    for login in world:
        assert kinds(login) == [], login


def test_a_hand_off_waits_for_its_receiver_only_until_accepted(world):
    item = factories.form(world["registrar"])
    transfer = request_transfer(world["registrar"], item.code, "security2")
    assert kinds("security2") == ["transfer_to_accept"]
    (task,) = tasks_for(get_user("security2"))
    assert f"第{transfer.id}号" in task.summary and item.code in task.summary
    assert task.url == "/custody"
    assert kinds("registrar") == [] and kinds("security") == []
    accept_transfer(world["security2"], transfer.id)
    assert kinds("security2") == []


def test_a_batch_waits_for_a_security_manager_other_than_its_creator(world):
    item = factories.form(world["registrar"])
    batch = create_batch(world["security2"], items=[item.code], method="shred", place="税務課")
    assert kinds("security") == ["batch_to_witness"]
    assert kinds("security2") == []  # the creator cannot witness it
    assert kinds("registrar") == [] and kinds("admin") == []
    (task,) = tasks_for(get_user("security"))
    assert batch.code in task.summary and task.url == f"/destructions/{batch.id}"
    witness_batch(world["security"], batch.id)
    assert kinds("security") == []


def test_a_certificate_waits_for_security_managers_who_did_not_upload_it(world):
    grant_role(world["admin"], "bulk", "security_manager")
    device = factories.device(world["admin"])
    request_erasure(world["admin"], device.code, reason="replacement")
    cert = _certificate(world, device.code)
    assert kinds("security") == ["certificate_to_accept"] and kinds("security2") == ["certificate_to_accept"]
    assert kinds("bulk") == []  # the uploader, now also a security manager
    assert kinds("admin") == [] and kinds("auditor") == []
    (task,) = tasks_for(get_user("security"))
    assert device.code in task.summary and task.url == f"/devices/{device.code}"
    accept_certificate(world["security"], cert.id)
    assert kinds("security2") == []


def test_a_failed_purge_waits_for_admins_and_auditors_until_a_run_succeeds(world, monkeypatch):
    def broken(*_args, **_kwargs):
        raise OSError("disk")

    monkeypatch.setattr(mynumber, "purge_due", broken)
    assert run_job(mynumber.JOB).status == "failed"
    for login in ("admin", "admin2", "auditor"):
        assert kinds(login) == ["purge_failed"], login
    for login in ("registrar", "bulk", "security"):
        assert kinds(login) == [], login
    (task,) = tasks_for(get_user("admin"))
    assert task.url == "/admin/purge-runs"
    monkeypatch.undo()
    assert run_job(mynumber.JOB).status == "ok"
    assert kinds("admin") == [] and kinds("auditor") == []


@pytest.mark.parametrize("days_left, shown", [(40, False), (20, True), (-5, True)])
def test_training_expiring_shows_from_thirty_days_before_the_end(world, days_left, shown):
    # A training of a past 年度, so that only the policy's days decide (a training counts for the
    # rest of its own 年度 in any case).
    elapsed = 400
    record_training(world["admin"], "registrar", None)
    record_training(world["admin"], "registrar", today_jst() - timedelta(days=elapsed))
    set_policy(world["admin"], "training.valid_days", elapsed + days_left)
    assert ("training_expiring" in kinds("registrar")) is shown
    if shown:
        (task,) = tasks_for(get_user("registrar"))
        assert ("過ぎています" in task.summary) is (days_left < 0)


def test_summaries_never_name_an_item_title(world):
    """A hand-off and a batch may carry another department's item: codes only, never titles."""
    secret = "旅券 極秘の件名 一覧"
    given = factories.form(world["registrar2"], title=secret, business="passport")
    request_transfer(world["registrar2"], given.code, "registrar")
    doomed = factories.form(world["registrar2"], title=secret, business="passport")
    create_batch(world["registrar2"], items=[doomed.code], method="shred", place="旅券センター")
    seen = [task for login in world for task in tasks_for(get_user(login))]
    assert {t.kind for t in seen} == {"transfer_to_accept", "batch_to_witness"}
    assert all(secret not in t.summary and "極秘" not in t.summary for t in seen)


def test_an_inactive_or_system_actor_has_no_tasks(world):
    from lifecycle.actors import SCHEDULER
    item = factories.form(world["registrar"])
    request_transfer(world["registrar"], item.code, "security2")
    assert tasks_for(SCHEDULER) == [] and tasks_for(None) == []
    user = world["security2"]
    user.active = False  # read only: never flushed
    assert tasks_for(user) == []
    db.session.expire_all()


def test_a_domain_adds_its_own_kind_by_registering_a_provider(world, monkeypatch):
    monkeypatch.setitem(PROVIDERS, "stocktake_due", PROVIDERS.get("stocktake_due"))
    register_task_provider("stocktake_due", lambda user: [Task("stocktake_due", "棚卸しの期限です。", "/")])
    assert "stocktake_due" in kinds("registrar")
    with pytest.raises(ValueError):
        register_task_provider("coffee_break", lambda user: [])
    assert set(PROVIDERS) <= set(KINDS)


def test_the_header_count_is_the_number_of_tasks_listed(world):
    """task_count counts in SQL what tasks_for lists, from the same conditions."""
    for n in range(2):
        request_transfer(world["registrar"], factories.form(world["registrar"]).code, "security2")
    create_batch(world["security2"], items=[factories.form(world["registrar"]).code], method="shred", place="税務課")
    counts = {}
    for login in world:
        db.session.expire_all()
        user = get_user(login)
        counts[login] = task_count(user)
        assert counts[login] == len(tasks_for(user)), login
    assert counts["security2"] == 2 and counts["security"] == 1 and counts["registrar"] == 0
