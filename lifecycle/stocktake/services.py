"""棚卸 (stocktake): planning, scanning, closing, signing, and the follow-up of what was not found.

Every write runs in db.transaction(), which serialises writers (db.py): a scan re-reads the
stocktake's line for the item inside it, so of two scanners reading the same label at once exactly
one counts it and the other is told it was already read. An item's state changes only through
states.transition here: 所在不明 on closing, back to the recorded previous state when found, and
亡失処理 by a security manager other than the one who closed the stocktake.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.orm import lazyload

from .. import states, validation as v
from ..actors import Actor
from ..audit.events import EventType
from ..audit.services import head, record_event
from ..auditlog.describe import person_name
from ..auth.models import Department, User
from ..roles import require_role, Role
from ..checkdigit import contains_number
from ..clock import today_jst, utcnow, to_jst
from ..db import row_id
from ..errors import Conflict, Forbidden, Invalid, InvalidTransition, NotFound
from ..extensions import db
from ..custody.services import may_hold
from ..items.models import Item
from ..items.services import visible_to
from ..labels.services import parse_scan, verify_payload
from ..policy import services as policy
from ..states import KIND_LABELS, STOCKTAKE_HELD, ITEM_KINDS, Kind, State
from .models import Stocktake, StocktakeInterval, StocktakeLine, StocktakeScan, stocktake_scanners
from ..wareki import wareki_date

CONFIRMED, WRONG_LOCATION, FOUND = "confirmed", "wrong_location", "found"
OUT_OF_SCOPE, UNKNOWN, FORGED, DUPLICATE = "out_of_scope", "unknown", "forged", "duplicate"
MISSING, LEFT_SCOPE = "missing", "left_scope"

#: Each outcome of a scan (and of a line at closing), as people read it.
OUTCOMES = {
    CONFIRMED: "確認",
    WRONG_LOCATION: "場所違い",
    FOUND: "発見（所在不明だったもの）",
    OUT_OF_SCOPE: "対象外",
    UNKNOWN: "台帳にない",
    FORGED: "偽造ラベル",
    DUPLICATE: "読取り済み（重複）",
    MISSING: "所在不明",
    LEFT_SCOPE: "計画後に対象外となった（引継ぎ・廃棄など）",
}

#: Why the ledger's holder of an item can no longer be the one the stocktake's department expects
#: (holder_problem): the person left, moved to another department, or no longer holds a role
#: that keeps items (custody.may_hold, roles with current training).
HOLDER_LEFT, HOLDER_MOVED, HOLDER_NO_ROLE = "left", "moved", "no_role"
HOLDER_PROBLEMS = {
    HOLDER_LEFT: "退職・利用停止",
    HOLDER_MOVED: "他の所属へ異動済み",
    HOLDER_NO_ROLE: "保管を担当できる権限なし（研修の期限切れを含む）",
}

#: A line counted as seen on the shelf.
SEEN = (CONFIRMED, WRONG_LOCATION, FOUND)

#: Who may scan at all (besides being assigned): the roles that handle items. Auditors only read.
SCAN_ROLES = (Role.REGISTRAR, Role.BULK_OPERATOR, Role.SECURITY_MANAGER, Role.ADMIN)
#: Who sees every department's stocktakes (the security manager of the system owner too).
READ_ALL_ROLES = (Role.AUDITOR, Role.ADMIN)

#: One pasted or uploaded list: an offline scanner's day, and bounded so one request stays short.
MAX_PASTED = 2000
#: Before the due date, a department's next stocktake shows as due (home page, exceptions, inbox).
DUE_SOON_DAYS = 30

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


# --- who may do what ------------------------------------------------------------------------

def _system_owner_manager(user) -> bool:
    return bool(user.department and user.department.is_system_owner and user.has_role(Role.SECURITY_MANAGER))


def may_manage(user: Actor, department_id: int) -> bool:
    """Plans, closes and signs a department's stocktakes: its own security manager, or the
    市町課's for every department (the system acts with the operator's authority)."""
    if user.is_system:
        return True
    if not user.has_role(Role.SECURITY_MANAGER):
        return False
    return user.department_id == department_id or _system_owner_manager(user)


def _assigned(user: Actor, stocktake: Stocktake) -> bool:
    """Whether the person is one of the stocktake's scanners: one primary-key probe, where
    loading the scanners loaded each one's roles too, on every scan."""
    return db.session.scalar(select(stocktake_scanners.c.user_id).where(
        stocktake_scanners.c.stocktake_id == stocktake.id, stocktake_scanners.c.user_id == user.id)) is not None


def may_see(user: Actor, stocktake: Stocktake) -> bool:
    """Auditors and admins see every stocktake; others their own department's and those they scan."""
    if user.is_system or user.has_role(*READ_ALL_ROLES) or may_manage(user, stocktake.department_id):
        return True
    if not user.has_role(*SCAN_ROLES):
        return False
    return user.department_id == stocktake.department_id or _assigned(user, stocktake)


def may_scan(user: Actor, stocktake: Stocktake) -> bool:
    if user.is_system:
        return True
    if not user.has_role(*SCAN_ROLES):
        return False
    return (may_manage(user, stocktake.department_id) or stocktake.planned_by_id == user.id
            or _assigned(user, stocktake))


def may_plan(user: Actor) -> bool:
    return user.is_system or user.has_role(Role.SECURITY_MANAGER)


def plannable_departments(user: Actor) -> list[Department]:
    rows = db.session.scalars(select(Department).where(Department.active.is_(True)).order_by(Department.id))
    return [d for d in rows if may_manage(user, d.id)]


# --- reading --------------------------------------------------------------------------------

