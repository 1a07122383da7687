import hashlib
import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from lifecycle.actors import CLI, SystemActor
from lifecycle.audit.models import AuditEvent
from lifecycle.audit.services import head, verify_chain
from lifecycle.clock import iso, utcnow
from lifecycle.errors import Forbidden, Gone, Invalid, NotFound
from lifecycle.extensions import db
from lifecycle.mynumber import services
from lifecycle.mynumber.keystore import bucket_of
from lifecycle.mynumber.models import MyNumberCopy, MyNumberDeletion
from lifecycle.policy.services import set_policy
from lifecycle.scheduler_models import JobRun

from .conftest import mid_hour, valid_number

DUE = timedelta(days=4)  # recorded four days ago with the 3-day default: due a day ago


def copies() -> int:
    return db.session.scalar(select(func.count()).select_from(MyNumberCopy))


def events(type_: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.type == type_).order_by(AuditEvent.seq)))


# ---------------------------------------------------------------- recording


def test_record_seals_the_number_and_shows_it_masked(record):
    number = valid_number(2)
    copy = record(my_number=number[:4] + "-" + number[4:8] + " " + number[8:])
    assert copy.masked == "********" + number[-4:]
    assert number.encode() not in copy.ciphertext
    assert copy.key_bucket == bucket_of(copy.purge_after)
    assert services.keystore().decrypt(copy.id, copy.key_bucket, copy.ciphertext) == number
    assert services.keystore().has_key(copy.key_bucket)
    event = events("mynumber:retained")[-1]
    assert event.subject == f"mynumber:{copy.id}" and event.actor == "bulk"
    assert number not in event.data and "*" + number[-4:] not in event.data  # nor the mask


def test_retention_defaults_to_the_policy_and_never_exceeds_its_maximum(record, world):
    before = utcnow().replace(microsecond=0)
    copy = record()
    assert copy.retain_minutes == 4320
    assert before + timedelta(minutes=4320) <= copy.purge_after <= utcnow() + timedelta(minutes=4320)
    assert record(retain_minutes=10080).retain_minutes == 10080
    with pytest.raises(Invalid) as caught:
        record(retain_minutes=10081)
    assert "10080分" in caught.value.message and caught.value.field == "retain_minutes"
    set_policy(world["admin"], "mynumber.default_minutes", 60)  # the policies' least: one hour
    set_policy(world["admin"], "mynumber.max_minutes", 120)
    assert record().retain_minutes == 60
    assert record(retain_minutes="120").retain_minutes == 120
    with pytest.raises(Invalid):
        record(retain_minutes=121)


@pytest.mark.parametrize("field,value", [
    ("my_number", "123456789019"), ("my_number", "12345678901"), ("my_number", "1234567890185"),
    ("my_number", "12345678901x"), ("my_number", ""), ("my_number", None), ("my_number", 123456789018),
    ("retain_minutes", 0), ("retain_minutes", -5), ("retain_minutes", 10081), ("retain_minutes", "abc"),
    ("retain_minutes", 1.5), ("retain_minutes", True), ("provided_to", ""), ("provided_to", "x" * 201),
    ("reason", "   "), ("provided_to", "123456789018"), ("reason", "番号 1234 5678 9018 を再送"),
])
def test_refused_input_changes_nothing(record, field, value):
    seq = head()[0]
    with pytest.raises(Invalid) as caught:
        record(**{field: value})
    assert caught.value.field == field
    assert copies() == 0 and head()[0] == seq
    assert services.keystore().buckets() == set()
    if field == "my_number":
        assert caught.value.code == "invalid_my_number"


@pytest.mark.parametrize("who", ["registrar", "security", "auditor", "admin"])
def test_only_bulk_operators_record(record, who):
    with pytest.raises(Forbidden):
        record(actor=who)
    assert copies() == 0


def test_not_a_dict_is_refused(world):
    with pytest.raises(Invalid):
        services.record_copy(world["bulk"], ["123456789018"])


@pytest.mark.parametrize("who", ["registrar", "registrar2"])
def test_copies_are_not_visible_to_registrars(record, world, who):
    copy = record()
    with pytest.raises(Forbidden):
        services.get_copy(world[who], copy.id)
    with pytest.raises(Forbidden):
        services.list_copies(world[who])


def test_unknown_copy_is_404(world):
    for value in (99, "abc", -1, 0):
        with pytest.raises(NotFound):
            services.get_copy(world["auditor"], value)


# ---------------------------------------------------------------- reveal


