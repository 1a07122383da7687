"""Accounts and master data. Every function takes an explicit actor and owns its transaction."""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import date, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, literal, select, union_all
from sqlalchemy.orm import joinedload

from .. import validation as v
from ..actors import AUTH, Actor
from ..audit.events import EventType
from ..audit.services import record_event
from ..clock import fiscal_year, today_jst, utcnow
from ..db import row_id
from ..errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from ..extensions import db
from ..checkdigit import contains_number
from ..policy import services as policy
from ..roles import ROLE_LABELS, Role, require_role
from .models import ApiToken, Business, Department, RoleGrant, TrainingRecord, User

MIN_PASSWORD = 12
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
LOGIN_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{1,31}")

_hasher = PasswordHasher()
#: Verified against when the login is unknown, so timing does not reveal which logins exist.
_DUMMY_HASH = _hasher.hash("not-a-real-password-0000")


def configure_hasher(time_cost: int, memory_cost: int) -> None:
    """Argon2id cost from the config (tests lower it; production keeps argon2's defaults)."""
    global _hasher, _DUMMY_HASH
    if (_hasher.time_cost, _hasher.memory_cost) != (time_cost, memory_cost):
        _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost)
        _DUMMY_HASH = _hasher.hash("not-a-real-password-0000")




def _require_admin(actor: Actor) -> None:
    require_role(actor, Role.ADMIN, message="この操作はシステム管理者のみが行えます。")


def get_department(code: str) -> Department:
    dept = db.session.scalar(select(Department).where(Department.code == code))
    if dept is None:
        raise Invalid(f"所属コード「{code}」は登録されていません。", code="unknown_department",
                      field="department")
    return dept


def get_user(login: str) -> User:
    user = db.session.scalar(select(User).where(User.login == login))
    if user is None:
        raise NotFound(f"利用者「{login}」は登録されていません。", code="unknown_user")
    return user


def list_departments(active_only: bool = False) -> list[Department]:
    query = select(Department).order_by(Department.is_system_owner.desc(), Department.code)
    if active_only:
        query = query.where(Department.active.is_(True))
    return list(db.session.scalars(query))


#: Both masters in one statement: every item page reads them.
_MASTER_NAMES = union_all(select(literal("department").label("master"), Department.code, Department.name),
                          select(literal("business"), Business.code, Business.name))


def master_names() -> dict[str, dict[str, str]]:
    """Code → name of every department and business, so event details read as words."""
    names: dict[str, dict[str, str]] = {"department": {}, "business": {}}
    for master, code, name in db.session.connection().execute(_MASTER_NAMES):
        names[master][code] = name
    return names


def list_businesses(active_only: bool = False) -> list[Business]:
    query = select(Business).order_by(Business.code)
    if active_only:
        query = query.where(Business.active.is_(True))
    return list(db.session.scalars(query))


def list_users() -> list[User]:
    return list(db.session.scalars(select(User).order_by(User.login)))


def create_department(actor: Actor, code: str, name: str, *, system_owner: bool = False) -> Department:
    """所属 master entry; exactly one may be the system owner (市町課)."""
    with db.transaction() as session:
        _require_admin(actor)
        errors = v.FieldErrors()  # every refused field at once, each beside its field
        code = errors.check("code", v.code, code, "所属コード", field="code")
        name = errors.check("name", v.text, name, "所属名", max_len=100, field="name")
        errors.raise_any()
        if session.scalar(select(Department).where(Department.code == code)):
            raise Conflict(f"所属コード「{code}」は既に登録されています。", code="duplicate")
        if system_owner and session.scalar(select(Department).where(Department.is_system_owner)):
            raise Conflict("システム所有所属（市町課）は既に登録されています。一つだけ指定できます。",
                           code="duplicate_system_owner")
        dept = Department(code=code, name=name, is_system_owner=system_owner, active=True)
        session.add(dept)
        session.flush()
        record_event(EventType.DEPARTMENT_CREATED, actor=actor, subject=f"department:{code}",
                     name=name, system_owner=system_owner)
        return dept


