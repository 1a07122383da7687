"""Terminals and the terminal-use approvals (使用伺い): the rules of who asks, who approves, and
what a use records.

- A terminal belongs to a department; admins register it and may link the leased device of the
  ledger it is.
- A person with a working role (登録担当・一括利用担当・セキュリティ管理者) asks to use a terminal
  for a business (利用事務) for a period on one day. A security manager of the terminal's
  department other than the requester approves, confirming the pre-use check (no camera, phone or
  USB memory brought to the terminal), or refuses with a reason.
- The requester records the end of use (close) with the actual times. A use that happened
  without approval is still recorded this way (the book must hold every use) and is listed as an
  exception (terminals/queries.py).
- A form registered from the output of a use names it (items registration, `terminal_use`):
  the use must be approved and cover the form's output time.

Auditors read the book and change nothing: every action here needs one of the working roles.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import insert, select

from .. import validation as v
from ..actors import Actor
from ..audit.events import EventType
from ..audit.services import actor_name, record_event
from ..auth.models import Business, Department
from ..roles import require_role, Role
from ..clock import jst_day_start_utc, jst_wall, to_jst, to_utc_naive, utcnow
from ..db import row_id
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..extensions import db
from ..items.models import Item
from ..items.queries import has_any_role, sees_all
from ..states import INITIAL, Kind, State, label, transition
from .models import Terminal, TerminalUse, TerminalUseForm
from .queries import covering
from ..wareki import wareki_date

#: Who uses terminals and so may ask to.
USER_ROLES = (Role.REGISTRAR, Role.BULK_OPERATOR, Role.SECURITY_MANAGER)
#: A request may name a start this far back (a use recorded after the fact) or ahead.
MAX_PAST = timedelta(days=31)
MAX_AHEAD = timedelta(days=92)
#: The system clock and a person's watch differ a little: "now" may be this far ahead.
CLOCK_SLACK = timedelta(minutes=5)
SOD_CODE = "separation_of_duties"


# --- reading ------------------------------------------------------------------------------------

def normalise_code(value) -> str:
    """Terminal codes as printed and typed (full-width, lower case) are one code."""
    return unicodedata.normalize("NFKC", str(value or "")).strip().upper()


def find_terminal(code) -> Terminal | None:
    code = normalise_code(code)
    if not code or "\x00" in code:
        return None
    return db.session.scalar(select(Terminal).where(Terminal.code == code)
                             .execution_options(populate_existing=True))


def get_terminal(code) -> Terminal:
    terminal = find_terminal(code)
    if terminal is None:
        raise NotFound(f"端末「{str(code)[:64]}」は登録されていません。", code="unknown_terminal")
    return terminal


def list_terminals(actor: Actor, department_id: int | None = None) -> list[Terminal]:
    _require_reader(actor)
    query = select(Terminal).join(Department, Department.id == Terminal.department_id)
    if department_id is not None:
        query = query.where(Terminal.department_id == department_id)
    return list(db.session.scalars(query.order_by(Department.is_system_owner.desc(), Department.code,
                                                  Terminal.code)))


def get_use(use_id) -> TerminalUse:
    key = row_id(use_id)
    use = db.session.scalar(select(TerminalUse).where(TerminalUse.id == key)
                            .execution_options(populate_existing=True)) if key else None
    if use is None:
        raise NotFound(f"使用伺い「{str(use_id)[:20]}」は登録されていません。", code="unknown_terminal_use")
    return use


def _require_reader(actor: Actor) -> None:
    if not has_any_role(actor):
        raise Forbidden("端末の使用伺い簿を閲覧する権限がありません。")


def may_see(actor: Actor, use: TerminalUse) -> bool:
    """Every department for those who see every department's items (items.queries.sees_all);
    else the uses of one's own department (as requester's or terminal's) and one's own."""
    if sees_all(actor):
        return True
    if not has_any_role(actor):
        return False
    return actor.department_id in (use.department_id, use.terminal.department_id) or use.user_id == actor.id


def get_visible_use(actor: Actor, use_id) -> TerminalUse:
    use = get_use(use_id)
    if not may_see(actor, use):
        raise Forbidden(f"使用伺い 第{use.id}号は他の所属のものであるため、表示する権限がありません。")
    return use


def approver_problem(actor: Actor, use: TerminalUse) -> Forbidden | None:
    """Why this actor may not approve or refuse this use; None when they may."""
    if not actor.has_role(Role.SECURITY_MANAGER):
        return Forbidden("使用伺いの承認・却下は、端末の所属のセキュリティ管理者が行います。")
    if actor.is_system:
        return None
    if actor.id == use.user_id:
        return Forbidden("自分の使用伺いを自分で承認・却下することはできません。"
                         f"{use.terminal.department.name}の別のセキュリティ管理者に依頼してください。", code=SOD_CODE)
    if actor.department_id != use.terminal.department_id:
        return Forbidden(f"端末「{use.terminal.code}」は{use.terminal.department.name}の端末です。"
                         "承認・却下はその所属のセキュリティ管理者が行います。")
    return None


def may_decide(actor: Actor, use: TerminalUse) -> bool:
    return use.status == State.REQUESTED.value and approver_problem(actor, use) is None


def may_close(actor: Actor, use: TerminalUse) -> bool:
    return (use.status in (State.REQUESTED.value, State.APPROVED.value)
            and (actor.is_system or actor.id == use.user_id) and actor.has_role(*USER_ROLES))


# --- parsing ------------------------------------------------------------------------------------

def parse_moment(value, label: str, field: str, *, required: bool = True) -> datetime | None:
    """A date and time as ISO 8601 (an offset, or none for JST as people type it) → naive UTC."""
    if value in (None, "") and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"{label}を「2026-12-04 10:30」の形で入力してください。", field=field)
    try:
        moment = to_utc_naive(datetime.fromisoformat(unicodedata.normalize("NFKC", value).strip()))
    except (ValueError, OverflowError):
        raise Invalid(f"{label}は「2026-12-04 10:30」の形で入力してください（日付と時刻。例: 令和8年12月4日 "
                      "10時30分なら 2026-12-04 10:30）。", field=field) from None
    if not v.EARLIEST_DAY <= moment.date() <= v.LATEST_DAY:
        raise Invalid(f"{label}は{v.EARLIEST_DAY.year}年から{v.LATEST_DAY.year}年までの日時で指定してください。",
                      code="date_out_of_range", field=field)
    return moment


def _line(value, label: str, *, max_len: int, field: str, required: bool = True) -> str | None:
    text = v.text(value, label, max_len=max_len, required=required, field=field)
    if text is not None and any(mark in text for mark in ("\n", "\r", "\t")):
        raise Invalid(f"{label}に使用できない制御文字（改行・タブ）が含まれています。", field=field)
    return text


def _terminal_code(value) -> str:
    code = normalise_code(value)
    v.code(code, "端末番号", field="code", max_len=64)
    return code


def _department(value) -> Department:
    code = v.text(value, "所属", max_len=32, field="department")
    dept = db.session.scalar(select(Department).where(Department.code == code, Department.active.is_(True)))
    if dept is None:
        raise Invalid(f"所属「{code}」は登録されていません。", code="unknown_department", field="department")
    return dept


def _business(value) -> Business:
    code = v.text(value, "利用事務", max_len=32, field="business")
    business = db.session.scalar(select(Business).where(Business.code == code, Business.active.is_(True)))
    if business is None:
        raise Invalid(f"利用事務「{code}」は登録されていません。利用事務のマスタから選んでください。",
                      code="unknown_business", field="business")
    return business


def _terminal_field(value) -> Terminal:
    if value in (None, ""):
        raise Invalid("端末を選んでください。", field="terminal")
    value = v.text(value, "端末", max_len=64, field="terminal")
    terminal = find_terminal(value)
    if terminal is None or not terminal.active:
        raise Invalid(f"端末「{value[:64]}」は登録されていません。", code="unknown_terminal", field="terminal")
    return terminal


def _device(value) -> Item | None:
    if value in (None, ""):
        return None
    code = v.text(value, "機器の管理番号", max_len=20, field="device")
    item = db.session.scalar(select(Item).where(Item.code == normalise_code(code)))
    if item is None or item.kind != Kind.DEVICE:
        raise Invalid(f"機器管理簿に管理番号「{code}」の機器はありません。", code="unknown_device", field="device")
    if item.status == State.RETURNED_TO_LESSOR.value:
        raise Invalid(f"機器「{item.code}」はリース会社へ返却済みのため、端末に結び付けられません。", field="device")
    return item


def _refuse_linked_device(device: Item | None, terminal_id: int | None = None) -> None:
    if device is None:
        return
    other = db.session.scalar(select(Terminal).where(Terminal.device_item_id == device.id))
    if other is not None and other.id != terminal_id:
        raise Conflict(f"機器「{device.code}」は既に端末「{other.code}」に結び付けられています。",
                       code="device_already_linked")


# --- terminals ----------------------------------------------------------------------------------

def register_terminal(actor: Actor, data: dict) -> Terminal:
    """Adds a terminal (admin): code, department, location; optional name and ledger device."""
    require_role(actor, Role.ADMIN, message="端末の登録はシステム管理者が行います。")
    if not isinstance(data, dict):
        raise Invalid("登録内容が正しくありません。")
    errors = v.FieldErrors()
    code = errors.check("code", _terminal_code, data.get("code"))
    dept = errors.check("department", _department, data.get("department"))
    location = errors.check("location", _line, data.get("location"), "設置場所", max_len=200, field="location")
    name = errors.check("name", _line, data.get("name"), "端末の名称", max_len=100, field="name", required=False)
    device = errors.check("device", _device, data.get("device"))
    errors.raise_any()
    with db.transaction() as session:
        require_role(actor, Role.ADMIN, message="端末の登録はシステム管理者が行います。")
        if session.scalar(select(Terminal.id).where(Terminal.code == code)) is not None:
            raise Conflict(f"端末「{code}」は既に登録されています。", code="duplicate_terminal")
        _refuse_linked_device(device)
        terminal = Terminal(code=code, name=name, department_id=dept.id, location=location,
                            device_item_id=device.id if device else None, active=True,
                            created_by=actor_name(actor), created_at=utcnow())
        session.add(terminal)
        session.flush()
        record_event(EventType.TERMINAL_REGISTERED, actor=actor, subject=terminal.audit_subject,
                     name=name, department=dept.code, location=location,
                     device=device.code if device else None)
        return terminal


def link_device(actor: Actor, terminal_code, device_code) -> Terminal:
    """Links (or, with an empty code, unlinks) the ledger's device this terminal is (admin)."""
    require_role(actor, Role.ADMIN, message="端末と機器の結び付けはシステム管理者が行います。")
    device = _device(device_code)
    with db.transaction():
        require_role(actor, Role.ADMIN, message="端末と機器の結び付けはシステム管理者が行います。")
        terminal = get_terminal(terminal_code)
        _refuse_linked_device(device, terminal.id)
        before = terminal.device.code if terminal.device else None
        terminal.device_item_id = device.id if device else None
        record_event(EventType.TERMINAL_DEVICE_LINKED, actor=actor, subject=terminal.audit_subject,
                     device=device.code if device else None, device_before=before)
    db.session.expire(terminal)
    return terminal


