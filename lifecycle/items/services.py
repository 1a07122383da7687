"""Registering items and finding them. The rules of what may be registered, by whom, live here."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import defaultload

from .. import validation as v
from ..actors import Actor
from ..audit.events import EventType
from ..audit.services import record_event
from ..auth.models import Business, User
from ..roles import require_role, Role
from ..auth.services import get_user
from ..clock import to_jst, to_utc_naive, utcnow
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..extensions import db
from ..policy import services as policy
from ..states import CODE_PREFIX, INITIAL, ITEM_KINDS, KIND_LABELS, Kind
from . import queries
from .models import CodeCounter, Item
from .storage import insert_media, parse_storage

MEDIA_TYPES = ("CD-R", "DVD-R", "BD-R", "MO")
MEDIA_FORBIDDEN_MESSAGE = (
    "USBメモリ等は使用が禁止されています。一括利用の媒体は CD-R・DVD-R・BD-R・MO のみ使用できます"
    "（特定個人情報保護評価書の定めにより、USBメモリ・SDカード・外付けドライブ等は使えません）。")
DEVICE_TYPES = ("代表端末", "業務端末", "サーバ", "ファイアウォール", "スイッチ", "ハブ", "ルータ",
                "プリンタ", "その他")
MAX_SHEETS = 10000
MAX_RECORDS = 10_000_000
#: Leases are renewed on a six-year cycle (J-LIS); anything far outside is a typing mistake.
EARLIEST_LEASE_START = date(2000, 1, 1)
MAX_LEASE_YEARS = 15
_LINE_BREAKS = ("\n", "\r", "\t")


_COUNTERS = CodeCounter.__table__
_BUMP_COUNTER = (update(_COUNTERS).where(_COUNTERS.c.prefix == bindparam("p"), _COUNTERS.c.year == bindparam("y"))
                 .values(last=_COUNTERS.c.last + 1).returning(_COUNTERS.c.last))


def next_number(prefix: str, year: int) -> int:
    """The next serial of a code series (items, destruction batches), unique because writers are
    serialised (see db.transaction). One Core UPDATE … RETURNING: no counter object to flush."""
    if not db.in_write():  # Core statements pass the session's flush guard: refuse them here
        raise RuntimeError("code counters move only inside db.transaction()")
    last = db.session.execute(_BUMP_COUNTER, {"p": prefix, "y": year}).scalar()
    if last is None:
        last = 1
        db.session.execute(insert(_COUNTERS), {"prefix": prefix, "year": year, "last": last})
    return last


def next_code(kind: Kind, year: int) -> str:
    """F-2026-000123."""
    prefix = CODE_PREFIX[kind]
    return f"{prefix}-{year}-{next_number(prefix, year):06d}"


# The holder's role grants are not needed to show an item: loaded only if asked. Built once, as
# the item page and the scan run it on every request.
_ITEM_BY_CODE = (select(Item).where(Item.code == bindparam("code"))
                 .options(defaultload(Item.holder).lazyload(User.grants)))


def get_item(code: str) -> Item:
    return _found(code, lambda normalised: db.session.scalar(_ITEM_BY_CODE, {"code": normalised}))


def _found(code, fetch):
    normalised = _normalise_code(code)
    # A code is printable ASCII; PostgreSQL refuses a NUL in a text parameter (an error, not "no row").
    item = fetch(normalised) if "\x00" not in normalised else None
    if item is None:
        raise NotFound(f"管理番号「{code}」の登録はありません。", code="unknown_item")
    return item


def _normalise_code(code) -> str:
    return unicodedata.normalize("NFKC", str(code or "")).strip().upper()[:20]


def _line(value, label: str, *, max_len: int, required: bool = True, field: str) -> str | None:
    """One line of text: validation.text, and no tab or line break (they break the printed
    ledger's rows and let one field pretend to be two)."""
    text = v.text(value, label, max_len=max_len, required=required, field=field)
    if text is not None and any(mark in text for mark in _LINE_BREAKS):
        raise Invalid(f"{label}に使用できない制御文字（改行・タブ）が含まれています。", field=field)
    return text


def _identifier(value, label: str, *, max_len: int, field: str) -> str:
    """Asset tags and serials as people type them or readers send them (full-width, lower case)
    are the same identifier, so they are stored and compared in one form."""
    raw = value if not isinstance(value, str) else unicodedata.normalize("NFKC", value)
    text = _line(raw, label, max_len=max_len, field=field)
    return text.upper()


def _business(value) -> Business:
    code = v.text(value, "利用事務", max_len=32, field="business")
    business = db.session.scalar(select(Business).where(Business.code == code, Business.active.is_(True)))
    if business is None:
        raise Invalid(f"利用事務「{code}」は登録されていません。利用事務のマスタから選んでください。",
                      code="unknown_business", field="business")
    return business


def _kind(value) -> Kind:
    try:
        kind = Kind(value)
    except ValueError:
        kind = None
    if kind not in ITEM_KINDS:
        raise Invalid("種別（kind）は form・medium・device のいずれかを指定してください。", field="kind")
    return kind


def _may_register(actor: Actor, kind: Kind) -> None:
    if kind == Kind.FORM:
        require_role(actor, Role.REGISTRAR, Role.BULK_OPERATOR,
                     message="帳票の登録には「登録担当」の権限が必要です。")
    elif kind == Kind.MEDIUM:
        require_role(actor, Role.BULK_OPERATOR,
                     message="一括利用媒体の作成は、市町課の一括利用担当のみが行えます。")
        if not actor.is_system and not actor.department.is_system_owner:
            raise Forbidden("一括利用媒体の作成は、市町課の一括利用担当のみが行えます。")
    else:
        require_role(actor, Role.ADMIN, Role.BULK_OPERATOR,
                     message="リース機器の登録はシステム管理者または一括利用担当が行います。")


def _output_at(value, now: datetime) -> datetime:
    if value in (None, ""):
        return now
    try:
        output = to_utc_naive(datetime.fromisoformat(unicodedata.normalize("NFKC", str(value)).strip()))
        to_jst(output).date() + timedelta(days=3650)  # still a representable deadline
    except (ValueError, OverflowError):
        raise Invalid("出力日時は「2026-12-04 10:30」の形で入力してください（日付と時刻。例: 令和8年12月4日 10時30分"
                      "なら 2026-12-04 10:30）。", field="output_at") from None
    if output > now + timedelta(minutes=5):
        raise Invalid("出力日時に未来の日時は指定できません。", field="output_at")
    if output < now - timedelta(days=3650):
        raise Invalid("出力日時が古すぎます。10年以内の日時を指定してください。", field="output_at")
    return output


def _form_fields(data: dict, now: datetime, errors: v.FieldErrors) -> dict:
    output = errors.check("output_at", _output_at, data.get("output_at"), now)
    days = policy.get("form.retention_days")
    return {
        "business": errors.check("business", _business, data.get("business")),
        "sheets": errors.check("sheets", v.integer, data.get("sheets"), "枚数", minimum=1, maximum=MAX_SHEETS,
                               field="sheets"),
        "contains_my_number": errors.check("contains_my_number", v.boolean, data.get("contains_my_number", False),
                                           "個人番号の記載", field="contains_my_number"),
        "terminal": errors.check("terminal", _line, data.get("terminal"), "出力端末", max_len=64, required=False,
                                 field="terminal"),
        "output_at": output,
        "retention_until": to_jst(output).date() + timedelta(days=days) if output else None,
    }


def _media_type(value) -> str:
    raw = unicodedata.normalize("NFKC", str(value or "")).strip().upper().replace(" ", "")
    for allowed in MEDIA_TYPES:
        if raw == allowed:
            return allowed
    if not raw:
        raise Invalid("媒体の種類を選んでください（CD-R・DVD-R・BD-R・MO）。", code="media_type_forbidden",
                      field="media_type")
    raise Invalid(MEDIA_FORBIDDEN_MESSAGE, code="media_type_forbidden", field="media_type")


def _due_back(value, now: datetime) -> date:
    due_back = v.a_date(value, "返却予定日", field="due_back")
    today = to_jst(now).date()
    if due_back < today:
        raise Invalid("返却予定日に過去の日付は指定できません。", field="due_back")
    limit = policy.get("medium.max_loan_days")
    if due_back > today + timedelta(days=limit):
        raise Invalid(f"返却予定日は{limit}日以内の日付にしてください（保存期間ポリシー）。", field="due_back")
    return due_back


def _medium_fields(data: dict, now: datetime, errors: v.FieldErrors) -> dict:
    return {
        "media_type": errors.check("media_type", _media_type, data.get("media_type")),
        "business": errors.check("business", _business, data.get("business")),
        "record_count": errors.check("record_count", v.integer, data.get("record_count"), "件数", minimum=1,
                                     maximum=MAX_RECORDS, field="record_count"),
        "recipient": errors.check("recipient", _line, data.get("recipient"), "提供先", max_len=200,
                                  field="recipient"),
        "encrypted": errors.check("encrypted", v.boolean, data.get("encrypted", False), "暗号化", field="encrypted"),
        "due_back": errors.check("due_back", _due_back, data.get("due_back"), now),
    }


def _device_type(value) -> str:
    device_type = v.text(value, "機器種別", max_len=32, field="device_type")
    if device_type not in DEVICE_TYPES:
        raise Invalid("機器種別は次から選んでください: " + "、".join(DEVICE_TYPES), field="device_type")
    return device_type


def _device_fields(data: dict, now: datetime, errors: v.FieldErrors) -> dict:
    check = errors.check
    fields = {
        "device_type": check("device_type", _device_type, data.get("device_type")),
        "asset_tag": check("asset_tag", _identifier, data.get("asset_tag"), "資産番号", max_len=64, field="asset_tag"),
        "model": check("model", _line, data.get("model"), "型式", max_len=100, field="model"),
        "serial": check("serial", _identifier, data.get("serial"), "製造番号", max_len=100, field="serial"),
        "lessor": check("lessor", _line, data.get("lessor"), "リース会社", max_len=100, field="lessor"),
        "lease_contract": check("lease_contract", _line, data.get("lease_contract"), "リース契約番号", max_len=100,
                                field="lease_contract"),
        "lease_start": check("lease_start", v.a_date, data.get("lease_start"), "リース開始日", field="lease_start"),
        "lease_end": check("lease_end", v.a_date, data.get("lease_end"), "リース終了日", field="lease_end"),
        "has_storage": check("has_storage", v.boolean, data.get("has_storage", True), "記憶装置の有無",
                             field="has_storage"),
        "holds_my_number_data": check("holds_my_number_data", v.boolean, data.get("holds_my_number_data", False),
                                      "マイナンバー利用事務系", field="holds_my_number_data"),
        "holds_juki_data": check("holds_juki_data", v.boolean, data.get("holds_juki_data", False),
                                 "住基ネットのデータの保持", field="holds_juki_data"),
        "storage": check("storage", parse_storage, data.get("storage")),
    }
    if fields["storage"] and fields["has_storage"] is False:
        errors.refuse("storage", Invalid("記憶装置「なし」の機器に記憶装置（storage）は登録できません。", field="storage"))
    elif fields["has_storage"] and fields["storage"] == []:  # [] only when given and valid, but empty
        # An erasure certificate is checked medium by medium: a device with storage but no media
        # could never be shown to be fully erased.
        errors.refuse("storage", Invalid("記憶装置ありの機器は、記憶装置を1台以上（種類とシリアル番号）登録してください。",
                                         field="storage"))
    start, end = fields["lease_start"], fields["lease_end"]
    if start is not None and start < EARLIEST_LEASE_START:
        errors.refuse("lease_start", Invalid("リース開始日が古すぎます。2000年1月1日以降の日付を入力してください。",
                                             field="lease_start"))
    if start is not None and end is not None:
        if end <= start:
            errors.refuse("lease_end", Invalid("リース終了日はリース開始日より後の日付にしてください。", field="lease_end"))
        elif (end - start).days > MAX_LEASE_YEARS * 366:
            errors.refuse("lease_end", Invalid(f"リース期間は{MAX_LEASE_YEARS}年以内にしてください（日付の入力誤りが"
                                               "ないか確認してください）。", field="lease_end"))
    return fields


def _refuse_duplicate_device(fields: dict) -> None:
    """Under the write lock: no other registration can add the same tag or serial meanwhile."""
    for column, label in (("asset_tag", "資産番号"), ("serial", "製造番号")):
        if db.session.scalar(select(Item.id).where(getattr(Item, column) == fields[column])):
            raise Conflict(f"{label}「{fields[column]}」の機器は既に登録されています。",
                           code=f"duplicate_{column}")


@dataclass(frozen=True)
class OutputApprovals:
    """How a form names the terminal-use approval (使用伺い) it was printed under. The terminals
    package builds on items, so it registers these at start-up (register_output_approvals)."""
    check: Callable  #: (actor, value, output_at, terminal text) -> the approval, or Invalid
    link: Callable  #: (item code, approval), inside the registration's transaction
    choices: Callable  #: (actor) -> [(id, words)] for the registration form


_output_approvals: list[OutputApprovals] = []


def register_output_approvals(approvals: OutputApprovals) -> None:
    _output_approvals[:] = [approvals]


def output_approvals() -> OutputApprovals | None:
    return _output_approvals[0] if _output_approvals else None


def _terminal_use(actor, value, fields: dict):
    """The terminal-use approval (使用伺い) a form's output names: it must cover the output time;
    the form's 出力端末 becomes that approval's terminal."""
    approvals = output_approvals()
    if approvals is None:
        raise Invalid("使用伺いを扱う機能が有効ではありません。", field="terminal_use")
    if fields.get("output_at") is None:
        return None  # the output time itself was refused; that message says what to mend
    output = approvals.check(actor, value, fields["output_at"], fields.get("terminal"))
    fields["terminal"] = output.terminal
    return output


FIELDS = {Kind.FORM: _form_fields, Kind.MEDIUM: _medium_fields, Kind.DEVICE: _device_fields}


def register_item(actor: Actor, data: dict, *, holder_login: str | None = None):
    """Creates a ledger entry held by the registrant; refused input changes nothing.

    Registrations are serialised on the write lock, so what the lock covers bounds how many the
    whole system takes a second. The input is therefore checked, and the business and policy it
    names are read, before the lock; under it the registrant's roles are checked again on their
    current version, then the code, the row and the audit event are written with Core statements
    ; the new item's ledger row is read after the commit.
    """
    if not isinstance(data, dict):
        raise Invalid("登録内容が正しくありません。")
    kind = _kind(data.get("kind"))
    _may_register(actor, kind)
    holder = get_user(holder_login or "") if actor.is_system else actor
    now = utcnow()
    errors = v.FieldErrors()
    title = errors.check("title", _line, data.get("title"), "件名", max_len=200, field="title")
    location = errors.check("location", _line, data.get("location"), "保管場所", max_len=200,
                            required=kind == Kind.DEVICE, field="location")
    fields = FIELDS[kind](data, now, errors)
    output = None
    if kind == Kind.FORM and data.get("terminal_use") not in (None, ""):
        output = errors.check("terminal_use", _terminal_use, actor, data.get("terminal_use"), fields)
    errors.raise_any()
    business = fields.pop("business", None)
    storage = fields.pop("storage", None)
    # Plain values: the rollback that starts the write expires every object read so far.
    business_id, business_code = (business.id, business.code) if business else (None, None)
    holder_id, holder_login, department_id = holder.id, holder.login, holder.department_id
    department_code = holder.department.code
    with db.transaction() as session:
        _may_register(actor, kind)  # the roles as they are now, under the lock
        if kind == Kind.DEVICE:
            _refuse_duplicate_device(fields)
        if output is not None:  # the approval as it is now, under the lock (it may have been withdrawn)
            output = _terminal_use(actor, output.use_id, fields)
        code = next_code(kind, to_jst(now).year)
        session.execute(_INSERT_ITEM, {
            **_EMPTY_ROW, "code": code, "kind": kind, "status": INITIAL[kind].value, "title": title,
            "location": location, "holder_id": holder_id, "department_id": department_id,
            "business_id": business_id,
            "created_by_id": actor.id,
            "created_by": actor.login, "created_at": now,
            **fields})
        if storage:
            insert_media(code, storage)
        if output is not None:
            output_approvals().link(code, output)
        retention_until = fields.get("retention_until")
        record_event(EventType.ITEM_REGISTERED, actor=actor, subject=code, kind=kind.value,
                     title=title, holder=holder_login, department=department_code,
                     business=business_code,
                     retention_until=retention_until.isoformat() if retention_until else None,
                     **({"storage": [m["serial"] for m in storage]} if storage else {}),
                     **({"terminal_use": output.use_id} if output is not None else {}))
    row = queries.item_row(code)  # read after the commit: the lock is not held for it
    db.end_read()
    return row


_INSERT_ITEM = insert(Item.__table__)
#: Every column but the id, empty: each kind fills its own, and one compiled INSERT serves all three.
_EMPTY_ROW = dict.fromkeys(column.name for column in Item.__table__.c if not column.primary_key)


def describe(item: Item) -> str:
    return f"{KIND_LABELS[Kind(item.kind)]}「{item.code}」"


#: Further reasons a person who does not see an item's department may still open it, registered by
#: the domains that give them (custody: the named receiver of a pending hand-off must open the
#: item to accept it). Each is `rule(user, row) -> bool`.
_EXTRA_VISIBILITY: list = []


def register_visibility_rule(rule) -> None:
    if rule not in _EXTRA_VISIBILITY:
        _EXTRA_VISIBILITY.append(rule)


def visible_to(user: Actor, item) -> bool:
    """Whether the actor may see this item (an Item or its ledger row): queries.sees_all, or a
    role and the item's department (or holding it); nobody without an effective role."""
    if queries.sees_all(user):
        return True
    if not queries.has_any_role(user):
        return False
    if item.department_id == user.department_id or item.holder_id == user.id:
        return True
    return any(rule(user, item) for rule in _EXTRA_VISIBILITY)


def get_visible_item(user: Actor, code: str) -> Item:
    """The Item itself, for a service about to change it."""
    return _visible(user, get_item(code))


def get_visible_row(user: Actor, code: str):
    """The item as a ledger row (items/queries.LEDGER_COLUMNS): what pages, the API, labels and
    reports show."""
    return _visible(user, _found(code, queries.item_row))


def get_visible_with_events(user: Actor, code: str):
    """(the item as a ledger row, its events oldest first), for the item's page and JSON."""
    row, events = _found(code, queries.item_with_events)
    return _visible(user, row), events


def _visible(user, item):
    if not visible_to(user, item):
        raise Forbidden(f"{describe(item)}は他の所属の管理簿にあるため、表示する権限がありません。")
    return item
