"""Notification mail: the SMTP settings, each person's choice, and the outbox.

Mails are rows of the outbox, queued in a write transaction: urgent ones in the transaction of
what causes them where there is one (a failed purge run, scheduler.run_job), or by the queue job
for what only time makes urgent (a hand-off waiting more than a day); digests by the queue job,
once a day after the policy's hour. A `dedupe_key` per mail and person keeps any of them from
being queued twice.

Sending (`send_pending`, the scheduler leader's job) claims rows first: under the write lock each
row becomes "sending" with a lease id and a lease end, and only then is the server contacted.
A sender that dies leaves its rows "sending"; once the lease has ended another run takes them
again. So a crash never loses a mail, and a crash after the server accepted a mail but before the
row was marked sent sends that one mail twice: every mail's Message-ID is derived from its row id
(`message_id`), so receivers that de-duplicate by Message-ID show it once. A failed attempt waits
BACKOFF_SECONDS × 2^(attempts−1), at most MAX_BACKOFF_SECONDS; a permanent refusal (5xx for the
address) or MAX_ATTEMPTS attempts give up, and the admin's outbox page shows it.
"""
from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime, timedelta
from typing import Callable
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag
from flask import current_app
from sqlalchemy import and_, or_, select

from .. import crypto, validation as v
from ..actors import Actor
from ..audit.events import EventType
from ..audit.services import record_event
from ..auth.models import RoleGrant, User
from ..roles import require_role, Role
from ..clock import to_jst, utcnow
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..extensions import db
from ..policy import services as policy
from ..checkdigit import contains_number
from ..wareki import wareki_date
from . import mailer
from .models import Delivery, MailPreference, MailSettings, OutboxMail
from .tasks import Task, tasks_for

log = logging.getLogger(__name__)

QUEUE_JOB, QUEUE_JOB_LABEL = "notifications_queue", "まとめメール・至急メールの作成"
SEND_JOB, SEND_JOB_LABEL = "notifications_send", "メールの送信"

PASSWORD_PURPOSE = "mail_settings.password"  #: associated data of the sealed SMTP password
BACKOFF_SECONDS = 60
MAX_BACKOFF_SECONDS = 6 * 3600
MAX_ATTEMPTS = 12
#: How long a claim holds: longer than a batch can take (SEND_BATCH mails, each step bounded by
#: mailer.TIMEOUT_SECONDS); a run that nears its end gives the rest back instead of sending late.
LEASE_SECONDS = 15 * 60
SEND_BATCH = 20
SUBJECT_PREFIX = "【住基ネット管理】"
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")


# --- settings ---------------------------------------------------------------------------------

def get_settings() -> MailSettings | None:
    return db.session.get(MailSettings, 1)


def mail_enabled() -> bool:
    settings = get_settings()
    return settings is not None and settings.enabled


def email_address(value, label: str, *, required: bool = True, field: str = "email") -> str | None:
    address = v.text(value, label, max_len=254, required=required, field=field)
    if address is not None and not _EMAIL.fullmatch(address):
        raise Invalid(f"{label}はメールアドレスの形（例: taro@pref.example.lg.jp）で入力してください。", field=field)
    return address


def _password(value) -> str | None:
    """Not through v.text: a password is never stored in clear or logged, so its content is not
    the ledger's business, and one of 12 digits must not be refused as a 個人番号."""
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 200 or not value.isascii() or not value.isprintable():
        # smtplib sends AUTH PLAIN and LOGIN as ASCII only
        raise Invalid("パスワードは200文字以内の半角英数字・記号で入力してください。", field="password")
    return value