def set_active(actor: Actor, terminal_code, data: dict) -> Terminal:
    """Retires a terminal (replaced, returned to the lessor) or brings it back (admin): a retired
    one takes no new requests; its book stays."""
    require_role(actor, Role.ADMIN, message="端末の使用停止・再開はシステム管理者が行います。")
    if not isinstance(data, dict):
        raise Invalid("内容が正しくありません。")
    errors = v.FieldErrors()
    active = errors.check("active", v.boolean, data.get("active", False), "使用中", field="active")
    reason = errors.check("reason", _line, data.get("reason"), "理由", max_len=500, field="reason")
    errors.raise_any()
    with db.transaction():
        require_role(actor, Role.ADMIN, message="端末の使用停止・再開はシステム管理者が行います。")
        terminal = get_terminal(terminal_code)
        if bool(terminal.active) == active:
            raise Conflict(f"端末「{terminal.code}」は既に{'使用中' if active else '使用停止'}です。",
                           code="terminal_unchanged")
        terminal.active = active
        record_event(EventType.TERMINAL_UPDATED, actor=actor, subject=terminal.audit_subject,
                     active=active, reason=reason)
    return terminal


# --- uses ---------------------------------------------------------------------------------------

def _period(data: dict, now: datetime, errors: v.FieldErrors) -> tuple[datetime | None, datetime | None]:
    starts = errors.check("starts_at", parse_moment, data.get("starts_at"), "使用開始日時", "starts_at")
    ends = errors.check("ends_at", parse_moment, data.get("ends_at"), "使用終了日時", "ends_at")
    if starts is not None:
        if starts < now - MAX_PAST:
            errors.refuse("starts_at", Invalid(f"使用開始日時が古すぎます。{MAX_PAST.days}日以内の日時を指定してください。",
                                               field="starts_at"))
        elif starts > now + MAX_AHEAD:
            errors.refuse("starts_at", Invalid(f"使用開始日時は{MAX_AHEAD.days}日以内の日時にしてください。",
                                               field="starts_at"))
    if starts is not None and ends is not None:
        if ends <= starts:
            errors.refuse("ends_at", Invalid("使用終了日時は使用開始日時より後にしてください。", field="ends_at"))
        elif jst_wall(ends - timedelta(microseconds=1)).date() != jst_wall(starts).date():
            errors.refuse("ends_at", Invalid("使用伺いは1日ごとです。使用終了日時は使用開始と同じ日にしてください"
                                             "（日をまたぐ使用は日ごとに伺いを出してください）。", field="ends_at"))
    return starts, ends