def get_stocktake(stocktake_id, *, fresh: bool = False) -> Stocktake:
    key = row_id(stocktake_id)
    found = db.session.get(Stocktake, key, populate_existing=fresh) if key else None
    if found is None:
        raise NotFound(f"棚卸 第{stocktake_id}号は見つかりません。", code="unknown_stocktake")
    return found


def get_visible_stocktake(user: Actor, stocktake_id) -> Stocktake:
    stocktake = get_stocktake(stocktake_id)
    if not may_see(user, stocktake):
        raise Forbidden("この棚卸を表示する権限がありません（自分の所属の棚卸と、読取り担当になった棚卸を表示できます）。")
    return stocktake


def list_stocktakes(user: Actor, *, limit: int = 200) -> list[Stocktake]:
    query = select(Stocktake).order_by(Stocktake.id.desc()).limit(limit)
    if not (user.is_system or user.has_role(*READ_ALL_ROLES) or _system_owner_manager(user)):
        if not user.has_role(*SCAN_ROLES):
            return []
        assigned = select(Stocktake.id).join(Stocktake.scanners).where(User.id == user.id)
        query = query.where((Stocktake.department_id == user.department_id) | Stocktake.id.in_(assigned))
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class Counts:
    expected: int
    confirmed: int
    remaining: int
    wrong_location: int = 0
    extra: int = 0  #: seen, in scope, but not in the ledger of this scope when planned
    out_of_scope: int = 0
    unknown: int = 0
    forged: int = 0
    missing: int = 0

    def to_json(self) -> dict:
        return {"expected": self.expected, "confirmed": self.confirmed, "remaining": self.remaining}

    def to_full_json(self) -> dict:
        return {**self.to_json(), "wrong_location": self.wrong_location, "extra": self.extra,
                "out_of_scope": self.out_of_scope, "unknown": self.unknown, "forged": self.forged,
                "missing": self.missing}


def running_counts(stocktake: Stocktake) -> Counts:
    """Expected, confirmed and remaining only, for the answer to each scan: the planned count and
    one index-only count (ix_stocktake_lines_stocktake_expected_outcome), where counts() groups
    every line and scan."""
    stocktake_id, expected = stocktake.id, stocktake.expected_count
    confirmed = db.session.scalar(select(func.count()).select_from(StocktakeLine).where(
        StocktakeLine.stocktake_id == stocktake_id, StocktakeLine.expected.is_(True),
        StocktakeLine.outcome.in_(SEEN)))
    return Counts(expected=expected, confirmed=confirmed, remaining=expected - confirmed)


def counts(stocktake_id: int) -> Counts:
    """The running count: two grouped reads over the stocktake's lines and scans (indexed)."""
    lines = {(expected, outcome): n for expected, outcome, n in db.session.execute(
        select(StocktakeLine.expected, StocktakeLine.outcome, func.count())
        .where(StocktakeLine.stocktake_id == stocktake_id)
        .group_by(StocktakeLine.expected, StocktakeLine.outcome))}
    scans = dict(db.session.execute(
        select(StocktakeScan.outcome, func.count()).where(StocktakeScan.stocktake_id == stocktake_id,
                                                          StocktakeScan.outcome.in_((OUT_OF_SCOPE, UNKNOWN, FORGED)))
        .group_by(StocktakeScan.outcome)).all())
    expected = sum(n for (exp, _o), n in lines.items() if exp)
    confirmed = sum(n for (exp, o), n in lines.items() if exp and o in SEEN)
    return Counts(expected=expected, confirmed=confirmed, remaining=expected - confirmed,
                  wrong_location=sum(n for (_e, o), n in lines.items() if o == WRONG_LOCATION),
                  extra=sum(n for (exp, o), n in lines.items() if not exp and o in SEEN),
                  out_of_scope=scans.get(OUT_OF_SCOPE, 0), unknown=scans.get(UNKNOWN, 0),
                  forged=scans.get(FORGED, 0), missing=sum(n for (_e, o), n in lines.items() if o == MISSING))


# --- planning -------------------------------------------------------------------------------

def _kinds(value) -> list[Kind]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise Invalid("対象の種別（帳票・媒体・機器）を1つ以上選んでください。", field="kinds")
    kinds: list[Kind] = []
    for raw in value:
        try:
            kind = Kind(raw)
        except ValueError:
            kind = None
        if kind not in ITEM_KINDS:
            raise Invalid("対象の種別は「帳票」「媒体」「機器」から選んでください。", field="kinds")
        if kind not in kinds:
            kinds.append(kind)
    return kinds


def _department(actor: Actor, value) -> Department:
    code = v.text(value, "所属", max_len=32, field="department")
    dept = db.session.scalar(select(Department).where(Department.code == code))
    if dept is None:
        raise Invalid(f"所属「{code}」は登録されていません。", code="unknown_department", field="department")
    if not may_manage(actor, dept.id):
        raise Forbidden("棚卸を計画できるのは、その所属のセキュリティ管理者（市町課のセキュリティ管理者はすべての所属）です。")
    return dept


def _scanners(value, dept: Department) -> list[User]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [s for s in re.split(r"[\s,、]+", value) if s]
    if not isinstance(value, (list, tuple)):
        raise Invalid("読取り担当はログインIDの一覧で指定してください。", field="scanners")
    users: list[User] = []
    for login in value:
        if not isinstance(login, str):
            raise Invalid("読取り担当はログインIDの一覧で指定してください。", field="scanners")
        user = db.session.scalar(select(User).where(User.login == login.strip()[:64]))
        if user is None or not user.active:
            raise Invalid(f"読取り担当の利用者「{login.strip()[:64]}」は登録されていないか、利用停止中です。",
                          code="unknown_user", field="scanners")
        if not user.has_role(*SCAN_ROLES):
            raise Invalid(f"「{user.name}」さんには読み取りのできる権限（登録担当・一括利用担当・セキュリティ管理者）が"
                          "ありません（研修の有効期間も確認してください）。", field="scanners")
        # A registrar reads only his own department's items (the rule).
        if user.department_id != dept.id and not user.has_role(Role.SECURITY_MANAGER, Role.ADMIN):
            raise Invalid(f"「{user.name}」さんは{dept.name}の職員ではないため、読取り担当にできません。",
                          field="scanners")
        if user not in users:
            users.append(user)
    return users