def save_settings(actor: Actor, data: dict) -> MailSettings:
    """An admin sets the SMTP server. An empty password keeps the one stored (it is never shown
    again); `clear_password` removes it. Audited without the password, only whether it changed."""
    require_role(actor, Role.ADMIN, message="メール送信の設定はシステム管理者が行います。")
    host = v.text(data.get("host"), "メールサーバー", max_len=255, field="host")
    if not re.fullmatch(r"[A-Za-z0-9.:\[\]-]+", host):
        raise Invalid("メールサーバーはホスト名または IP アドレスで入力してください。", field="host")
    port = v.integer(data.get("port") or 25, "ポート番号", minimum=1, maximum=65535, field="port")
    starttls = v.boolean(data.get("starttls"), "STARTTLS", field="starttls")
    enabled = v.boolean(data.get("enabled", True), "メール送信", field="enabled")
    username = v.text(data.get("username"), "ログイン名", max_len=255, required=False, field="username")
    sender = email_address(data.get("sender"), "送信者アドレス", field="sender")
    password = _password(data.get("password"))
    clear = v.boolean(data.get("clear_password"), "パスワードの削除", field="clear_password")
    instance, login = current_app.instance_path, actor.login
    with db.transaction() as session:
        settings = session.get(MailSettings, 1, populate_existing=True)
        if settings is None:
            settings = MailSettings(id=1, updated_by=login, updated_at=utcnow())
            session.add(settings)
        changed = bool(password) or (clear and settings.password_sealed is not None)
        if password:
            settings.password_sealed = crypto.encrypt_secret(instance, password, PASSWORD_PURPOSE)
        elif clear:
            settings.password_sealed = None
        settings.host, settings.port, settings.starttls = host, port, starttls
        settings.username, settings.sender, settings.enabled = username, sender, enabled
        settings.updated_by, settings.updated_at = login, utcnow()
        record_event(EventType.MAIL_SETTINGS_UPDATED, actor=actor, subject="mail", host=host, port=port,
                     starttls=starttls, username=username, sender=sender, enabled=enabled,
                     password_changed=changed)
        return settings


def server() -> mailer.Server:
    settings = get_settings()
    if settings is None:
        raise Conflict("メール送信が設定されていません。先にメールサーバーを設定してください。", code="mail_not_configured")
    password = None
    if settings.password_sealed is not None:
        try:
            password = crypto.decrypt_secret(current_app.instance_path, settings.password_sealed, PASSWORD_PURPOSE)
        except InvalidTag:  # restored without this instance's keys/secrets.key, or the key replaced
            raise Conflict("保存されているメールサーバーのパスワードを復号できません（鍵が異なります）。"
                           "管理 → メール送信でパスワードを入力し直してください。", code="mail_password_unreadable") from None
    return mailer.Server(settings.host, settings.port, settings.starttls, settings.username, password,
                         settings.sender, current_app.config.get("MAIL_CA_FILE"))


def send_test_mail(actor: Actor, to) -> None:
    """The admin's テスト送信: sent at once, not through the outbox, so that the SMTP
    conversation's error is shown on the spot. Audited with its result."""
    require_role(actor, Role.ADMIN, message="テスト送信はシステム管理者が行います。")
    address = email_address(to, "テスト送信の宛先", field="to")
    smtp_server = server()
    mail = mailer.message(smtp_server, to=address, subject=f"{SUBJECT_PREFIX}テスト送信",
                          body=compose("システム管理者", ["住基ネット 帳票・媒体管理システムからのテスト送信です。",
                                                   "このメールが届いていれば、メール送信の設定は正しく動いています。"]),
                          message_id=_message_id(f"test.{uuid.uuid4().hex}"))
    error = None
    try:
        with mailer.Connection(smtp_server) as smtp:
            smtp.send(mail)
    except mailer.SendError as exc:
        error = exc
    with db.transaction():
        record_event(EventType.MAIL_TEST_SENT, actor=actor, subject="mail", to=address, ok=error is None,
                     error=error.message if error else None)
    if error is not None:
        raise Conflict(f"テスト送信に失敗しました。{error.message}", code="mail_test_failed")


# --- people -----------------------------------------------------------------------------------

def preference(user: User) -> MailPreference | None:
    return db.session.get(MailPreference, user.id)


def wants_urgent(user: User) -> bool:
    found = preference(user)
    return found is None or found.urgent


def set_preference(actor: Actor, *, urgent) -> MailPreference:
    """A person chooses digest only, or digest and urgent mails, for themselves."""
    if actor.is_system:
        raise Forbidden("メールの受け取り方は本人が選びます。")
    urgent = v.boolean(urgent, "至急のメール", field="urgent")
    with db.transaction() as session:
        found = session.get(MailPreference, actor.id, populate_existing=True)
        if found is None:
            found = MailPreference(user_id=actor.id)
            session.add(found)
        found.urgent, found.updated_at = urgent, utcnow()
        record_event(EventType.MAIL_PREFERENCE_SET, actor=actor, subject=f"user:{actor.login}", urgent=urgent)
        return found