def request_use(actor: Actor, data: dict) -> TerminalUse:
    """A request to use a terminal (使用伺い); refused input changes nothing."""
    require_role(actor, *USER_ROLES, message="端末の使用伺いは、登録担当・一括利用担当・セキュリティ管理者が行います。")
    if actor.is_system:
        raise Forbidden("使用伺いは端末を使う本人が行います。")
    if not isinstance(data, dict):
        raise Invalid("使用伺いの内容が正しくありません。")
    now = utcnow()
    errors = v.FieldErrors()
    terminal = errors.check("terminal", _terminal_field, data.get("terminal"))
    business = errors.check("business", _business, data.get("business"))
    starts, ends = _period(data, now, errors)
    purpose = errors.check("purpose", _line, data.get("purpose"), "使用目的・作業内容", max_len=500,
                           field="purpose", required=False)
    errors.raise_any()
    with db.transaction() as session:
        require_role(actor, *USER_ROLES, message="端末の使用伺いは、登録担当・一括利用担当・セキュリティ管理者が行います。")
        use = TerminalUse(terminal_id=terminal.id, user_id=actor.id, department_id=actor.department_id,
                          business_id=business.id, purpose=purpose, starts_at=starts, ends_at=ends,
                          status=INITIAL[Kind.TERMINAL_USE].value, requested_at=now)
        session.add(use)
        session.flush()
        record_event(EventType.TERMINAL_USE_REQUESTED, actor=actor, subject=use.audit_subject,
                     terminal=terminal.code, business=business.code, department=actor.department.code,
                     starts_at=starts.isoformat(), ends_at=ends.isoformat(), purpose=purpose)
        return use