def test_reveal_returns_the_number_and_audits_who_and_why(record, world):
    number = valid_number(3)
    copy = record(my_number=number)
    assert services.reveal_copy(world["security2"], copy.id, "受領できなかったため再送") == number
    event = events("mynumber:revealed")[-1]
    data = json.loads(event.data)
    assert event.actor == "security2" and event.subject == f"mynumber:{copy.id}"
    assert data == {"reason": "受領できなかったため再送"}


@pytest.mark.parametrize("who", ["bulk", "auditor", "admin", "registrar"])
def test_reveal_by_anyone_but_a_security_manager_is_forbidden(record, world, who):
    copy = record()
    with pytest.raises(Forbidden):
        services.reveal_copy(world[who], copy.id, "理由")
    assert events("mynumber:revealed") == []


@pytest.mark.parametrize("reason", [None, "", "   ", 5, "x" * 501])
def test_reveal_needs_a_reason(record, world, reason):
    copy = record()
    with pytest.raises(Invalid):
        services.reveal_copy(world["security"], copy.id, reason)
    assert events("mynumber:revealed") == []


def test_reveal_after_purge_is_gone_with_the_purge_time(record, world):
    copy = record().id
    deletion = services.purge_copy(world["bulk"], copy, "受領を確認した")
    with pytest.raises(Gone) as caught:
        services.reveal_copy(world["security"], copy, "再送")
    assert caught.value.status == 410 and caught.value.extra["purged_at"] == iso(deletion.purged_at)
    assert caught.value.extra["purged_at"].endswith("+09:00") and "消去されています" in caught.value.message
    assert events("mynumber:revealed") == []


# ---------------------------------------------------------------- purging


def test_scheduled_purge_takes_due_copies_and_their_keys_only(record):
    due = record(ago=DUE, my_number=valid_number(4))
    kept = record(my_number=valid_number(5))
    due_id, due_bucket = due.id, due.key_bucket
    assert due_bucket != kept.key_bucket
    assert services.scheduled_purge() == 1
    db.session.expire_all()
    with pytest.raises(Gone):
        services.get_copy(SystemActor("system:test", "テスト"), due_id)
    deletion = db.session.get(MyNumberDeletion, due_id)
    assert (deletion.rule, deletion.purged_by, deletion.recorded_by, deletion.provided_to) == \
        ("scheduled", "system:scheduler", "bulk", "〇〇市 市民課")
    assert not services.keystore().has_key(due_bucket)
    assert services.keystore().decrypt(kept.id, kept.key_bucket,
                                       services.get_copy(SystemActor("system:test", "テスト"), kept.id).ciphertext) == valid_number(5)
    batch = events("mynumber:purged")[-1]
    assert batch.actor == "system:scheduler" and json.loads(batch.data)["count"] == 1
    assert verify_chain().ok


def test_purge_is_idempotent(record):
    for n in range(3):
        record(ago=DUE, my_number=valid_number(10 + n))
    first = services.purge_due(SystemActor("system:test", "テスト"), rule="manual")
    seq = head()[0]
    second = services.purge_due(SystemActor("system:test", "テスト"), rule="manual")
    assert (first.purged, second.purged) == (3, 0)
    assert head()[0] == seq  # nothing to do, nothing recorded
    assert db.session.scalar(select(func.count()).select_from(MyNumberDeletion)) == 3
    assert services.keystore().buckets() == set()


def test_as_of_purges_early_never_late(record):
    record(ago=DUE)
    later = record(retain_minutes=120)
    past = services.purge_due(SystemActor("system:test", "テスト"), as_of=utcnow() - timedelta(days=30), rule="manual")
    assert past.purged == 1  # an as_of in the past still purges what is due now
    assert services.purge_due(SystemActor("system:test", "テスト"), as_of=utcnow() + timedelta(minutes=60), rule="manual").purged == 0
    assert services.purge_due(SystemActor("system:test", "テスト"), as_of=later.purge_after, rule="manual").purged == 1
    assert copies() == 0


def test_batches_are_id_ranges_with_one_event_each(record, monkeypatch):
    for name in ("BATCH_START", "BATCH_MIN", "BATCH_MAX"):  # a slow machine must not change the sizes
        monkeypatch.setattr(services, name, 2)
    ids = [record(ago=DUE, my_number=valid_number(20 + n)).id for n in range(5)]
    not_due = record().id
    result = services.purge_due(SystemActor("system:test", "テスト"), rule="manual")
    assert result.purged == 5 and [n for n, _ in result.batches] == [2, 2, 1]
    batches = [json.loads(e.data) for e in events("mynumber:purged")]
    assert [(b["count"], b["first_id"], b["last_id"], b["rule"]) for b in batches] == [
        (2, ids[0], ids[1], "manual"), (2, ids[2], ids[3], "manual"), (1, ids[4], ids[4], "manual")]
    assert db.session.get(MyNumberCopy, not_due) is not None
    assert result.max_lock_seconds == max(seconds for _, seconds in result.batches)