def create_business(actor: Actor, code: str, name: str, basis: str) -> Business:
    """利用事務 master entry with its legal basis."""
    with db.transaction() as session:
        _require_admin(actor)
        errors = v.FieldErrors()  # every refused field at once, each beside its field
        code = errors.check("code", v.code, code, "利用事務コード", field="code")
        name = errors.check("name", v.text, name, "利用事務名", max_len=200, field="name")
        basis = errors.check("basis", v.text, basis, "根拠法令", max_len=100, field="basis")
        errors.raise_any()
        if session.scalar(select(Business).where(Business.code == code)):
            raise Conflict(f"利用事務コード「{code}」は既に登録されています。", code="duplicate")
        business = Business(code=code, name=name, basis=basis, active=True)
        session.add(business)
        session.flush()
        record_event(EventType.BUSINESS_CREATED, actor=actor, subject=f"business:{code}",
                     name=name, basis=basis)
        return business


def _check_password(password: str | None) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise Invalid(f"パスワードは{MIN_PASSWORD}文字以上にしてください。", code="weak_password",
                      field="password")
    if len(password) > 256:
        raise Invalid("パスワードが長すぎます（256文字以内）。", field="password")
    return password


#: Roles whose new grant by a person takes effect only when a second admin approves it
#: (people/services.py: request → approval). The CLI and the demo act with the operator's authority.
NEEDS_SECOND_ADMIN = frozenset({Role.BULK_OPERATOR})


def check_grant(actor: Actor, user: User, role: Role, *, approved: bool = False) -> None:
    """The rules of docs/design.md: an admin other than the grantee; bulk_operator only in 市町課,
    and only once a second admin has approved it (`approved`)."""
    _require_admin(actor)
    if actor.id == user.id:
        raise Forbidden("自分自身に権限を付与・取消しすることはできません。別のシステム管理者に依頼してください。",
                        code="self_grant")
    if role == Role.BULK_OPERATOR and not user.department.is_system_owner:
        raise Invalid("一括利用担当の権限は市町課（システム所有所属）の職員にのみ付与できます。",
                      code="bulk_operator_outside_owner", field="role")
    if role in NEEDS_SECOND_ADMIN and not approved and not actor.is_system:
        raise Conflict(f"「{ROLE_LABELS[role]}」の新たな付与には、依頼者とは別のシステム管理者の承認が必要です。"
                       "利用者の画面から承認依頼を出してください。", code="approval_required")


def add_grant(actor: Actor, user: User, role: Role, *, approved: bool = False) -> None:
    """Grants a role inside the caller's transaction (flushes); `approved`: a second admin approved it."""
    check_grant(actor, user, role, approved=approved)
    if role in user.granted_roles:
        raise Conflict(f"「{user.name}」には既に「{ROLE_LABELS[role]}」の権限があります。", code="duplicate")
    user.grants.append(RoleGrant(role=role, granted_by=actor.login, granted_at=utcnow()))
    db.session.flush()
    record_event(EventType.ROLE_GRANTED, actor=actor, subject=f"user:{user.login}", role=role.value)


def _parse_role(value) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise Invalid(f"権限「{value}」はありません。指定できる権限: "
                      + "、".join(f"{r.value}（{ROLE_LABELS[r]}）" for r in Role), code="unknown_role",
                      field="role") from None


def _login(value) -> str:
    login = v.text(value, "ログインID", max_len=32, field="login")
    if not LOGIN_PATTERN.fullmatch(login):
        raise Invalid("ログインIDは半角英小文字・数字と - _ . の2〜32文字で入力してください。", field="login")
    return login


def _department(code) -> Department:
    return get_department(v.text(code, "所属", max_len=32, field="department"))