def _expected_condition(dept_id: int, kinds: list[Kind], location: str | None):
    held = or_(*(and_(Item.kind == k.value, Item.status.in_([s.value for s in STOCKTAKE_HELD[k]])) for k in kinds))
    condition = and_(Item.department_id == dept_id, held)
    if location:
        condition = and_(condition, Item.location == location)
    return condition


def plan_stocktake(actor: Actor, data: dict) -> Stocktake:
    """A security manager plans a 棚卸: department, kinds, optional location, due date, scanners.
    The items expected are those of the scope on a shelf now (states.STOCKTAKE_HELD)."""
    with db.transaction() as session:
        require_role(actor, Role.SECURITY_MANAGER,
                     message="棚卸を計画できるのはセキュリティ管理者です。")
        errors = v.FieldErrors()
        dept = errors.check("department", _department, actor, data.get("department"))
        kinds = errors.check("kinds", _kinds, data.get("kinds"))
        location = errors.check("location", v.text, data.get("location"), "棚卸の場所", max_len=200,
                                required=False, field="location")
        due = errors.check("due", v.a_date, data.get("due"), "実施期限", field="due")
        if due is not None and due < today_jst():
            errors.refuse("due", Invalid("実施期限は今日以降の日付にしてください。", field="due"))
        scanners = errors.check("scanners", _scanners, data.get("scanners"), dept) if dept is not None else []
        errors.raise_any()
        stocktake = Stocktake(status=states.INITIAL[Kind.STOCKTAKE].value, department=dept,
                              kinds=",".join(k.value for k in kinds), location=location, due=due,
                              planned_by_id=actor.id, planned_by=actor.login, planned_at=utcnow(),
                              scanners=scanners or [])
        session.add(stocktake)
        session.flush()
        ids = session.scalars(select(Item.id).where(_expected_condition(dept.id, kinds, location))).all()
        if ids:
            session.execute(insert(StocktakeLine), [
                {"stocktake_id": stocktake.id, "item_id": item_id, "expected": True, "location_corrected": False,
                 "possible_leak": False} for item_id in ids])
        stocktake.expected_count = len(ids)
        record_event(EventType.STOCKTAKE_PLANNED, actor=actor, subject=stocktake.audit_subject,
                     stocktake=stocktake.id, department=dept.code, kinds=[k.value for k in kinds],
                     location=location, due=due.isoformat(), scanners=[u.login for u in scanners],
                     expected_count=len(ids))
        return stocktake


# --- scanning -------------------------------------------------------------------------------

@dataclass(frozen=True)
class HolderMismatch:
    """The ledger's holder of a scanned item who cannot be the department's: by name, never login."""
    name: str  #: 名前（所属）
    problem: str  #: a key of HOLDER_PROBLEMS

    def to_json(self) -> dict:
        return {"name": self.name, "problem": self.problem, "problem_label": HOLDER_PROBLEMS[self.problem]}


@dataclass
class ScanResult:
    outcome: str
    code: str | None  #: only when the scanner may see the item
    message: str  #: Japanese, one sentence, never the title of another department's item
    shown: str  #: what was read, cleaned
    counts: Counts | None = None
    holder: HolderMismatch | None = None  #: a 場所違い of the holder

    def to_json(self) -> dict:
        body = {"outcome": self.outcome, "outcome_label": OUTCOMES[self.outcome], "code": self.code,
                "message": self.message, "scan": self.shown}
        if self.holder is not None:
            body["holder"] = self.holder.to_json()
        if self.counts is not None:
            body["counts"] = self.counts.to_json()
        return body


def holder_problem(holder: User, department_id: int) -> str | None:
    """Whether the ledger's holder can be the one a stocktake of the department expects: an active
    person of that department who may hold items (custody.may_hold, the one rule for it). The
    department is the stocktake's, which is the item's: an item's department follows its holder
    (custody.accept_transfer), so a holder elsewhere is one who moved without handing it on."""
    if not holder.active:
        return HOLDER_LEFT
    if holder.department_id != department_id:
        return HOLDER_MOVED
    if not may_hold(holder):
        return HOLDER_NO_ROLE
    return None


def _shown(text) -> str:
    """What was read, safe to keep for years: no control characters, no 12-digit number."""
    shown = _CONTROL.sub("", unicodedata.normalize("NFKC", str(text or ""))).strip()[:100]
    if contains_number(shown):  # a reader pointed at a document, not a label
        return "（個人番号と思われる数字を含むため記録しません）"
    return shown


def _open_for_scanning(actor: Actor, stocktake_id) -> Stocktake:
    stocktake = get_stocktake(stocktake_id, fresh=True)
    if not may_scan(actor, stocktake):
        if not may_see(actor, stocktake):
            raise Forbidden("この棚卸を表示する権限がありません。")
        raise Forbidden("この棚卸の読取り担当ではありません。計画したセキュリティ管理者に読取り担当への追加を依頼してください。",
                        code="not_scanner")
    if stocktake.status != State.OPEN.value:
        raise InvalidTransition(f"棚卸 第{stocktake.id}号は既に「{status_label(stocktake.status)}」のため、"
                                "読み取りはできません。", code="stocktake_not_open", current_state=stocktake.status)
    return stocktake


