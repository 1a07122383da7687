"""Mail through a real SMTP server (aiosmtpd): digests and urgent mails reach people once, a
server that is down is retried with backoff, a crashed sender does not send twice, and no mail
holds a 個人番号 or another department's item title."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from lifecycle import crypto
from lifecycle.audit.models import AuditEvent
from lifecycle.clock import utcnow
from lifecycle.custody.services import request_transfer
from lifecycle.custody.tasks import queue_waiting_transfers
from lifecycle.destruction.services import create_batch
from lifecycle.errors import Conflict
from lifecycle.extensions import db
from lifecycle.mynumber import services as mynumber
from lifecycle.notifications import services
from lifecycle.notifications.models import Delivery, MailSettings, OutboxMail
from lifecycle.policy.services import set_policy
from lifecycle.scheduler import run_job
from tests import factories

from .conftest import MailServer

MY_NUMBER = "123456789018"


def outbox() -> list[OutboxMail]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMail).order_by(OutboxMail.id)))


def queue_one_digest(world) -> OutboxMail:
    """A hand-off to security2, and the digests of today (the hour set to 0: due at once)."""
    set_policy(world["admin"], "notification.digest_hour", 0)
    item = factories.form(world["registrar"])
    request_transfer(world["registrar"], item.code, "security2")
    assert services.queue_digests() == 1
    (row,) = outbox()
    return row


def test_nothing_is_queued_or_sent_until_an_admin_configures_smtp(world, addresses, mail_server):
    set_policy(world["admin"], "notification.digest_hour", 0)
    item = factories.form(world["registrar"])
    request_transfer(world["registrar"], item.code, "security2")
    assert services.queue_notifications(utcnow() + timedelta(days=2)) == 0
    assert services.send_pending() == 0
    assert outbox() == [] and mail_server.received == []


def test_the_daily_digest_reaches_each_person_once(world, addresses, mail_server, configure_mail):
    configure_mail(mail_server)
    set_policy(world["admin"], "notification.digest_hour", 0)
    item = factories.form(world["registrar"])
    transfer = request_transfer(world["registrar"], item.code, "security2")
    batch = create_batch(world["registrar"], items=[factories.form(world["registrar"]).code], method="shred",
                         place="税務課")
    assert services.queue_digests() == 2  # security2: the hand-off and the batch; security: the batch
    assert services.queue_digests() == 0 and services.queue_notifications() == 0
    assert services.send_pending() == 2
    assert services.send_pending() == 0
    mails = {tuple(m.rcpt_tos): m for m in mail_server.received}
    assert set(mails) == {(addresses["security2"],), (addresses["security"],)}
    mine = mails[(addresses["security2"],)]
    assert mine.subject.startswith("【住基ネット管理】やること 2件")
    assert "保護 守 様" in mine.body and f"第{transfer.id}号" in mine.body and batch.code in mine.body
    assert "http://lifecycle.test/custody" in mine.body and f"http://lifecycle.test/destructions/{batch.id}" in mine.body
    assert mine.message["From"] == "lifecycle@pref.example.lg.jp"
    rows = {row.to_address: row for row in outbox()}
    assert mine.message["Message-ID"] == services.message_id(rows[addresses["security2"]].id)
    assert all(row.delivery == Delivery.SENT and row.sent_at is not None for row in rows.values())


def test_no_digest_before_the_policy_hour(world, addresses, mail_server, configure_mail):
    configure_mail(mail_server)
    set_policy(world["admin"], "notification.digest_hour", 9)
    item = factories.form(world["registrar"])
    request_transfer(world["registrar"], item.code, "security2")
    today = utcnow().replace(hour=23, minute=0) - timedelta(days=1)  # 08:00 JST today
    assert services.queue_digests(today) == 0
    assert services.queue_digests(today + timedelta(hours=1)) == 1  # 09:00 JST


def test_a_hand_off_waiting_a_day_is_mailed_at_once_unless_digest_only(world, addresses, mail_server,
                                                                       configure_mail):
    configure_mail(mail_server)
    item = factories.form(world["registrar"])
    transfer = request_transfer(world["registrar"], item.code, "security2")
    other = request_transfer(world["registrar"], factories.form(world["registrar"]).code, "security")
    services.set_preference(world["security"], urgent=False)
    assert queue_waiting_transfers() == 0  # not a day yet
    later = utcnow() + timedelta(days=1, minutes=1)
    assert queue_waiting_transfers(later) == 1
    assert queue_waiting_transfers(later) == 0  # once per hand-off
    assert services.send_pending() == 1
    (mail,) = mail_server.received
    assert mail.rcpt_tos == [addresses["security2"]]
    assert f"第{transfer.id}号" in mail.subject and "至急" in mail.subject
    assert f"第{other.id}号" not in mail.body


def test_a_failed_purge_queues_urgent_mail_with_the_record_of_the_run(world, addresses, mail_server,
                                                                      configure_mail, monkeypatch):
    configure_mail(mail_server)

    def broken(*_args, **_kwargs):
        raise OSError("disk")

    monkeypatch.setattr(mynumber, "purge_due", broken)
    run = run_job(mynumber.JOB)
    assert run.status == "failed"
    rows = outbox()  # queued by the scheduler's record of the run, before any notification job
    assert {row.to_address for row in rows} == {addresses["admin"], addresses["admin2"], addresses["auditor"]}
    assert {row.dedupe_key for row in rows} == {f"purge_failed:{run.id}:{world[u].id}" for u in ("admin", "admin2", "auditor")}
    set_policy(world["admin"], "notification.digest_hour", 23)
    services.queue_notifications(utcnow().replace(hour=0))  # the queue job finds the same run: nothing new
    assert len(outbox()) == 3
    assert services.send_pending() == 3
    assert all("個人番号の自動消去が失敗しました" in m.subject for m in mail_server.received)


def test_a_server_that_is_down_is_retried_with_backoff_and_sends_once_when_back(world, addresses, mail_server,
                                                                                configure_mail):
    configure_mail(mail_server)
    row = queue_one_digest(world)
    mail_server.stop()
    before = utcnow()
    assert services.send_pending() == 0
    (row,) = outbox()
    assert row.delivery == Delivery.PENDING and row.attempts == 1 and row.lease_id is None
    assert "接続できませんでした" in row.last_error
    assert row.next_attempt_at >= before + timedelta(seconds=services.BACKOFF_SECONDS)
    assert services.send_pending() == 0  # not due yet: nothing tried
    assert outbox()[0].attempts == 1
    second = row.next_attempt_at + timedelta(seconds=1)
    assert services.send_pending(second) == 0  # still down: the wait doubles
    (row,) = outbox()
    assert row.attempts == 2 and row.next_attempt_at - row.last_attempt_at >= timedelta(seconds=2 * services.BACKOFF_SECONDS) - timedelta(seconds=1)

    mail_server.start()
    assert services.send_pending(row.next_attempt_at + timedelta(seconds=1)) == 1
    assert services.send_pending(row.next_attempt_at + timedelta(hours=1)) == 0
    assert len(mail_server.received) == 1
    (row,) = outbox()
    assert row.delivery == Delivery.SENT and row.attempts == 3 and row.last_error is None


def test_backoff_doubles_up_to_its_ceiling():
    assert [services.backoff(n).total_seconds() for n in (1, 2, 3)] == [60, 120, 240]
    assert services.backoff(40) == timedelta(seconds=services.MAX_BACKOFF_SECONDS)


def test_a_mail_claimed_by_a_sender_that_died_is_sent_once_after_its_lease(world, addresses, mail_server,
                                                                           configure_mail):
    configure_mail(mail_server)
    queue_one_digest(world)
    now = utcnow()
    assert services._claim(now, "dead-sender", 10)  # claimed, then the process was killed
    assert services.send_pending(now) == 0  # the claim holds: nobody else sends it
    assert mail_server.received == []
    after_lease = now + timedelta(seconds=services.LEASE_SECONDS + 1)
    assert services.send_pending(after_lease) == 1
    assert services.send_pending(after_lease + timedelta(hours=1)) == 0
    assert len(mail_server.received) == 1
    assert outbox()[0].attempts == 2


def test_a_crash_between_acceptance_and_marking_sent_repeats_the_message_id(world, addresses, mail_server,
                                                                            configure_mail):
    """The one documented duplicate: both copies carry the row's Message-ID, for receivers to drop."""
    configure_mail(mail_server)
    row = queue_one_digest(world)
    now = utcnow()
    ((outbox_id, to, subject, body),) = services._claim(now, "dying", 10)
    server = services.server()
    from lifecycle.notifications import mailer
    with mailer.Connection(server) as smtp:  # the server accepts; the sender dies before _settle
        smtp.send(mailer.message(server, to=to, subject=subject, body=body, message_id=services.message_id(outbox_id)))
    assert services.send_pending(now + timedelta(seconds=services.LEASE_SECONDS + 1)) == 1
    ids = [m.message["Message-ID"] for m in mail_server.received]
    assert ids == [services.message_id(row.id)] * 2