def test_batch_size_follows_how_long_each_batch_held_the_lock(record, monkeypatch):
    """Scripted lock times stand in for the clock: slow halves the batch, quick doubles it."""
    monkeypatch.setattr(services, "BATCH_START", 4)
    monkeypatch.setattr(services, "BATCH_MIN", 1)
    monkeypatch.setattr(services, "BATCH_MAX", 16)
    monkeypatch.setattr(services, "BATCH_PAUSE_SECONDS", 0)
    for n in range(20):
        record(ago=DUE, my_number=valid_number(40 + n))
    held = iter([0.5, 0.05, 0.25, 0.25, 0.25, 0.25])
    real = services._purge_batch

    def scripted(*args):
        count, first, last, _ = real(*args)
        return count, first, last, next(held) if count else 0.0

    monkeypatch.setattr(services, "_purge_batch", scripted)
    result = services.purge_due(SystemActor("system:test", "テスト"), rule="manual")
    assert [n for n, _ in result.batches] == [4, 2, 4, 4, 4, 2] and result.purged == 20
    assert result.max_lock_seconds == 0.5


def test_a_copy_not_yet_due_between_due_ones_is_skipped_not_stopped_at(record):
    early = record(ago=DUE).id
    fresh = record().id
    late = record(ago=DUE, my_number=valid_number(30)).id
    assert services.purge_due(SystemActor("system:test", "テスト"), rule="manual").purged == 2
    assert {early, late} == {d.copy_id for d in db.session.scalars(select(MyNumberDeletion))}
    assert db.session.get(MyNumberCopy, fresh) is not None


def test_sweep_heals_a_crash_between_commit_and_unlink(record, monkeypatch):
    bucket = record(ago=DUE).key_bucket
    store = services.keystore()

    def crash(_bucket):
        raise OSError("power lost")

    monkeypatch.setattr(store, "destroy", crash)
    with pytest.raises(OSError):
        services.purge_due(SystemActor("system:test", "テスト"), rule="scheduled")
    assert copies() == 0 and store.has_key(bucket)  # the commit happened, the unlink did not
    monkeypatch.undo()
    assert services.purge_due(SystemActor("system:test", "テスト"), rule="scheduled").keys_destroyed == 1
    assert not store.has_key(bucket)


def test_a_scheduled_purge_that_fails_records_what_it_had_purged(record, monkeypatch):
    from lifecycle.scheduler import run_job

    for n in range(3):
        record(ago=DUE, my_number=valid_number(60 + n))

    def crash(_bucket):
        raise OSError("disk gone")

    monkeypatch.setattr(services.keystore(), "destroy", crash)  # fails after every batch committed
    run = run_job(services.JOB)
    assert (run.status, run.processed, copies()) == ("failed", 3, 0)
    assert "OSError" in run.message


def test_sweep_removes_orphan_keys_but_never_a_live_one(record):
    live = record()
    store = services.keystore()
    store.data_key("2020010100", create=True)  # e.g. left by a recording that crashed before commit
    assert services.sweep_keys() == 1
    assert store.buckets() == {live.key_bucket}


def test_early_purge_keeps_a_shared_bucket_key_until_its_last_copy(record, world, clock):
    start = mid_hour() - timedelta(minutes=4320)
    clock.set(start)
    first = services.record_copy(world["bulk"], {"my_number": valid_number(40), "provided_to": "A市", "reason": "r"})
    clock.set(start + timedelta(minutes=1))
    second = services.record_copy(world["bulk"], {"my_number": valid_number(41), "provided_to": "A市", "reason": "r"})
    clock.real()
    bucket, first, second = first.key_bucket, first.id, second.id
    assert bucket == db.session.get(MyNumberCopy, second).key_bucket
    services.purge_copy(world["security"], first, "受領確認済み")
    assert services.keystore().has_key(bucket)
    assert services.reveal_copy(world["security"], second, "再送") == valid_number(41)
    deletion = services.purge_copy(world["bulk"], second, "受領確認済み")
    assert deletion.rule == "early" and deletion.purge_reason == "受領確認済み"
    assert not services.keystore().has_key(bucket)
    event = events("mynumber:purged")[-1]
    assert event.subject == f"mynumber:{second}"
    assert json.loads(event.data)["from"] == "retained" and json.loads(event.data)["to"] == "purged"