def _line(stocktake_id: int, item_id: int) -> StocktakeLine | None:
    """The line, read afresh inside the write transaction; its item is the caller's already."""
    return db.session.scalar(select(StocktakeLine).where(StocktakeLine.stocktake_id == stocktake_id,
                                                         StocktakeLine.item_id == item_id)
                             .options(lazyload(StocktakeLine.item))
                             .execution_options(populate_existing=True))


def _already(stocktake_id: int, shown: str, outcome: str) -> bool:
    return db.session.scalar(select(StocktakeScan.id).where(
        StocktakeScan.stocktake_id == stocktake_id, StocktakeScan.shown == shown,
        StocktakeScan.outcome == outcome).limit(1)) is not None


def last_missing_line(item_id: int) -> StocktakeLine | None:
    """The line of the stocktake that made the item 所在不明 (the latest one)."""
    return db.session.scalar(select(StocktakeLine).where(StocktakeLine.item_id == item_id,
                                                         StocktakeLine.outcome == MISSING)
                             .order_by(StocktakeLine.id.desc()).limit(1)
                             .execution_options(populate_existing=True))


def _out_of_scope_reason(actor: Actor, stocktake: Stocktake, item: Item) -> str | None:
    if item.department_id != stocktake.department_id:
        if visible_to(actor, item):
            return f"{item.department.name}の管理簿にある{KIND_LABELS[Kind(item.kind)]}です（この棚卸の所属ではありません）。"
        return "他の所属の管理簿にあるものです（この棚卸の対象外）。"
    kind = Kind(item.kind)
    if kind not in stocktake.kind_list:
        return f"{KIND_LABELS[kind]}は今回の棚卸の対象の種別ではありません。"
    if item.status == State.MISSING.value:
        return None
    if State(item.status) not in STOCKTAKE_HELD[kind]:
        what = {State.DESTROYED.value: "廃棄済として記録されています。ラベルだけが残っていないか確認してください。",
                State.WRITTEN_OFF.value: "亡失処理済として記録されています。セキュリティ管理者に連絡してください。",
                State.RETURNED_TO_LESSOR.value: "リース会社へ返却済として記録されています。",
                State.PROVIDED.value: "提供先に提供中として記録されています。"}.get(item.status)
        return what or f"状態が「{states.label(item.status)}」のため、棚卸の対象外です。"
    return None


def _record_scan(actor: Actor, stocktake: Stocktake, shown: str, outcome: str, item: Item | None = None,
                 detail: str | None = None, location: str | None = None, holder_problem: str | None = None) -> None:
    db.session.add(StocktakeScan(stocktake_id=stocktake.id, scanned_at=utcnow(), scanned_by_id=actor.id,
                                 scanned_by=actor.login, shown=shown, outcome=outcome,
                                 item_id=item.id if item else None, detail=detail))
    extra = {"scanned_at_location": location} if location else {}
    if holder_problem:
        extra["holder_problem"] = holder_problem
    if item is not None:
        record_event(EventType.STOCKTAKE_SCANNED, actor=actor, subject=stocktake.audit_subject,
                     stocktake=stocktake.id, outcome=outcome, item=item.code, **extra)
    else:
        record_event(EventType.STOCKTAKE_SCANNED, actor=actor, subject=stocktake.audit_subject,
                     stocktake=stocktake.id, outcome=outcome, payload=shown, **extra)


def _refuse_my_number(text: str, field: str) -> None:
    """What matched no genuine label and no item is kept as typed, so like any free text it must
    not hold a 個人番号 (a reader pointed at a document): refused, and the whole request with it."""
    if contains_number(text):
        v.text(_CONTROL.sub("", text), "読み取った内容", max_len=1000, field=field)