def _decidable(actor: Actor, use_id) -> TerminalUse:
    """The use, read under the write lock (of two approvers, the second finds it decided), if
    this actor may decide it."""
    use = get_use(use_id)
    problem = approver_problem(actor, use)
    if problem is not None:
        raise problem
    return use


def _decided(use: TerminalUse, actor: Actor) -> None:
    use.approver = None if actor.is_system else actor
    use.decided_by = actor_name(actor)
    use.decided_at = utcnow()


def approve_use(actor: Actor, use_id, data: dict) -> TerminalUse:
    """Approves, confirming the pre-use check: no camera, phone or USB memory at the terminal."""
    if not isinstance(data, dict):
        raise Invalid("承認の内容が正しくありません。")
    _decidable(actor, use_id)
    checked = v.boolean(data.get("no_camera_phone_usb", False), "持込み確認", field="no_camera_phone_usb")
    if not checked:
        raise Invalid("承認の前に、カメラ・スマートフォン・USBメモリ等の持込みがないことを確認し、"
                      "持込み確認にチェックしてください。", code="pre_use_check_required", field="no_camera_phone_usb")
    with db.transaction():
        use = _decidable(actor, use_id)
        transition(use, State.APPROVED, actor=actor, event=EventType.TERMINAL_USE_APPROVED,
                   terminal=use.terminal.code, requester=use.user.login, no_camera_phone_usb=True)
        _decided(use, actor)
        use.approved_at = use.decided_at
        use.no_camera_phone_usb = True
        return use