def _parse_roles(values) -> list[Role]:
    """Each role named; an unknown one is refused under "roles", where the form shows it."""
    try:
        return [_parse_role(r) for r in values or ()]
    except Invalid as exc:
        raise Invalid(exc.message, code=exc.code, field="roles") from None


def create_user(actor: Actor, login: str, name: str, department_code: str, *, roles=(),
                trained_on: date | None = None, password: str | None = None) -> User:
    """A new account; roles follow the same grant rules as grant_role."""
    with db.transaction() as session:
        _require_admin(actor)
        errors = v.FieldErrors()  # every refused field at once, each beside its field
        login = errors.check("login", _login, login)
        name = errors.check("name", v.text, name, "氏名", max_len=100, field="name")
        dept = errors.check("department", _department, department_code)
        parsed = errors.check("roles", _parse_roles, roles)
        if trained_on not in (None, ""):
            trained_on = errors.check("trained_on", _training_day, trained_on, field="trained_on")
        else:
            trained_on = None
        password = errors.check("password", _check_password, password) if password else None
        errors.raise_any()
        if session.scalar(select(User).where(User.login == login)):
            raise Conflict(f"ログインID「{login}」は既に使われています。", code="duplicate")
        user = User(login=login, name=name, department=dept, active=True, failed_logins=0,
                    password_hash=_hasher.hash(password) if password else None)
        session.add(user)
        session.flush()
        record_event(EventType.USER_CREATED, actor=actor, subject=f"user:{login}",
                     name=name, department=dept.code,
                     trained_on=trained_on.isoformat() if trained_on else None)
        if trained_on is not None:
            _add_training(actor, user, trained_on, DEFAULT_COURSE)
        for role in dict.fromkeys(parsed):
            add_grant(actor, user, role)
        return user



def grant_role(actor: Actor, login: str, role) -> None:
    """Grants a role; refused for oneself and for bulk_operator outside 市町課."""
    with db.transaction():
        add_grant(actor, get_user(login), _parse_role(role))


def revoke_role(actor: Actor, login: str, role) -> None:
    with db.transaction() as session:
        user = get_user(login)
        role = _parse_role(role)
        _require_admin(actor)
        if actor.id == user.id:
            raise Forbidden("自分自身の権限を変更することはできません。", code="self_grant")
        grant = next((g for g in user.grants if Role(g.role) == role), None)
        if grant is None:
            raise Conflict(f"「{user.name}」には「{ROLE_LABELS[role]}」の権限がありません。", code="not_granted")
        user.grants.remove(grant)
        session.flush()
        record_event(EventType.ROLE_REVOKED, actor=actor, subject=f"user:{login}", role=role.value)


#: The course of a training recorded without one (the CLI's --trained-on, the user form's date).
DEFAULT_COURSE = "住基ネット セキュリティ研修"


def training_expires_on(completed_on: date, valid_days: int) -> date:
    """The last day a training counts: the rest of its 年度, or `valid_days` after it, whichever is
    later (the policy period: "the current 年度 or the 12 months before")."""
    year_end = date(fiscal_year(completed_on) + 1, 3, 31)
    return max(completed_on + timedelta(days=valid_days), year_end)


def _valid_days() -> int:
    return int(policy.get("training.valid_days"))


def _training_day(value, field: str = "completed_on") -> date:
    value = v.a_date(value, "研修受講日", field=field)
    if value > today_jst():
        raise Invalid("研修受講日に未来の日付は指定できません。", field=field)
    return value


def refresh_training(user: User, valid_days: int | None = None) -> None:
    """Keeps the user's latest training date and its last valid day in step with the records
    (flushes; the caller's transaction commits)."""
    latest = db.session.scalar(select(func.max(TrainingRecord.completed_on)).where(
        TrainingRecord.user_id == user.id, TrainingRecord.withdrawn_at.is_(None)))
    user.trained_on = latest
    user.training_valid_until = (None if latest is None
                                 else training_expires_on(latest, valid_days or _valid_days()))