def _scan_one(actor: Actor, stocktake: Stocktake, text, location: str | None, field: str = "scan") -> ScanResult:
    shown = _shown(text)
    parsed = parse_scan(text)
    if not shown or (parsed.payload is None and parsed.code is None):
        raise Invalid("読み取った内容が空です。ラベルを読み取るか、管理番号を入力してください。", field="scan")
    if parsed.payload is not None:
        code = verify_payload(parsed.payload)
        if code is None:
            _refuse_my_number(str(text), field)
            if _already(stocktake.id, shown, FORGED):
                return ScanResult(DUPLICATE, None, "この偽造ラベルは既に記録されています。", shown)
            _record_scan(actor, stocktake, shown, FORGED, location=location)
            claimed = shown.rpartition(".")[0].upper() if "." in shown else ""
            record_event(EventType.LABEL_FORGED, actor=actor,
                         subject=claimed if re.fullmatch(r"[FMD]-\d{4}-\d{6}", claimed) else "label",
                         payload=shown, stocktake=stocktake.id)
            return ScanResult(FORGED, None, "偽造または改変されたラベルです。現物には触れずにそのまま保管し、"
                                            "セキュリティ管理者に連絡してください（棚卸の記録に残しました）。", shown)
    else:
        code = parsed.code
    item = db.session.scalar(select(Item).where(Item.code == code[:20]).execution_options(populate_existing=True))
    if item is None:
        _refuse_my_number(str(text), field)
        if _already(stocktake.id, shown, UNKNOWN):
            return ScanResult(DUPLICATE, None, "この台帳にない番号は既に記録されています。", shown)
        _record_scan(actor, stocktake, shown, UNKNOWN, location=location)
        return ScanResult(UNKNOWN, None, "管理簿にない番号です。棚卸の記録に残しました。現物を確認し、"
                                         "未登録の帳票・媒体であれば登録してください。", shown)
    reason = _out_of_scope_reason(actor, stocktake, item)
    shown_code = item.code if visible_to(actor, item) else None
    if reason is not None:
        if _already(stocktake.id, shown, OUT_OF_SCOPE):
            return ScanResult(DUPLICATE, shown_code, "既に対象外として記録されています。", shown)
        _record_scan(actor, stocktake, shown, OUT_OF_SCOPE, item, reason, location)
        return ScanResult(OUT_OF_SCOPE, shown_code, reason, shown)
    line = _line(stocktake.id, item.id)
    if line is not None and line.outcome in SEEN:
        return ScanResult(DUPLICATE, item.code, f"{item.code} は既に読み取り済みです（1件として数えています）。", shown)
    if line is None:  # in scope now, not in the ledger of this scope when planned
        line = StocktakeLine(stocktake_id=stocktake.id, item_id=item.id, expected=False,
                             location_corrected=False, possible_leak=False)
        db.session.add(line)
    where = location or stocktake.location
    line.seen_at, line.seen_by_id = utcnow(), actor.id
    holder = None
    if item.status == State.MISSING.value:
        _found_again(actor, item, f"棚卸 第{stocktake.id}号の読取りで発見", stocktake_id=stocktake.id)
        line.outcome = FOUND
        message = f"{item.code} は所在不明として記録されていたものです。発見として記録し、元の状態に戻しました。"
    else:
        problem = holder_problem(item.holder, stocktake.department_id)
        misplaced = bool(where) and item.location != where
        if not (misplaced or problem):
            line.outcome = CONFIRMED
            message = f"{item.code} を確認しました。"
        else:
            line.outcome, parts = WRONG_LOCATION, []
            if misplaced:
                line.seen_location = where
                parts.append(f"{item.code} は台帳では「{item.location or '（保管場所の記録なし）'}」にあることに"
                             f"なっています。「{where}」への訂正を確認してください。")
            if problem:
                line.recorded_holder_id, line.holder_problem = item.holder_id, problem
                holder = HolderMismatch(person_name(item.holder), problem)
                parts.append(f"{item.code} の台帳の保管者は {holder.name} ですが、{HOLDER_PROBLEMS[problem]}の"
                             f"ため{stocktake.department.name}で保管を担当できません。保管者の訂正（自分が引き受ける）"
                             "を確認してください。")
            message = "".join(parts)
    _record_scan(actor, stocktake, shown, line.outcome, item, location=location,
                 holder_problem=line.holder_problem if line.outcome == WRONG_LOCATION else None)
    return ScanResult(line.outcome, item.code, message, shown, holder=holder)


def _location(value) -> str | None:
    return v.text(value, "読み取った場所", max_len=200, required=False, field="location")


def record_scan(actor: Actor, stocktake_id, text, *, location=None) -> ScanResult:
    """One scan (a label URL, its payload or a typed code), counted once whoever reads it first."""
    with db.transaction():
        stocktake = _open_for_scanning(actor, stocktake_id)
        if not isinstance(text, str):
            raise Invalid("読み取った内容（scan）は文字列で指定してください。", field="scan")
        result = _scan_one(actor, stocktake, text, _location(location))
    # Counted after the commit, so the other scanners do not wait on the write lock for it; it
    # includes this scan, and any another scanner committed meanwhile.
    result.counts = running_counts(stocktake)
    return result


def split_pasted(text) -> list[str]:
    """An offline scanner's file or a pasted list: one code or label per line (commas and tabs too)."""
    if not isinstance(text, str):
        raise Invalid("読み取った内容は文字列で指定してください。", field="scans")
    return [part for part in (p.strip() for p in re.split(r"[\r\n\t,]+", text)) if part]


def record_scans(actor: Actor, stocktake_id, texts, *, location=None) -> tuple[list[ScanResult], Counts]:
    """A pasted or uploaded list, in one transaction: each line is a scan, duplicates count once."""
    with db.transaction():
        stocktake = _open_for_scanning(actor, stocktake_id)
        if not isinstance(texts, (list, tuple)) or not texts:
            raise Invalid("読み取った内容を1件以上指定してください。", field="scans")
        if len(texts) > MAX_PASTED:
            raise Invalid(f"一度に取り込めるのは{MAX_PASTED}件までです（指定 {len(texts)} 件）。分けて取り込んでください。",
                          field="scans")
        if not all(isinstance(t, str) for t in texts):
            raise Invalid("読み取った内容（scans）は文字列の一覧で指定してください。", field="scans")
        where = _location(location)
        results = []
        for text in texts:
            try:
                results.append(_scan_one(actor, stocktake, text, where, "scans"))
            except Invalid as exc:  # an empty line of a file is dropped, not a reason to drop the rest
                if exc.code == "my_number_in_text":
                    raise  # …but a 個人番号 refuses the whole list: nothing of it is recorded
                results.append(ScanResult("empty", None, exc.message, ""))
            db.session.flush()
        return [r for r in results if r.outcome != "empty"], counts(stocktake.id)


def correct_location(actor: Actor, stocktake_id, code, location=None) -> StocktakeLine:
    """The scanner confirms that an item read at another place is kept there now: the ledger's
    保管場所 follows, as a recorded event."""
    with db.transaction():
        stocktake = _open_for_scanning(actor, stocktake_id)
        code = v.text(code, "管理番号", max_len=20, field="code").upper()
        item = db.session.scalar(select(Item).where(Item.code == code))
        line = _line(stocktake.id, item.id) if item is not None else None
        if line is None or line.outcome != WRONG_LOCATION:
            raise Conflict("この棚卸で「場所違い」と読み取られたものだけ、保管場所を訂正できます。",
                           code="not_wrong_location")
        if line.location_corrected:
            raise Conflict(f"{item.code} の保管場所は既に訂正済みです。", code="already_corrected")
        new = v.text(location, "訂正後の保管場所", max_len=200, required=False, field="location") or line.seen_location
        if not new:
            raise Invalid("訂正後の保管場所を入力してください。", field="location")
        before = item.location
        item.location = new
        line.location_corrected = True
        record_event(EventType.STOCKTAKE_LOCATION_CORRECTED, actor=actor, subject=item.code,
                     stocktake=stocktake.id, location_before=before, location_after=new)
        return line