def refuse_use(actor: Actor, use_id, data: dict) -> TerminalUse:
    if not isinstance(data, dict):
        raise Invalid("却下の内容が正しくありません。")
    _decidable(actor, use_id)
    reason = _line(data.get("reason"), "却下の理由", max_len=500, field="reason")
    with db.transaction():
        use = _decidable(actor, use_id)
        transition(use, State.REFUSED, actor=actor, event=EventType.TERMINAL_USE_REFUSED,
                   terminal=use.terminal.code, requester=use.user.login, reason=reason)
        _decided(use, actor)
        use.refusal_reason = reason
        return use


def cancel_use(actor: Actor, use_id, data: dict | None = None) -> TerminalUse:
    """The requester withdraws a request not yet used."""
    data = data if isinstance(data, dict) else {}
    reason = _line(data.get("reason"), "取消しの理由", max_len=500, field="reason", required=False)
    with db.transaction():
        use = get_use(use_id)
        if not actor.is_system and actor.id != use.user_id:
            raise Forbidden("使用伺いを取り消せるのは、伺いを出した本人です。")
        if _linked_forms(use.id):
            raise Conflict("この使用伺いで出力した帳票が登録されているため、取り消せません。使用終了を記録してください。",
                           code="use_has_forms")
        transition(use, State.CANCELLED, actor=actor, event=EventType.TERMINAL_USE_CANCELLED,
                   terminal=use.terminal.code, reason=reason)
        return use


def close_use(actor: Actor, use_id, data: dict | None = None) -> TerminalUse:
    """The requester records the end of use: when it really started and ended (default: as
    planned or at the approval if later, and now), and outputs not registered as forms. A use never approved is recorded
    too, as a use without approval."""
    data = data if isinstance(data, dict) else {}
    now = utcnow()
    use = get_use(use_id)
    errors = v.FieldErrors()
    started = errors.check("started_at", parse_moment, data.get("started_at"), "実際の使用開始日時", "started_at",
                           required=False)
    ended = errors.check("ended_at", parse_moment, data.get("ended_at"), "使用終了日時", "ended_at",
                         required=False)
    note = errors.check("output_note", _line, data.get("output_note"), "出力したもの（帳票として登録したもの以外）",
                        max_len=500, field="output_note", required=False)
    # Not stated: the use began as planned, or at the approval if that came later (a person
    # waits for it); a use that began earlier is recorded by stating when.
    started = started or max(use.starts_at, use.approved_at or use.starts_at)
    if "ended_at" not in errors.messages:
        ended = ended or now
        if ended > now + CLOCK_SLACK:
            errors.refuse("ended_at", Invalid("使用終了日時に未来の日時は指定できません。", field="ended_at"))
        elif started is not None and ended <= started:
            errors.refuse("ended_at", Invalid("使用終了日時は使用開始日時より後にしてください。", field="ended_at"))
    errors.raise_any()
    with db.transaction():
        use = get_use(use_id)
        if not actor.is_system and actor.id != use.user_id:
            raise Forbidden("使用終了を記録できるのは、端末を使った本人です。")
        require_role(actor, *USER_ROLES, message="使用終了の記録には、登録担当・一括利用担当・セキュリティ管理者の権限が必要です。")
        approved = use.status == State.APPROVED.value
        forms = _linked_forms(use.id)
        transition(use, State.CLOSED, actor=actor, event=EventType.TERMINAL_USE_CLOSED,
                   terminal=use.terminal.code, started_at=started.isoformat(), ended_at=ended.isoformat(),
                   output_note=note, forms=forms, without_approval=not approved)
        use.started_at, use.ended_at, use.output_note = started, ended, note
        use.closed_by, use.closed_at = actor_name(actor), now
        return use