def refresh_all_training(valid_days: int) -> int:
    """After the policy's period changes, every user's last valid day follows it."""
    users = list(db.session.scalars(select(User).where(User.trained_on.is_not(None))))
    for user in users:
        refresh_training(user, valid_days)
    return len(users)


def _add_training(actor: Actor, user: User, completed_on: date, course: str) -> TrainingRecord:
    record = TrainingRecord(user_id=user.id, completed_on=completed_on, course=course,
                            confirmed_by=actor.login, recorded_at=utcnow())
    db.session.add(record)
    db.session.flush()
    refresh_training(user)
    record_event(EventType.TRAINING_RECORDED, actor=actor, subject=f"user:{user.login}",
                 training=record.id, trained_on=completed_on.isoformat(), course=course,
                 valid_until=user.training_valid_until.isoformat() if user.training_valid_until else None)
    return record


def record_training(actor: Actor, login: str, trained_on: date | None, course=None) -> TrainingRecord | None:
    """Adds a training record confirmed by the acting admin; roles are effective while the latest
    one is within the policy period. None withdraws every record (entered by mistake), which
    suspends every role of the user until a new one is recorded."""
    with db.transaction():
        _require_admin(actor)
        user = get_user(login)
        if trained_on is None:
            records = list(db.session.scalars(select(TrainingRecord).where(
                TrainingRecord.user_id == user.id, TrainingRecord.withdrawn_at.is_(None))))
            for record in records:
                record.withdrawn_at, record.withdrawn_by = utcnow(), actor.login
            db.session.flush()
            refresh_training(user)
            record_event(EventType.TRAINING_WITHDRAWN, actor=actor, subject=f"user:{login}",
                         count=len(records))
            return None
        errors = v.FieldErrors()
        trained_on = errors.check("completed_on", _training_day, trained_on)
        course = errors.check("course", v.text, course, "研修の名称", max_len=200, required=False,
                              field="course", multiline=False)
        errors.raise_any()
        return _add_training(actor, user, trained_on, course or DEFAULT_COURSE)


def training_records(user: User) -> list[TrainingRecord]:
    """Newest first, withdrawn ones included (they show as withdrawn)."""
    return list(db.session.scalars(select(TrainingRecord).where(TrainingRecord.user_id == user.id)
                                   .order_by(TrainingRecord.completed_on.desc(), TrainingRecord.id.desc())))


def set_password(actor: Actor, login: str, password: str) -> None:
    with db.transaction():
        user = get_user(login)
        if not (actor.id == user.id):
            _require_admin(actor)
        user.password_hash = _hasher.hash(_check_password(password))
        user.failed_logins = 0
        user.locked_until = None
        user.end_sessions()
        record_event(EventType.PASSWORD_SET, actor=actor, subject=f"user:{login}")


def set_active(actor: Actor, login: str, active: bool) -> None:
    with db.transaction():
        _require_admin(actor)
        user = get_user(login)
        if actor.id == user.id:
            raise Forbidden("自分自身を利用停止にすることはできません。", code="self_grant")
        user.active = active
        user.end_sessions()
        record_event(EventType.USER_REACTIVATED if active else EventType.USER_DEACTIVATED,
                     actor=actor, subject=f"user:{login}")


class LoginRefused(Unauthenticated):
    pass


#: The one answer to every refused login. A locked account gets it too: saying "locked" only
#: for real logins would tell which logins exist after five tries (the lock is in the audit log).
LOGIN_REFUSED = ("ログインIDまたはパスワードが正しくありません。続けて5回失敗したアカウントは15分間"
                 "ログインできなくなります。")


def _dummy_verify(password: str | None) -> None:
    """Spends what verifying a real password costs, so timing does not tell the cases apart."""
    try:
        _hasher.verify(_DUMMY_HASH, password or "x")
    except VerificationError:
        pass