def correct_holder(actor: Actor, stocktake_id, code) -> StocktakeLine:
    """The scanner takes into his own custody an item whose ledger holder left, moved or may no
    longer hold it: the ledger's 保管者 becomes him, as a recorded event. Only himself: giving it
    to anyone else is a hand-off, which that person accepts (custody.request_transfer)."""
    with db.transaction():
        stocktake = _open_for_scanning(actor, stocktake_id)
        code = v.text(code, "管理番号", max_len=20, field="code").upper()
        item = db.session.scalar(select(Item).where(Item.code == code).execution_options(populate_existing=True))
        line = _line(stocktake.id, item.id) if item is not None else None
        if line is None or line.outcome != WRONG_LOCATION or line.holder_problem is None:
            raise Conflict("この棚卸で保管者が「場所違い」と読み取られたものだけ、保管者を訂正できます。",
                           code="not_holder_mismatch")
        if line.holder_corrected:
            raise Conflict(f"{item.code} の保管者は既に訂正済みです。", code="already_corrected")
        if item.holder_id != line.recorded_holder_id:
            raise Conflict(f"{item.code} の保管者は読取りの後に「{person_name(item.holder)}」さんに変わっています。"
                           "訂正の必要はありません。", code="holder_changed")
        if State(item.status) not in STOCKTAKE_HELD[Kind(item.kind)]:
            raise InvalidTransition(f"{item.code} は現在「{states.label(item.status)}」のため、保管者を訂正できません。",
                                    code="not_held", current_state=item.status)
        if actor.is_system or actor.department_id != stocktake.department_id or not may_hold(actor):
            raise Forbidden(f"保管者の訂正は、{stocktake.department.name}の職員で保管を担当できる人が、自分が引き受ける"
                            "ものとして行います（ほかの人に渡すときは、訂正の後に引継ぎをしてください）。",
                            code="cannot_hold_here")
        before, problem = item.holder, line.holder_problem
        item.holder, item.department = actor, actor.department
        line.holder_corrected = True
        record_event(EventType.STOCKTAKE_HOLDER_CORRECTED, actor=actor, subject=item.code, stocktake=stocktake.id,
                     holder_before=before.login, holder_after=actor.login, holder_problem=problem,
                     department=stocktake.department.code, status=item.status)
        return line


def cancel_stocktake(actor: Actor, stocktake_id, reason) -> Stocktake:
    """中止: a stocktake not yet closed is called off, with a reason. No item changes; its scans
    and lines stay as the record, and it can no longer be scanned, closed or signed."""
    with db.transaction():
        stocktake = get_stocktake(stocktake_id, fresh=True)
        _require_manager(actor, stocktake, "中止")
        if stocktake.status != State.OPEN.value:
            raise InvalidTransition(f"棚卸 第{stocktake.id}号は既に「{status_label(stocktake.status)}」のため、"
                                    "中止できません（中止できるのは締める前の棚卸です）。",
                                    code="stocktake_not_open", current_state=stocktake.status)
        reason = v.text(reason, "中止の理由", max_len=500, field="reason", multiline=True)
        c = counts(stocktake.id)
        stocktake.cancelled_by_id, stocktake.cancelled_by = actor.id, actor.login
        stocktake.cancelled_at, stocktake.cancel_reason = utcnow(), reason
        states.transition(stocktake, State.CANCELLED, actor=actor, event=EventType.STOCKTAKE_CANCELLED,
                          stocktake=stocktake.id, department=stocktake.department.code, reason=reason,
                          expected_count=c.expected, confirmed_count=c.confirmed)
        return stocktake


# --- closing and signing --------------------------------------------------------------------

def _require_manager(actor: Actor, stocktake: Stocktake, what: str) -> None:
    if not may_manage(actor, stocktake.department_id):
        raise Forbidden(f"棚卸の{what}は、{stocktake.department.name}のセキュリティ管理者"
                        "（または市町課のセキュリティ管理者）が行います。")