def set_email(actor: Actor, login: str, email) -> User:
    """An admin records where a person's notification mail goes (empty: no mail)."""
    require_role(actor, Role.ADMIN, message="メールアドレスの登録はシステム管理者が行います。")
    address = email_address(email, "メールアドレス", required=False)
    with db.transaction() as session:
        user = session.scalar(select(User).where(User.login == str(login)).execution_options(populate_existing=True))
        if user is None:
            raise NotFound(f"利用者「{login}」は登録されていません。")
        user.email = address
        record_event(EventType.USER_EMAIL_SET, actor=actor, subject=f"user:{user.login}", email=address)
        return user


def recipients() -> list[User]:
    """Everyone an admin may give an address, active first."""
    return list(db.session.scalars(select(User).order_by(User.active.desc(), User.department_id, User.login)))


# --- composing --------------------------------------------------------------------------------

def base_url() -> str:
    return current_app.config["BASE_URL"].rstrip("/")


def _message_id(key: str) -> str:
    host = urlsplit(current_app.config["BASE_URL"]).hostname or "lifecycle.invalid"
    return f"<lifecycle.{key}@{host}>"


def message_id(outbox_id: int) -> str:
    """The same for every attempt at one row, so a receiver can drop a duplicate."""
    return _message_id(f"outbox.{outbox_id}")


def compose(name: str, lines: list[str]) -> str:
    organisation = current_app.config["ORGANISATION_NAME"]
    return "\n".join([f"{name} 様", "", *lines, "", "-- ", f"{organisation} 住基ネット 帳票・媒体管理システム",
                      "このメールは送信専用です。返信はできません。",
                      f"メールの受け取り方は {base_url()}/inbox で変更できます。", ""])


def _task_lines(tasks: list[Task]) -> list[str]:
    lines = []
    for number, task in enumerate(tasks, 1):
        lines += [f"{number}. {task.summary}", f"   {base_url()}{task.url}", ""]
    return lines[:-1]


def queue_mail(session, *, kind: str, dedupe_key: str, user: User, subject: str, body: str) -> bool:
    """Adds one mail to the outbox in the caller's transaction, unless that key is queued already.
    A text that looks like a 個人番号 is not mailed at all: by construction none does, and a mail
    cannot be called back."""
    if contains_number(subject) or contains_number(body):
        log.error("mail %s not queued: its text looks like it holds a 個人番号", dedupe_key)
        return False
    if session.scalar(select(OutboxMail.id).where(OutboxMail.dedupe_key == dedupe_key)) is not None:
        return False
    session.add(OutboxMail(kind=kind, dedupe_key=dedupe_key, user_id=user.id, to_address=user.email,
                           subject=subject, body=body, delivery=Delivery.PENDING.value, attempts=0,
                           next_attempt_at=utcnow(), created_at=utcnow()))
    return True


def mailable(user: User, *, urgent: bool = False) -> bool:
    return bool(user.active and user.email) and (not urgent or wants_urgent(user))


def with_role(*roles: Role) -> list[User]:
    return list(db.session.scalars(select(User).where(User.active.is_(True), User.email.is_not(None), User.id.in_(
        select(RoleGrant.user_id).where(RoleGrant.role.in_([r.value for r in roles])))).order_by(User.id)))


#: What only time makes urgent (a hand-off waiting over a day, a failed run that no job recorded):
#: each domain registers `queue(now) -> int`, which queues its own mails once per cause.
URGENT_MAILS: list[Callable[[datetime | None], int]] = []


def register_urgent_mail(queue: Callable[[datetime | None], int]) -> None:
    if queue not in URGENT_MAILS:
        URGENT_MAILS.append(queue)


def queue_digests(now: datetime | None = None) -> int:
    """Each person with an address and something waiting gets one digest a JST day, at the first
    run after the policy's hour. The lists are read before the write lock; the day is marked done
    in the transaction that queues them."""
    settings = get_settings()
    local = to_jst(now or utcnow())
    day = local.date()
    if settings is None or not settings.enabled or settings.last_digest_on == day \
            or local.hour < int(policy.get("notification.digest_hour")):
        return 0
    people = db.session.scalars(select(User).where(User.active.is_(True), User.email.is_not(None)).order_by(User.id))
    digests = [(user, tasks) for user in people if (tasks := tasks_for(user))]
    queued = 0
    with db.transaction() as session:
        settings = session.get(MailSettings, 1, populate_existing=True)
        if settings.last_digest_on == day:  # another run did the day meanwhile
            return 0
        settings.last_digest_on = day
        for user, tasks in digests:
            body = compose(user.name, [f"{wareki_date(day)}現在、あなたの対応を待っているものが{len(tasks)}件あります。", "",
                                        *_task_lines(tasks)])
            queued += queue_mail(session, kind="digest", dedupe_key=f"digest:{user.id}:{day.isoformat()}", user=user,
                             subject=f"{SUBJECT_PREFIX}やること {len(tasks)}件（{wareki_date(day)}）", body=body)
    return queued