@pytest.mark.parametrize("who", ["registrar", "auditor", "admin"])
def test_early_purge_refusals(record, world, who):
    copy = record().id
    with pytest.raises(Forbidden):
        services.purge_copy(world[who], copy, "理由")
    with pytest.raises(Invalid):
        services.purge_copy(world["bulk"], copy, "")
    assert db.session.get(MyNumberCopy, copy) is not None
    services.purge_copy(world["bulk"], copy, "理由")
    with pytest.raises(Gone):
        services.purge_copy(world["bulk"], copy, "理由")


def test_deletion_record_keeps_no_number_and_no_hash_of_it(record):
    number = valid_number(50)
    copy_id = record(ago=DUE, my_number=number).id
    services.purge_due(SystemActor("system:test", "テスト"), rule="scheduled")
    deletion = db.session.get(MyNumberDeletion, copy_id)
    values = " ".join(str(getattr(deletion, c.key)) for c in MyNumberDeletion.__table__.columns)
    for forbidden in forbidden_forms(number):
        assert forbidden not in values
    # Not even the last four digits: timestamps are left out, where four digits turn up by chance.
    texts = " ".join(str(getattr(deletion, c.key)) for c in MyNumberDeletion.__table__.columns
                     if not isinstance(getattr(deletion, c.key), datetime))
    assert number[-4:] not in texts


def forbidden_forms(number: str) -> list[str]:
    spaced = f"{number[:4]} {number[4:8]} {number[8:]}"
    hyphened = spaced.replace(" ", "-")
    full = number.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    forms = [number, spaced, hyphened, full, number[:8]]
    for text in (number, spaced, hyphened):
        for algorithm in ("sha256", "md5", "sha1", "sha512"):
            forms.append(hashlib.new(algorithm, text.encode()).hexdigest())
    return forms


# ---------------------------------------------------------------- runs and health


def test_run_purge_records_a_job_run(record):
    record(ago=DUE)
    result, run = services.run_purge(CLI)
    assert result.purged == 1
    assert (run.job, run.status, run.processed, run.triggered_by) == ("mynumber_purge", "ok", 1, "system:cli")


def test_a_failed_run_is_recorded_and_raised(record, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full 123456789018")

    monkeypatch.setattr(services, "purge_due", boom)
    with pytest.raises(RuntimeError):
        services.run_purge(CLI)
    run = db.session.scalar(select(JobRun).order_by(JobRun.id.desc()))
    assert run.status == "failed" and "RuntimeError" in run.message and "123456789018" not in run.message


def _run(minutes_ago: int, status: str = "ok", triggered_by: str = "system:scheduler") -> None:
    with db.transaction() as session:
        at = utcnow() - timedelta(minutes=minutes_ago)
        session.add(JobRun(job="mynumber_purge", started_at=at, finished_at=at + timedelta(seconds=1),
                           status=status, processed=0, triggered_by=triggered_by,
                           message="OperationalError: 実行中にエラーが発生しました。" if status == "failed" else None))


def test_health_without_any_run_is_quiet_until_copies_are_overdue(record):
    health = services.purge_health()
    assert (health.status, health.alert, health.last_run) == ("never", False, None)
    record(ago=DUE)
    health = services.purge_health()
    assert health.alert and health.status == "stale" and health.overdue_copies == 1


def test_health_ok_after_a_recent_run(app):
    _run(3)
    health = services.purge_health()
    assert (health.status, health.alert) == ("ok", False)
    assert health.to_json()["last_run_status"] == "ok"


def test_health_alerts_on_a_failed_run(app):
    _run(20)
    _run(3, status="failed")
    health = services.purge_health()
    assert (health.status, health.alert) == ("failed", True)
    assert "失敗" in health.message


def test_health_alerts_when_no_run_for_two_intervals(app):
    _run(11)  # interval 300 s: two intervals are 10 minutes
    health = services.purge_health()
    assert (health.status, health.alert) == ("stale", True)
    assert "10分以上" in health.message
    assert services.purge_health(interval_seconds=600).alert is False


def test_health_alerts_on_copies_long_past_their_time(record):
    _run(1)
    record(ago=DUE)
    health = services.purge_health()
    assert (health.status, health.alert, health.overdue_copies) == ("overdue", True, 1)


def test_next_run_is_estimated_from_the_leader(app):
    from lifecycle.scheduler import acquire_lease

    _run(2)
    assert services.purge_health().next_run_at is None  # no scheduler holds the lease
    acquire_lease("other-server:1:abc", 30)
    health = services.purge_health()
    assert health.scheduler_holder == "other-server:1:abc"
    expected = utcnow() - timedelta(minutes=2) + timedelta(seconds=300)
    assert abs((health.next_run_at - expected).total_seconds()) < 5