def close_stocktake(actor: Actor, stocktake_id) -> tuple[Stocktake, list[str]]:
    """Reconciles: every expected item not seen and still on a shelf of the department becomes
    所在不明 (one event each); one that left the scope since planning is noted as such."""
    with db.transaction():
        stocktake = get_stocktake(stocktake_id, fresh=True)
        _require_manager(actor, stocktake, "締め")
        if stocktake.status != State.OPEN.value:
            raise InvalidTransition(f"棚卸 第{stocktake.id}号は既に「{status_label(stocktake.status)}」です。",
                                    code="stocktake_not_open", current_state=stocktake.status)
        # Core rows, not objects: at 10,000 lines loading and flushing them took most of the close.
        unseen = db.session.execute(
            select(StocktakeLine.id, Item.id, Item.kind, Item.code, Item.status, Item.department_id,
                   Item.contains_my_number, Item.holds_my_number_data)
            .join(Item, Item.id == StocktakeLine.item_id)
            .where(StocktakeLine.stocktake_id == stocktake.id, StocktakeLine.expected.is_(True),
                   StocktakeLine.outcome.is_(None))
            .order_by(StocktakeLine.id)).all()
        lines: dict[tuple[str, str, bool], list[int]] = {}  # (outcome, status before, leak) → line ids
        lost = []
        for line_id, item_id, kind, code, status, dept_id, my_number, my_number_data in unseen:
            if dept_id != stocktake.department_id or State(status) not in STOCKTAKE_HELD[Kind(kind)]:
                lines.setdefault((LEFT_SCOPE, status, False), []).append(line_id)
                continue
            lines.setdefault((MISSING, status, bool(my_number or my_number_data)), []).append(line_id)
            lost.append((item_id, kind, code, status))
        for (outcome, before, leak), ids in lines.items():
            for start in range(0, len(ids), 5000):
                db.session.execute(update(StocktakeLine).where(StocktakeLine.id.in_(ids[start:start + 5000]))
                                   .values(outcome=outcome, status_before=before, possible_leak=leak))
        # One batch of 所在不明 events: the same chain as one append each, in one insert.
        states.transition_rows(Item, lost, State.MISSING, actor=actor, event=EventType.ITEM_MISSING,
                               stocktake=stocktake.id)
        missing = [code for _id, _kind, code, _status in lost]
        c = counts(stocktake.id)
        states.transition(stocktake, State.CLOSED, actor=actor, event=EventType.STOCKTAKE_CLOSED,
                          stocktake=stocktake.id, department=stocktake.department.code,
                          expected_count=c.expected, confirmed_count=c.confirmed,
                          wrong_location_count=c.wrong_location, missing_count=len(missing),
                          unknown_count=c.unknown, forged_count=c.forged, out_of_scope_count=c.out_of_scope)
        stocktake.closed_by_id, stocktake.closed_by, stocktake.closed_at = actor.id, actor.login, utcnow()
        stocktake.closed_head_seq, stocktake.closed_head_hash = head()
        return stocktake, missing


def sign_stocktake(actor: Actor, stocktake_id, comment=None) -> Stocktake:
    """The security manager confirms the result (電子的な確認), recorded as an audit event."""
    with db.transaction():
        stocktake = get_stocktake(stocktake_id, fresh=True)
        _require_manager(actor, stocktake, "結果の確認（署名）")
        if stocktake.status != State.CLOSED.value:
            raise InvalidTransition(f"棚卸 第{stocktake.id}号は「{status_label(stocktake.status)}」のため、結果の確認"
                                    "（署名）はできません（締めた後に確認します）。", code="stocktake_not_closed",
                                    current_state=stocktake.status)
        comment = v.text(comment, "確認の所見", max_len=500, required=False, field="comment", multiline=True)
        stocktake.signed_by_id, stocktake.signed_at, stocktake.sign_comment = actor.id, utcnow(), comment
        states.transition(stocktake, State.SIGNED, actor=actor, event=EventType.STOCKTAKE_SIGNED,
                          stocktake=stocktake.id, department=stocktake.department.code, comment=comment)
        return stocktake


# --- after closing: found again, or written off ---------------------------------------------

def _carries_my_number(item: Item) -> bool:
    return bool(item.contains_my_number or item.holds_my_number_data)


def _missing_item(actor: Actor, code) -> tuple[Item, StocktakeLine]:
    code = unicodedata.normalize("NFKC", str(code or "")).strip().upper()[:20]
    item = db.session.scalar(select(Item).where(Item.code == code).execution_options(populate_existing=True))
    if item is None:
        raise NotFound(f"管理番号「{code}」の登録はありません。", code="unknown_item")
    if not visible_to(actor, item):
        raise Forbidden(f"{KIND_LABELS[Kind(item.kind)]}「{item.code}」は他の所属の管理簿にあるため、操作する権限がありません。")
    line = last_missing_line(item.id) if item.status == State.MISSING.value else None
    if line is None:
        raise InvalidTransition(f"{item.code} は現在「{states.label(item.status)}」です。所在不明のものだけが対象です。",
                                code="not_missing", current_state=item.status)
    return item, line


def _found_again(actor: Actor, item: Item, reason: str, *, stocktake_id: int | None = None) -> None:
    line = last_missing_line(item.id)
    line.found_at, line.found_reason = utcnow(), reason
    states.return_from_missing(item, State(line.status_before), actor=actor, event=EventType.ITEM_FOUND,
                      stocktake=stocktake_id or line.stocktake_id, reason=reason)


def mark_found(actor: Actor, code, reason) -> Item:
    """A 所在不明 item turned up: back to the state it had, with the reason recorded."""
    with db.transaction():
        require_role(actor, *SCAN_ROLES, message="発見の記録は、登録担当・一括利用担当・セキュリティ管理者が行います。")
        item, line = _missing_item(actor, code)
        if not actor.is_system and item.department_id != actor.department_id \
                and not may_manage(actor, item.department_id):
            raise Forbidden(f"{item.code} の発見は、{item.department.name}の職員が記録します。")
        reason = v.text(reason, "発見の経緯", max_len=500, field="reason", multiline=True)
        _found_again(actor, item, reason)
        return item


def write_off(actor: Actor, code, reason) -> Item:
    """亡失処理 by a security manager other than the one who closed the stocktake; an item that
    carried 個人番号 is flagged to be reported as a possible leak."""
    with db.transaction():
        require_role(actor, Role.SECURITY_MANAGER, message="亡失処理はセキュリティ管理者が行います。")
        item, line = _missing_item(actor, code)
        stocktake = get_stocktake(line.stocktake_id)
        if not may_manage(actor, item.department_id):
            raise Forbidden(f"{item.code} の亡失処理は、{item.department.name}のセキュリティ管理者"
                            "（または市町課のセキュリティ管理者）が行います。")
        if not actor.is_system and stocktake.closed_by_id == actor.id:
            raise Forbidden("棚卸を締めた人は、その棚卸で所在不明となったものの亡失処理はできません。"
                            "別のセキュリティ管理者が確認して行ってください。", code="separation_of_duties")
        reason = v.text(reason, "亡失処理の理由", max_len=500, field="reason", multiline=True)
        leak = _carries_my_number(item)
        line.written_off_at, line.written_off_by_id, line.write_off_reason = utcnow(), actor.id, reason
        line.possible_leak = leak
        states.transition(item, State.WRITTEN_OFF, actor=actor, event=EventType.ITEM_WRITTEN_OFF,
                          stocktake=stocktake.id, reason=reason, possible_leak=leak,
                          closed_by=stocktake.closed_by)
        return item