def queue_notifications(now: datetime | None = None) -> int:
    """The queue job: urgent mails for what became urgent with time, then the digests when due."""
    if not mail_enabled():
        return 0
    return sum(queue(now) for queue in URGENT_MAILS) + queue_digests(now)


# --- sending ----------------------------------------------------------------------------------

def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(BACKOFF_SECONDS * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS))


def _claim(now: datetime, lease: str, limit: int) -> list[tuple[int, str, str, str]]:
    with db.transaction() as session:
        rows = list(session.scalars(select(OutboxMail).where(or_(
            and_(OutboxMail.delivery == Delivery.PENDING.value, OutboxMail.next_attempt_at <= now),
            and_(OutboxMail.delivery == Delivery.SENDING.value, OutboxMail.lease_until < now)))
            .order_by(OutboxMail.id).limit(limit).execution_options(populate_existing=True)))
        for row in rows:
            row.delivery, row.lease_id = Delivery.SENDING.value, lease
            row.lease_until = now + timedelta(seconds=LEASE_SECONDS)
            row.attempts, row.last_attempt_at = row.attempts + 1, now
        return [(row.id, row.to_address, row.subject, row.body) for row in rows]


def _settle(outbox_id: int, lease: str, error: mailer.SendError | None = None, *, give_back: bool = False) -> None:
    """Records one attempt's outcome, if this run still holds the row's claim."""
    with db.transaction() as session:
        row = session.get(OutboxMail, outbox_id, populate_existing=True)
        if row is None or row.lease_id != lease or row.delivery != Delivery.SENDING.value:
            log.warning("outbox mail %s: claim %s lost before its outcome was recorded", outbox_id, lease)
            return
        now = utcnow()
        row.lease_id = row.lease_until = None
        if give_back:
            row.delivery, row.attempts, row.next_attempt_at = Delivery.PENDING.value, row.attempts - 1, now
        elif error is None:
            row.delivery, row.sent_at, row.last_error = Delivery.SENT.value, now, None
        else:
            row.last_error = error.message[:500]
            if error.permanent or row.attempts >= MAX_ATTEMPTS:
                row.delivery = Delivery.FAILED.value
            else:
                # from the start of the attempt, the time the run was given
                row.delivery = Delivery.PENDING.value
                row.next_attempt_at = (row.last_attempt_at or now) + backoff(row.attempts)
            log.warning("outbox mail %s: attempt %s failed: %s", outbox_id, row.attempts, error.message)


def send_pending(now: datetime | None = None, limit: int = SEND_BATCH) -> int:
    """The send job: one SMTP session for up to `limit` due mails; returns how many were sent."""
    if not mail_enabled():
        return 0
    smtp_server = server()
    lease = uuid.uuid4().hex
    started = now or utcnow()
    claimed = _claim(started, lease, limit)
    if not claimed:
        return 0
    deadline = utcnow() + timedelta(seconds=LEASE_SECONDS // 2)
    sent, done = 0, set()
    try:
        with mailer.Connection(smtp_server) as smtp:
            for outbox_id, to, subject, body in claimed:
                if utcnow() > deadline:
                    break
                try:
                    smtp.send(mailer.message(smtp_server, to=to, subject=subject, body=body,
                                             message_id=message_id(outbox_id)))
                except mailer.SendError as exc:
                    _settle(outbox_id, lease, exc)
                else:
                    _settle(outbox_id, lease)
                    sent += 1
                done.add(outbox_id)
    except mailer.SendError as exc:  # no session at all: every claimed mail waits for the next try
        for outbox_id, *_rest in claimed:
            if outbox_id not in done:
                _settle(outbox_id, lease, exc)
                done.add(outbox_id)
    for outbox_id, *_rest in claimed:
        if outbox_id not in done:
            _settle(outbox_id, lease, give_back=True)
    return sent


def recent_mails(actor: Actor, limit: int = 100) -> list[OutboxMail]:
    """The admin's page of recent sends and failures, newest first."""
    require_role(actor, Role.ADMIN, message="メールの送信状況はシステム管理者が確認できます。")
    return list(db.session.scalars(select(OutboxMail).order_by(OutboxMail.id.desc()).limit(limit)))