def _linked_forms(use_id: int) -> list[str]:
    return list(db.session.scalars(select(Item.code).join(TerminalUseForm, TerminalUseForm.item_id == Item.id)
                                   .where(TerminalUseForm.use_id == use_id).order_by(Item.code)))


def linked_forms(use: TerminalUse) -> list[str]:
    return _linked_forms(use.id)


# --- forms printed under an approval -----------------------------------------------------------

@dataclass(frozen=True)
class OutputUse:
    """What a form registration takes from the approval it names."""
    use_id: int
    terminal: str


def output_use(actor: Actor, value, output_at: datetime, terminal_text: str | None) -> OutputUse | None:
    """Checks, for items registration, the approval a form's output names (`terminal_use`): it
    is approved, the registrant used it or is of its department, and it covers the output time
    (terminals/queries.covering, the one rule). Before the write lock; link_form writes."""
    if value in (None, ""):
        return None
    key = row_id(value) if not isinstance(value, bool) else None
    use = db.session.get(TerminalUse, key) if key else None
    if use is None:
        raise Invalid(f"使用伺い「{str(value)[:20]}」は登録されていません。", code="unknown_terminal_use",
                      field="terminal_use")
    if not actor.is_system and actor.id != use.user_id and actor.department_id != use.department_id:
        raise Invalid(f"使用伺い 第{use.id}号は他の所属の使用です。自分または自所属の使用伺いを指定してください。",
                      field="terminal_use")
    if use.approved_at is None or use.status not in (State.APPROVED.value, State.CLOSED.value):
        raise Invalid(f"使用伺い 第{use.id}号は承認されていません（{_status_text(use)}）。",
                      code="terminal_use_not_approved", field="terminal_use")
    if not covering(use, output_at):
        raise Invalid(f"出力日時が使用伺い 第{use.id}号の承認された使用時間（{use_period_text(use)}）に"
                      "含まれていません。", code="terminal_use_not_covering", field="terminal_use")
    if terminal_text and normalise_code(terminal_text) != use.terminal.code:
        raise Invalid(f"出力端末「{terminal_text}」が使用伺い 第{use.id}号の端末「{use.terminal.code}」と"
                      "一致しません。", field="terminal")
    return OutputUse(use.id, use.terminal.code)


def link_form(item_code: str, output: OutputUse) -> None:
    """Inside the registration's transaction: the new form names its approval."""
    item_id = db.session.scalar(select(Item.id).where(Item.code == item_code))
    db.session.execute(insert(TerminalUseForm.__table__), {"item_id": item_id, "use_id": output.use_id})


def use_of_form(item_id: int) -> int | None:
    return db.session.scalar(select(TerminalUseForm.use_id).where(TerminalUseForm.item_id == item_id))


# --- words --------------------------------------------------------------------------------------

def _status_text(use: TerminalUse) -> str:

    return label(use.status)


def use_period_text(use: TerminalUse) -> str:

    start, end = jst_wall(use.started_at or use.starts_at), jst_wall(use.ended_at or use.ends_at)
    tail = f"{end.hour}時{end.minute:02d}分" if end.date() == start.date() else \
        f"{wareki_date(end.date())} {end.hour}時{end.minute:02d}分"
    return f"{wareki_date(start.date())} {start.hour}時{start.minute:02d}分～{tail}"


def day_bounds(day: date) -> tuple[datetime, datetime]:
    return jst_day_start_utc(day), jst_day_start_utc(day + timedelta(days=1))


def to_local_input(value: datetime | None) -> str:
    """The value of a datetime-local input (JST)."""
    return "" if value is None else to_jst(value).strftime("%Y-%m-%dT%H:%M")