class SlowSecond:
    """Accepts the first mail, and holds the second one's DATA until the test has killed the sender."""

    def __init__(self, recorder) -> None:
        self.recorder = recorder
        self.data_started = 0

    async def handle_DATA(self, server, session, envelope):
        self.data_started += 1
        if self.data_started == 2:
            await asyncio.sleep(3)
            return "451 try again later"
        return await self.recorder.handle_DATA(server, session, envelope)


SENDER = """
import sys
from lifecycle import create_app
from lifecycle.notifications import services
app = create_app({"INSTANCE_PATH": sys.argv[1], "DATABASE_URL": sys.argv[2], "BASE_URL": "http://lifecycle.test"})
with app.app_context():
    services.send_pending()
"""


def test_a_sender_killed_mid_batch_sends_nothing_twice(app, world, addresses, mail_server, configure_mail):
    configure_mail(mail_server)
    set_policy(world["admin"], "notification.digest_hour", 0)
    request_transfer(world["registrar"], factories.form(world["registrar"]).code, "security2")
    request_transfer(world["registrar"], factories.form(world["registrar"]).code, "security")
    assert services.queue_digests() == 2
    mail_server.stop()
    slow = SlowSecond(mail_server.recorder)
    from aiosmtpd.controller import Controller
    mail_server.controller = Controller(slow, hostname="127.0.0.1", port=mail_server.port)
    mail_server.controller.start()
    db.session.remove()
    sender = subprocess.Popen([sys.executable, "-c", SENDER, app.instance_path, app.config["DATABASE_URL"]],
                              cwd=os.getcwd(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while slow.data_started < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert slow.data_started == 2, "the sender never reached the second mail"
        os.kill(sender.pid, signal.SIGKILL)
    finally:
        sender.wait(10)
    rows = outbox()
    assert [r.delivery for r in rows] == [Delivery.SENT, Delivery.SENDING]
    assert len(mail_server.received) == 1
    mail_server.stop()
    mail_server.start()
    assert services.send_pending() == 0  # the dead sender's claim still holds
    assert services.send_pending(utcnow() + timedelta(seconds=services.LEASE_SECONDS + 1)) == 1
    assert [r.delivery for r in outbox()] == [Delivery.SENT, Delivery.SENT]
    assert sorted(m.rcpt_tos[0] for m in mail_server.received) == sorted(r.to_address for r in rows)


def test_a_permanently_refused_address_is_given_up_at_once(world, addresses, mail_server, configure_mail):
    async def refuse(server, session, envelope, address, rcpt_options):
        return "550 5.1.1 no such user"

    mail_server.recorder.handle_RCPT = refuse
    mail_server.stop()
    mail_server.start()
    configure_mail(mail_server)
    queue_one_digest(world)
    assert services.send_pending() == 0
    (row,) = outbox()
    assert row.delivery == Delivery.FAILED and "宛先を受け付けませんでした" in row.last_error


def test_no_mail_holds_a_my_number_or_another_departments_title(world, addresses, mail_server, configure_mail,
                                                                monkeypatch):
    configure_mail(mail_server)
    set_policy(world["admin"], "notification.digest_hour", 0)
    mynumber.record_copy(world["bulk"], {"my_number": MY_NUMBER, "provided_to": "教育委員会", "reason": "再送"})
    secret = "旅券 極秘の件名"
    given = factories.form(world["registrar2"], title=secret, business="passport")
    request_transfer(world["registrar2"], given.code, "registrar")
    doomed = factories.form(world["registrar2"], title=secret, business="passport")
    create_batch(world["registrar2"], items=[doomed.code], method="shred", place="旅券センター")
    monkeypatch.setattr(mynumber, "purge_due", lambda *a, **k: (_ for _ in ()).throw(OSError("disk")))
    run_job(mynumber.JOB)
    services.queue_notifications(utcnow() + timedelta(days=2))
    services.send_pending(limit=50)
    assert len(mail_server.received) >= 5
    for mail in mail_server.received:
        text = mail.subject + mail.body
        assert MY_NUMBER not in text and "極秘" not in text


def test_a_text_that_looks_like_a_my_number_is_never_queued(world, addresses, mail_server, configure_mail):
    configure_mail(mail_server)
    with db.transaction() as session:
        assert not services.queue_mail(session, kind="digest", dedupe_key="x", user=world["admin"], subject="件名",
                                   body=f"番号 {MY_NUMBER}")
    assert outbox() == []


def test_the_password_is_sealed_and_never_in_the_audit_log_or_the_log(app, world, configure_mail, caplog):
    password = "Pa55-hidden-word!"
    server = MailServer(login=("lifecycle", password))
    server.start()
    try:
        with caplog.at_level(logging.DEBUG, logger="lifecycle"):
            configure_mail(server, username="lifecycle", password=password)
            services.send_test_mail(world["admin"], "admin@pref.example.lg.jp")
            configure_mail(server, username="lifecycle", password="wrong-one")
            with pytest.raises(Conflict) as refused:
                services.send_test_mail(world["admin"], "admin@pref.example.lg.jp")
    finally:
        server.stop()
    assert "ログインに失敗しました" in refused.value.message
    assert len(server.received) == 1
    db.session.expire_all()
    settings = db.session.get(MailSettings, 1)
    assert password.encode() not in settings.password_sealed and b"wrong-one" not in settings.password_sealed
    assert crypto.decrypt_secret(app.instance_path, settings.password_sealed, services.PASSWORD_PURPOSE) == "wrong-one"
    events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.type.like("mail:%"))))
    assert {e.type for e in events} == {"mail:settings_updated", "mail:test_sent"}
    assert all(password not in e.data and "wrong-one" not in e.data for e in events)
    assert [json.loads(e.data)["password_changed"] for e in events if e.type == "mail:settings_updated"] == [True, True]
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("lifecycle"))
    assert password not in ours and "wrong-one" not in ours