# --- when is a department's next stocktake due ----------------------------------------------

def fiscal_year_end(day: date) -> date:
    """The last day of the 年度 (April to March) the day falls in."""
    return date(day.year + (1 if day.month >= 4 else 0), 3, 31)


def interval_days(department_id: int) -> int:
    own = db.session.get(StocktakeInterval, department_id)
    return own.days if own is not None else int(policy.get("stocktake.interval_days"))


def set_interval(actor: Actor, department_code, days) -> int | None:
    """A department's own 棚卸 interval (empty: back to the policy default)."""
    with db.transaction() as session:
        require_role(actor, Role.ADMIN, Role.SECURITY_MANAGER)
        dept = session.scalar(select(Department).where(Department.code == str(department_code or "")[:32]))
        if dept is None:
            raise Invalid("所属が見つかりません。", field="department")
        if not (actor.has_role(Role.ADMIN) or may_manage(actor, dept.id)):
            raise Forbidden("棚卸の間隔は、その所属のセキュリティ管理者かシステム管理者が変更します。")
        row = session.get(StocktakeInterval, dept.id)
        old = row.days if row is not None else None
        if days in (None, ""):
            if row is not None:
                session.delete(row)
            new = None
        else:
            new = v.integer(days, "棚卸の間隔（日数）", minimum=30, maximum=1095, field="days")
            if row is None:
                session.add(StocktakeInterval(department_id=dept.id, days=new, updated_by=actor.login,
                                              updated_at=utcnow()))
            else:
                row.days, row.updated_by, row.updated_at = new, actor.login, utcnow()
        record_event(EventType.POLICY_UPDATED, actor=actor, subject=f"department:{dept.code}", old=old, new=new)
        return new


@dataclass(frozen=True)
class DepartmentDue:
    department: Department
    last_closed: date | None
    due_on: date
    overdue: bool
    open_ids: tuple[int, ...] = field(default=())

    @property
    def text(self) -> str:
        last = f"前回の棚卸 {to_wareki(self.last_closed)}" if self.last_closed else "棚卸の記録なし"
        state = "期限超過" if self.overdue else "期限間近"
        return f"棚卸の{state}（期限 {to_wareki(self.due_on)}、{last}）"


def to_wareki(day: date) -> str:
    return wareki_date(day)


def due_on(last_closed: date | None, interval: int, as_of: date) -> date:
    """The next stocktake's due date: the interval after the last one, and (policy) before the end
    of the 年度 in which none has been closed yet."""
    candidates = []
    if last_closed is not None:
        candidates.append(last_closed + timedelta(days=interval))
    if policy.get("stocktake.before_fiscal_year_end"):
        this_end = fiscal_year_end(as_of)
        done_this_year = last_closed is not None and last_closed > date(this_end.year - 1, 3, 31)
        candidates.append(fiscal_year_end(this_end + timedelta(days=1)) if done_this_year else this_end)
    return min(candidates) if candidates else as_of


def departments_due(as_of: date | None = None, *, department_id: int | None = None) -> list[DepartmentDue]:
    """Departments whose next stocktake is due within DUE_SOON_DAYS or overdue, as of a day; a
    department with an open stocktake past that stocktake's own due date is overdue too."""
    as_of = as_of or today_jst()
    query = select(Department).where(Department.active.is_(True)).order_by(Department.id)
    if department_id is not None:
        query = query.where(Department.id == department_id)
    departments = list(db.session.scalars(query))
    last = dict(db.session.execute(
        select(Stocktake.department_id, func.max(Stocktake.closed_at))
        .where(Stocktake.status.in_((State.CLOSED.value, State.SIGNED.value)))
        .group_by(Stocktake.department_id)).all())
    opened: dict[int, list[tuple[int, date]]] = {}
    for sid, dept_id, due in db.session.execute(select(Stocktake.id, Stocktake.department_id, Stocktake.due)
                                                .where(Stocktake.status == State.OPEN.value)):
        opened.setdefault(dept_id, []).append((sid, due))
    own = dict(db.session.execute(select(StocktakeInterval.department_id, StocktakeInterval.days)).all())
    default = int(policy.get("stocktake.interval_days"))
    result = []
    for dept in departments:
        closed = last.get(dept.id)
        last_day = to_jst(closed).date() if closed else None
        due = due_on(last_day, own.get(dept.id, default), as_of)
        open_here = opened.get(dept.id, [])
        late_open = [sid for sid, d in open_here if d < as_of]
        if late_open or as_of > due:
            result.append(DepartmentDue(dept, last_day, due, True, tuple(sid for sid, _d in open_here)))
        elif as_of >= due - timedelta(days=DUE_SOON_DAYS):
            result.append(DepartmentDue(dept, last_day, due, False, tuple(sid for sid, _d in open_here)))
    return result


def status_label(status: str) -> str:
    """A stocktake's state in words (closed reads 締め済 here, not the terminal-use 使用終了)."""
    return STOCKTAKE_STATUS.get(status, states.label(status))


STOCKTAKE_STATUS = {State.OPEN.value: "実施中", State.CLOSED.value: "締め済（確認待ち）",
                    State.SIGNED.value: "確認済（署名）", State.CANCELLED.value: "中止"}