def authenticate(login: str, password: str, *, remote_addr: str | None = None) -> User:
    """Checks a password; failures count toward a 15-minute lock and are committed as events.
    Unknown, inactive and locked logins and wrong passwords get the same refusal (LOGIN_REFUSED)."""
    now = utcnow()
    with db.transaction():
        user = db.session.scalar(select(User).where(User.login == (login or "")[:64]))
        if user is None or not user.active or user.password_hash is None:
            _dummy_verify(password)
            record_event(EventType.LOGIN_FAILED, actor=None,
                         # what was typed is kept, unless it may be a 個人番号
                         subject="user:?" if contains_number(login) else f"user:{(login or '')[:32]}",
                         reason="unknown_or_inactive",
                         addr=remote_addr)
        elif user.is_locked(now):
            _dummy_verify(password)
            record_event(EventType.LOGIN_FAILED, actor=None, subject=f"user:{user.login}",
                         reason="locked", addr=remote_addr)
        elif _verify(user, password):
            user.failed_logins = 0
            user.locked_until = None
            record_event(EventType.LOGIN_SUCCEEDED, actor=user, subject=f"user:{user.login}",
                         addr=remote_addr)
            return user
        else:
            user.failed_logins += 1
            record_event(EventType.LOGIN_FAILED, actor=None, subject=f"user:{user.login}",
                         reason="bad_password", attempts=user.failed_logins, addr=remote_addr)
            if user.failed_logins >= MAX_FAILED_LOGINS:
                user.locked_until = now + LOCKOUT
                user.failed_logins = 0
                record_event(EventType.ACCOUNT_LOCKED, actor=AUTH, subject=f"user:{user.login}",
                             until=user.locked_until.isoformat())
    raise LoginRefused(LOGIN_REFUSED, code="bad_credentials")


def _verify(user: User, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return False


def issue_token(actor: Actor, login: str) -> str:
    """A new API token; only its SHA-256 is stored, so it is shown this once."""
    with db.transaction() as session:
        user = get_user(login)
        if actor.id not in (None, user.id):
            _require_admin(actor)
        token = "lc_" + secrets.token_urlsafe(32)
        session.add(ApiToken(user_id=user.id, token_hash=_token_hash(token), created_at=utcnow()))
        record_event(EventType.TOKEN_ISSUED, actor=actor, subject=f"user:{login}")
        return token


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def user_for_token(token: str) -> User | None:
    """The active user holding this unrevoked API token, or None."""
    if not token or len(token) > 200:
        return None
    return db.session.scalar(select(User).join(ApiToken, ApiToken.user_id == User.id).where(
        ApiToken.token_hash == _token_hash(token), ApiToken.revoked_at.is_(None), User.active.is_(True)))


def user_for_session(session_id: str) -> User | None:
    """The active user a session names ("id:epoch", User.get_id), or None once that epoch has
    ended (logout, password change or reset, deactivation) or the session is malformed."""
    user_id, _, epoch = str(session_id).partition(":")
    user_id = row_id(user_id)
    if user_id is None or not epoch.isdigit() or len(epoch) > 9:
        return None
    # Once per signed-in request: the grants come in the same statement as the user and department.
    return db.session.execute(select(User).options(joinedload(User.grants)).where(
        User.id == user_id, User.session_epoch == int(epoch), User.active.is_(True))).unique().scalar_one_or_none()


def end_sessions(actor: Actor) -> None:
    """Logout: every session of the person ends, including copies of the cookie made before."""
    with db.transaction():
        user = get_user(actor.login)
        user.end_sessions()
        record_event(EventType.LOGGED_OUT, actor=actor, subject=f"user:{user.login}")


def count_users() -> int:
    return db.session.scalar(select(func.count(User.id))) or 0


def parse_department(value) -> Department | None:
    code = v.text(value, "所属", max_len=32, required=False, field="department")
    return get_department(code) if code else None