def test_a_password_smtp_cannot_send_is_refused_on_entry(world, mail_server, configure_mail):
    from lifecycle.errors import Invalid
    with pytest.raises(Invalid) as refused:
        configure_mail(mail_server, username="lifecycle", password="ひみつ")
    assert "半角英数字" in refused.value.message


def test_a_failed_test_mail_says_why_in_japanese_and_is_audited(world, mail_server, configure_mail):
    configure_mail(mail_server)
    mail_server.stop()
    with pytest.raises(Conflict) as refused:
        services.send_test_mail(world["admin"], "admin@pref.example.lg.jp")
    assert "テスト送信に失敗しました" in refused.value.message and "接続できませんでした" in refused.value.message
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.type == "mail:test_sent"))
    assert json.loads(event.data)["ok"] is False


def test_only_an_admin_configures_mail_or_addresses(world, mail_server):
    from lifecycle.errors import Forbidden
    for login in ("registrar", "security", "auditor", "bulk"):
        with pytest.raises(Forbidden):
            services.save_settings(world[login], {"host": "127.0.0.1", "port": 25, "sender": "a@b.jp"})
        with pytest.raises(Forbidden):
            services.set_email(world[login], login, "x@pref.example.lg.jp")
    assert db.session.scalar(select(func.count()).select_from(MailSettings)) == 0


def test_the_command_line_sends_a_test_and_flushes_the_outbox(runner, world, addresses, mail_server, configure_mail):
    configure_mail(mail_server)
    result = runner.invoke(args=["mail", "test", "ops@pref.example.lg.jp"])
    assert result.exit_code == 0 and "sent to ops@pref.example.lg.jp" in result.output
    set_policy(world["admin"], "notification.digest_hour", 0)
    request_transfer(world["registrar"], factories.form(world["registrar"]).code, "security2")
    result = runner.invoke(args=["mail", "send"])
    assert result.exit_code == 0 and "queued 1, sent 1" in result.output
    mail_server.stop()
    result = runner.invoke(args=["mail", "test", "ops@pref.example.lg.jp"])
    assert result.exit_code != 0 and "接続できませんでした" in result.output


def test_a_password_sealed_under_another_key_asks_to_be_entered_again(app, world, mail_server, configure_mail):
    configure_mail(mail_server, username="lifecycle", password="entered-once")
    (crypto.keys_dir(app.instance_path) / "secrets.key").write_text(os.urandom(32).hex())  # restored elsewhere
    with pytest.raises(Conflict) as refused:
        services.send_test_mail(world["admin"], "admin@pref.example.lg.jp")
    assert "入力し直してください" in refused.value.message
