"""Audit events in words: what each event type records (its detail keys, each with a Japanese
label and a way to show its value) and who and what it is about.

The item timeline, the audit log page, the custody report and the policies page all read events
through this module, so a 市町課 employee sees 「保管者: 登録 一郎（税務課）」, never `holder:
registrar`. The stored JSON is what is hashed and stays as it is; pages offer it behind 詳細.
Every key an event may carry is declared here under its type: tests/unit/audit/test_describe.py
fails on a key that a service records without a declaration.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from collections.abc import Mapping
from typing import Any, Callable, Iterable

from flask import g, has_app_context
from sqlalchemy import String, cast, literal, null, select, union_all

from .. import states
from ..actors import SYSTEM_NAMES, system_name
from ..audit.events import EventType, event_label
from ..auth.models import Business, Department, User
from ..clock import to_utc_naive
from ..extensions import db
from ..policy.services import POLICIES
from ..roles import role_label
from ..wareki import wareki_date, wareki_datetime

# --- names of people, departments and masters ----------------------------------------------

UNAUTHENTICATED = "（未認証の利用者）"


@dataclass
class Names:
    """Logins, department and business codes in words, loaded once for a page or a report."""
    users: dict[str, tuple[str, str]] = field(default_factory=dict)  #: login → (name, department name)
    departments: dict[str, str] = field(default_factory=dict)  #: code → name
    businesses: dict[str, str] = field(default_factory=dict)  #: code → name
    contractors: dict[str, str] = field(default_factory=dict)  #: str(id) → name

    def person(self, login: str | None) -> str:
        """名前（所属）; a system actor by its Japanese name. The login shows only for an account
        that no longer exists, so that the record still says who it was."""
        if not login:
            return ""
        if login == "anonymous":
            return UNAUTHENTICATED
        if login.startswith("system:"):
            return system_name(login)
        found = self.users.get(login)
        if found is None:
            return f"利用者ID {login}"
        name, department = found
        return f"{name}（{department}）" if department else name

    def person_in(self, login: str | None, department_code: str | None) -> str:
        """名前（所属） with the department recorded at the time (a hand-off's, a registration's)."""
        if not login or not department_code or login == "anonymous" or login.startswith("system:"):
            return self.person(login)
        found = self.users.get(login)
        name = found[0] if found else f"利用者ID {login}"
        return f"{name}（{self.department(department_code)}）"

    def department(self, code: str | None) -> str:
        return self.departments.get(code or "", code or "")

    def business(self, code: str | None) -> str:
        return self.businesses.get(code or "", code or "")

    def contractor(self, ref) -> str:
        return self.contractors.get(str(ref), str(ref))


#: Masters of the domains whose rows events name by key (委託先 by its id): kind → (key column,
#: name column), registered by the domain at start-up (register_master).
MASTERS: dict[str, tuple[Any, Any]] = {}


def register_master(kind: str, key, name) -> None:
    """Events name rows of this master by `key` (a column, cast to text) and people see `name`."""
    MASTERS[kind] = (cast(key, String), name)


def load_names(logins: Iterable[str] = (), *, masters: bool = True) -> Names:
    """Names for these logins (with their departments), and unless `masters` is False every
    department, business and contractor (a few dozen rows); users only for the logins asked for."""

    wanted = sorted({str(login) for login in logins if login and not str(login).startswith("system:")})
    people = [select(literal("user"), User.login, User.name, Department.name)
              .outerjoin(Department, Department.id == User.department_id).where(User.login.in_(wanted[i:i + 500]))
              for i in range(0, len(wanted), 500)]
    no_department = cast(null(), String)
    master_queries = [select(literal("department"), Department.code, Department.name, no_department),
                      select(literal("business"), Business.code, Business.name, no_department),
                      *(select(literal(kind), code, name, no_department) for kind, (code, name) in MASTERS.items())
                      ] if masters else []
    # every page with a timeline asks: its people and the masters in one statement
    statements = [people[:1] + master_queries] + [[query] for query in people[1:]]
    users: dict[str, tuple[str, str]] = {}
    found: dict[str, dict[str, str]] = {"department": {}, "business": {}, **{kind: {} for kind in MASTERS}}
    for queries in filter(None, statements):
        for kind, code, name, department in db.session.execute(
                queries[0] if len(queries) == 1 else union_all(*queries)):
            if kind == "user":
                users[code] = (name, department or "")
            else:
                found[kind][code] = name
    if not masters:
        return Names(users)
    return Names(users, found["department"], found["business"], found.get("contractor", {}))


def people_choices() -> list[tuple[str, str]]:
    """(login, 名前（所属）) of every account and system actor, for choosing whose actions to see."""

    rows = db.session.execute(select(User.login, User.name, Department.name)
                              .outerjoin(Department, Department.id == User.department_id)
                              .order_by(Department.name, User.name, User.login)).all()
    people = [(login, f"{name}（{department}）" if department else name) for login, name, department in rows]
    return people + sorted(SYSTEM_NAMES.items(), key=lambda pair: pair[1]) + [("anonymous", UNAUTHENTICATED)]


def person_name(user) -> str:
    """名前（所属） of a User (or system actor) object at hand."""
    if user is None:
        return ""
    if getattr(user, "is_system", False):
        return user.name
    department = getattr(user, "department", None)
    return f"{user.name}（{department.name}）" if department is not None else user.name


def person(value) -> str:
    """The `person` template filter: 名前（所属） of a User or system actor, or of a recorded login
    ("system:…" by its Japanese name). Logins met in one request are looked up once."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        return person_name(value)

    seen = g.setdefault("person_names", {}) if has_app_context() else {}
    if value not in seen:
        seen[value] = load_names([value], masters=False).person(value)
    return seen[value]


# --- how a value is shown ------------------------------------------------------------------

Show = Callable[[object, Names], str]


def _text(value, _names) -> str:
    if isinstance(value, bool):
        return "はい" if value else "いいえ"
    if isinstance(value, list):
        return "・".join(str(v) for v in value) if value else "なし"
    return str(value)


def _day(value, _names) -> str:
    try:
        return wareki_date(date.fromisoformat(str(value)[:10]))
    except ValueError:
        return str(value)


def _moment(value, _names) -> str:
    text = str(value)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if parsed.tzinfo is not None:
        parsed = to_utc_naive(parsed)
    return wareki_datetime(parsed)


def _person(value, names: Names) -> str:
    return names.person(str(value))


def _department(value, names: Names) -> str:
    return names.department(str(value))


def _business(value, names: Names) -> str:
    return names.business(str(value))


def _state(value, _names) -> str:
    return states.label(str(value))


def _yes_no(value, _names) -> str:
    return "はい" if value else "いいえ"


def _count(unit: str) -> Show:
    def show(value, _names) -> str:
        return f"{value:,}{unit}" if isinstance(value, int) and not isinstance(value, bool) else f"{value}{unit}"
    return show


def _numbered(prefix: str, suffix: str = "号") -> Show:
    return lambda value, _names: f"{prefix}{value}{suffix}"


#: The domains' own label tables (方法, 対象物, 契約条項, 様式, ポリシー…), registered by each domain at
#: start-up (register_vocabulary), so that this module, which every domain uses to show people,
#: imports none of them. A table is a mapping of codes, or a function of one code.
VOCABULARIES: dict[str, Mapping[str, Any] | Callable[[str], str]] = {}


def register_vocabulary(name: str, labels: Mapping[str, Any] | Callable[[str], str]) -> None:
    """Codes of `name` are shown through `labels`; mappings registered under one name merge."""
    known = VOCABULARIES.get(name)
    if isinstance(labels, Mapping) and isinstance(known, Mapping):
        labels = {**known, **labels}
    VOCABULARIES[name] = labels


def _label_of(name: str, code) -> str:
    table = VOCABULARIES.get(name, {})
    if callable(table):
        try:
            return table(str(code))
        except Exception:  # a code since removed (a layout file): the code is all there is
            return str(code)
    return table.get(code, str(code))


def _lookup(name: str) -> Show:
    """A code shown through one of the domains' label tables."""
    def show(value, _names) -> str:
        if isinstance(value, list):
            return "・".join(_label_of(name, v) for v in value) if value else "なし"
        return _label_of(name, value)
    return show


def _minutes(value, _names) -> str:
    if not isinstance(value, int):
        return str(value)
    if value % 1440 == 0:
        return f"{value // 1440}日"
    if value % 60 == 0:
        return f"{value // 60}時間"
    return f"{value}分"


def _hash(value, _names) -> str:
    return f"{str(value)[:16]}…"


def _policy_value(value, _names) -> str:
    if isinstance(value, bool):
        return "有効" if value else "無効"
    return "（既定値）" if value is None else str(value)


def _policy_value_of(key: str, value) -> str:
    """A policy's value as its page shows it: 30日, 3日 (for 4320 minutes), 有効."""
    policy = POLICIES.get(key)
    if policy is None or isinstance(value, bool) or value is None or not isinstance(value, int):
        return _policy_value(value, None)
    if policy.unit == "分":
        return _minutes(value, None)
    return f"{value}{policy.unit}"


def _policy(value, _names) -> str:
    return policy_label(str(value))


def _kind_label(value, _names) -> str:
    return states.KIND_LABELS.get(value, str(value)) if value in {k.value for k in states.Kind} else str(value)


def _role(value, _names) -> str:
    return role_label(str(value))


REPORT_NAMES = {"custody": "保管履歴報告書", "ledger": "管理簿", "exceptions": "例外一覧",
                "statistics": "統計", "destruction": "廃棄記録書", "erasure": "消去記録書",
                "terminal_uses": "端末の使用伺い簿", "training": "研修受講状況", "log_review": "アクセスログ検証結果報告書",
                "stocktake": "棚卸結果報告書"}
FORMATS = {"pdf": "PDF", "csv": "CSV", "json": "JSON"}
SCOPES = {"storage": "機器の記憶装置"}
LOGIN_REFUSALS = {"unknown_or_inactive": "登録のない、または利用停止中の利用者ID", "locked": "ロック中",
                  "bad_password": "パスワードの誤り"}
CONTEXTS = {"destruction_selection": "廃棄対象の読取り", "erasure_certificate_accept": "消去証明書の受理",
            "destruction": "廃棄記録書の出力", "erasure": "消去記録書の出力", "download": "ファイルの取出し", "finding_confirm": "指摘事項の現地確認", "self_inspection_sample": "自己点検の抽出確認"}


def _resolution(value, _names) -> str:
    """Why an exception closed: the medium came back, or the item moved on (its new state)."""
    return "返却" if value == "returned" else f"状態が「{states.label(str(value))}」になったため"


def _fixed(table: dict) -> Show:
    return lambda value, _names: table.get(value, str(value))


# --- the keys -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Key:
    label: str
    show: Show = _text
    #: For a person: the key of the department recorded with him, shown in his parentheses
    #: (引継ぎ元: 旅券 二郎（旅券センター）) instead of as a line of its own.
    department_key: str | None = None


#: Keys that mean the same in every event that carries them.
COMMON = {
    "title": Key("件名"), "holder": Key("保管者", _person, "department"), "department": Key("所属", _department),
    "business": Key("利用事務", _business), "retention_until": Key("保存期限", _day),
    "kind": Key("種別", _kind_label), "note": Key("備考"), "reason": Key("理由"),
    "recipient": Key("提供先"), "recipient_before": Key("変更前の提供先"),
    "due_back": Key("返却予定日", _day), "due_back_before": Key("変更前の返却予定日", _day),
    "returned_on": Key("返却日", _day), "days_late": Key("返却の遅れ", lambda v, _n: f"{v}日" if v else "なし（期限内）"),
    "transfer": Key("引継ぎ", _numbered("第")), "giver": Key("引継ぎ元", _person, "giver_department"),
    "giver_department": Key("引継ぎ元の所属", _department), "receiver": Key("引継ぎ先", _person, "receiver_department"),
    "receiver_department": Key("引継ぎ先の所属", _department), "item": Key("管理番号"),
    "items": Key("管理番号"), "department_before": Key("変更前の所属", _department),
    "department_after": Key("変更後の所属", _department), "location_before": Key("変更前の保管場所"),
    "location_after": Key("保管場所"), "batch": Key("廃棄記録番号"),
    "method": Key("方法", _lookup("method")), "din_level": Key("セキュリティレベル（DIN 66399）"),
    "material": Key("対象物", _lookup("material")), "place": Key("実施場所"),
    "planned_on": Key("実施予定日", _day), "contractor": Key("委託先"), "performer": Key("実施者", _person),
    "scope": Key("対象", _fixed(SCOPES)), "file_id": Key("ファイル", _numbered("No.", "")),
    "file_name": Key("ファイル名"), "sha256": Key("ハッシュ（SHA-256）", _hash), "size": Key("大きさ", _count("バイト")),
    "expected": Key("登録時の SHA-256", _hash), "actual": Key("現在の SHA-256", _hash),
    "context": Key("操作", _fixed(CONTEXTS)), "certificate": Key("消去証明書", _numbered("No.", "")),
    "certificate_no": Key("証明書番号"), "vendor": Key("作業事業者"), "performed_on": Key("作業日", _day),
    "method_used": Key("作業方法"), "media": Key("記憶媒体の製造番号"),
    "serials_missing_from_pdf": Key("証明書に記載のない製造番号"),
    "serials_unknown_to_device": Key("機器に登録のない製造番号"),
    "media_not_yet_covered": Key("消去証明が未了の記憶媒体"), "device": Key("機器の管理番号"),
    "lessor": Key("リース会社"), "storage_destruction": Key("記憶装置の廃棄記録"),
    "storage": Key("記憶装置の製造番号"), "addr": Key("接続元"), "name": Key("名称"),
    "role": Key("権限", _role), "trained_on": Key("研修受講日", _day), "until": Key("ロック解除", _moment),
    "attempts": Key("連続失敗回数", _count("回")), "path": Key("アドレス"),
    "report": Key("帳票", _fixed(REPORT_NAMES)), "format": Key("形式", _fixed(FORMATS)),
    "rows": Key("件数", _count("件")), "layout": Key("様式", _lookup("layout")), "payload": Key("読取り内容"),
    "exception": Key("例外", _numbered("No.", "")), "deadline": Key("期限", _day),
    "detected_on": Key("検出日", _day), "days_over": Key("超過日数", _count("日")),
    "status": Key("その時点の状態", _state), "provided_to": Key("提供先"),
    "retain_minutes": Key("保存期間", _minutes), "purge_after": Key("消去予定", _moment),
    "rule": Key("消去の種類", _lookup("rule")), "count": Key("件数", _count("件")),
    "first_id": Key("最初の番号", _numbered("No.", "")), "last_id": Key("最後の番号", _numbered("No.", "")),
    "as_of": Key("基準日時", _moment), "events": Key("記録数", _count("件")),
    "seq": Key("記録数", _count("件")), "head": Key("最後の記録のハッシュ", _hash),
    "root": Key("Merkle 木の根ハッシュ", _hash),
    "ok": Key("結果", lambda value, _n: "正常" if value else "異常あり"),
    "broken_at": Key("異常のある記録", _numbered("連番 ", "")), "checkpoints": Key("確認点", _count("件")),
    "file": Key("ファイル名"), "audit_seq": Key("記録数", _count("件")), "files": Key("ファイル数", _count("件")),
    "label": Key("ラベル鍵の更新", _yes_no), "kek": Key("鍵暗号鍵の更新", _yes_no),
    "data_keys": Key("再暗号化したデータ鍵", _count("件")), "revision": Key("データベースの版"),
    "system_owner": Key("システム所管課", _yes_no), "basis": Key("根拠"),
    "old": Key("変更前", _policy_value), "new": Key("変更後", _policy_value),
    "repeats": Key("同じ1分間の繰返し", _count("回")), "minute": Key("時刻", _moment),
    "integrity_ok": Key("ファイル整合性", lambda v, _n: "確認済み" if v else "異常あり"),
    "year": Key("年度", _count("年度")), "services": Key("委託業務", _lookup("services")),
    "contract_number": Key("契約番号"), "start": Key("契約開始日", _day), "end": Key("契約終了日", _day),
    "clauses": Key("契約条項", _lookup("clauses")), "fiscal_year": Key("年度", _count("年度")),
    "received_on": Key("受領日", _day), "subcontractor": Key("再委託先"), "approved_on": Key("承認日", _day),
    "inspection": Key("実地確認", _numbered("No.", "")), "on": Key("確認日", _day), "by": Key("確認者"),
    "findings": Key("指摘事項"), "follow_up": Key("改善措置"),
    "terminal": Key("端末"), "requester": Key("利用者", _person), "terminal_use": Key("使用伺い", _numbered("第")),
    "starts_at": Key("使用開始（予定）", _moment), "ends_at": Key("使用終了（予定）", _moment),
    "started_at": Key("使用開始", _moment), "ended_at": Key("使用終了", _moment),
    "no_camera_phone_usb": Key("持込み確認（カメラ・スマートフォン・USBメモリ等なし）", _yes_no),
    "course": Key("研修の名称"), "valid_until": Key("研修の有効期限", _day),
    "training": Key("研修受講記録", _numbered("No.", "")), "effective_on": Key("発令日", _day),
    "forced": Key("強制", _yes_no), "holder_before": Key("変更前の保管者", _person),
    "holder_after": Key("変更後の保管者", _person),
    "roles": Key("権限", lambda value, _n: "、".join(_role(r, _n) for r in value) if isinstance(value, list)
                 else _role(value, _n)),
    "grant_request": Key("承認依頼", _numbered("No.", "")), "requested_by": Key("依頼者", _person),
    "handoffs": Key("取り消した引継ぎ", _count("件")),
}

#: "from"/"to" recorded by states.transition: the state before and after.
STATE_CHANGE = ("from", "to")


def _keys(*names: str, **special: Key) -> dict[str, Key]:
    keys = {name: COMMON[name] for name in names}
    keys.update(special)
    return keys


_MOVE = {"from": Key("変更前の状態", _state), "to": Key("変更後の状態", _state)}
_HANDOFF = ("transfer", "item", "giver", "giver_department", "receiver", "receiver_department", "note", "reason")

def _hashes(value, _names) -> str:
    return "・".join(_hash(v, _names) for v in value) if isinstance(value, list) and value else "なし"


def _finding_numbers(value, _names) -> str:
    return "、".join(f"第{v}号" for v in value) if isinstance(value, list) and value else "なし"


_FINDING_RAISED = {
    "source": Key("指摘の出所", _lookup("finding_source")), "audit": Key("監査の名称"),
    "summary": Key("指摘の内容"), "severity": Key("重要度", _lookup("finding_severity")),
    "due_on": Key("改善期限", _day), "refs": Key("対象"),
    "self_inspection": Key("自己点検", _numbered("No.", "")),
    "checklist_item": Key("点検項目", _numbered("No.", "")),
}
_CHECKLIST = {"checklist_item": Key("点検項目", _numbered("No.", "")), "theme": Key("テーマ"),
              "question": Key("点検内容"), "evidence_required": Key("証拠の添付", _yes_no),
              "position": Key("表示順")}

_LOG_FIELDS = {"accessed_at": "日時", "terminal": "端末", "operator": "操作者ID", "business": "利用事務",
               "operation": "操作", "records": "件数"}
_LOG_RULES = {"no_role": "有効な権限のない操作者", "no_training": "研修の有効期間外の操作者",
              "no_approval": "承認された使用伺いのない操作", "unregistered_output": "帳票の登録がない出力",
              "off_hours": "夜間・休日の操作"}
_LOG_MARKS = {"ok": "問題なし", "query": "要確認"}
_LOG_DECISIONS = {"confirmed": "指摘として確定", "dismissed": "問題なしとして取下げ"}


def _log_columns(value, _names) -> str:
    if not isinstance(value, dict):
        return str(value)
    return "、".join(f"{_LOG_FIELDS.get(k, k)}=「{c}」" for k, c in value.items())


def _log_hits(value, _names) -> str:
    if not isinstance(value, dict):
        return str(value)
    return "、".join(f"{_LOG_RULES.get(k, k)} {n:,}件" for k, n in value.items()) or "なし"


_ACCESS_LOG = {"source": Key("取込み元"), "rejected": Key("取り込めなかった行", _count("行")),
               "first_at": Key("最初の記録", _moment), "last_at": Key("最後の記録", _moment)}
_LOG_REVIEW = {"quarter": Key("四半期"), "checkpoint": Key("抽出の種にした確認点", _numbered("第")),
               "seed": Key("抽出の種（SHA-256）", _hash), "departments": Key("所属数", _count("所属")),
               "hit": Key("きっかけの自動点検の該当", _numbered("No.", "")), "operator": Key("操作者ID"),
               "date_from": Key("期間の初日", _day), "date_to": Key("期間の末日", _day)}
_LOG_MARK = {"sampled": Key("抽出記録", _numbered("No.", "")), "mark": Key("判定", _fixed(_LOG_MARKS)),
             "mark_before": Key("変更前の判定", _fixed(_LOG_MARKS)), "finding": Key("指摘事項", _numbered("第")),
             "hit": Key("自動点検の該当", _numbered("No.", "")), "rule": Key("点検項目", _fixed(_LOG_RULES)),
             "decision": Key("判断", _fixed(_LOG_DECISIONS))}

_STOCKTAKE = {
    "stocktake": Key("棚卸", _numbered("第")), "outcome": Key("読取り結果", _lookup("stocktake_outcome")),
    "kinds": Key("対象の種別", lambda v, n: "・".join(_kind_label(k, n) for k in v) if isinstance(v, list)
                 else _kind_label(v, n)),
    "location": Key("棚卸の場所"), "due": Key("実施期限", _day),
    "scanners": Key("読取り担当", lambda v, n: "、".join(_person(p, n) for p in v) if isinstance(v, list)
                    else _person(v, n)),
    "expected_count": Key("対象（台帳）", _count("件")), "confirmed_count": Key("確認", _count("件")),
    "wrong_location_count": Key("場所違い", _count("件")), "missing_count": Key("所在不明", _count("件")),
    "unknown_count": Key("台帳にない読取り", _count("件")), "forged_count": Key("偽造ラベル", _count("件")),
    "out_of_scope_count": Key("対象外の読取り", _count("件")), "head_seq": Key("締めた時点の監査ログ", _numbered("第")),
    "possible_leak": Key("漏えいのおそれとして報告が必要（個人番号を含む）", _yes_no),
    "closed_by": Key("棚卸を締めた人", _person), "comment": Key("確認の所見"),
    "scanned_at_location": Key("読み取った場所"),
    "holder_problem": Key("台帳の保管者の状況", _lookup("stocktake_holder_problem")),
}

#: Every event type with the keys its details may carry. A key recorded but missing here fails
#: tests/unit/audit/test_describe.py; an unknown key still shows, under its own name.
DETAILS: dict[EventType, dict[str, Key]] = {
    EventType.LOGIN_SUCCEEDED: _keys("addr"),
    EventType.LOGIN_FAILED: _keys("addr", "attempts", reason=Key("理由", _fixed(LOGIN_REFUSALS))),
    EventType.ACCOUNT_LOCKED: _keys("until"),
    EventType.LOGGED_OUT: _keys(),
    EventType.TOKEN_ISSUED: _keys(),
    EventType.ACCESS_DENIED: _keys("path", "reason", "addr", method=Key("要求")),
    EventType.ACCESS_DENIED_REPEATED: _keys("addr", "minute", "repeats"),
    EventType.USER_CREATED: _keys("department", "trained_on", name=Key("氏名")),
    EventType.USER_UPDATED: _keys("department", "trained_on", name=Key("氏名")),
    EventType.USER_DEACTIVATED: _keys(),
    EventType.USER_REACTIVATED: _keys(),
    EventType.PASSWORD_SET: _keys(),
    EventType.TRAINING_RECORDED: _keys("trained_on", "course", "valid_until", "training"),
    EventType.TRAINING_WITHDRAWN: _keys("count"),
    EventType.USER_TRANSFERRED: _keys("department_before", "department_after", "effective_on", "reason", "roles"),
    EventType.USER_LEFT: _keys("department", "effective_on", "reason", "forced", "items", "roles", "handoffs"),
    EventType.GRANT_REQUESTED: _keys("role", "grant_request", "reason"),
    EventType.GRANT_APPROVED: _keys("role", "grant_request", "requested_by", **_MOVE),
    EventType.GRANT_REFUSED: _keys("role", "grant_request", "requested_by", "reason", **_MOVE),
    EventType.GRANT_REQUEST_CANCELLED: _keys("role", "grant_request", "requested_by", "reason", **_MOVE),
    EventType.ROLE_CONFIRMED: _keys("role", "fiscal_year", "department"),
    EventType.ROLE_REVIEW_REVOKED: _keys("role", "fiscal_year", "department", "reason"),
    EventType.ROLE_GRANTED: _keys("role"),
    EventType.ROLE_REVOKED: _keys("role"),
    EventType.DEPARTMENT_CREATED: _keys("name", "system_owner"),
    EventType.DEPARTMENT_UPDATED: _keys("name", "system_owner"),
    EventType.BUSINESS_CREATED: _keys("name", "basis"),
    EventType.BUSINESS_UPDATED: _keys("name", "basis"),
    EventType.POLICY_UPDATED: _keys("old", "new"),
    EventType.ITEM_REGISTERED: _keys("kind", "title", "holder", "department", "business", "retention_until",
                                     "storage", "terminal_use"),
    EventType.ITEM_UPDATED: _keys("title", "holder", "department", "business", "retention_until", "note"),
    EventType.LABEL_PRINTED: _keys("layout", batch=Key("同時に印刷した枚数", _count("枚")),
                                   start=Key("印刷開始位置", _count("枚目")), mark=Key("表示")),
    EventType.LABEL_FORGED: _keys("payload", "context", stocktake=_STOCKTAKE["stocktake"]),
    EventType.STOCKTAKE_PLANNED: _keys("department", "head", **_STOCKTAKE),
    EventType.STOCKTAKE_SCANNED: _keys("item", "payload", "department", "status", **_STOCKTAKE),
    EventType.STOCKTAKE_LOCATION_CORRECTED: _keys("location_before", "location_after", **_STOCKTAKE),
    EventType.STOCKTAKE_CLOSED: _keys("department", "head", **_STOCKTAKE, **_MOVE),
    EventType.STOCKTAKE_SIGNED: _keys("department", **_STOCKTAKE, **_MOVE),
    EventType.STOCKTAKE_CANCELLED: _keys("department", "reason", **_STOCKTAKE, **_MOVE),
    EventType.STOCKTAKE_HOLDER_CORRECTED: _keys("holder_before", "holder_after", "department", "status", **_STOCKTAKE),
    EventType.ITEM_MISSING: _keys(**_STOCKTAKE, **_MOVE),
    EventType.ITEM_FOUND: _keys("reason", **_STOCKTAKE, **_MOVE),
    EventType.ITEM_WRITTEN_OFF: _keys("reason", **_STOCKTAKE, **_MOVE),
    EventType.CUSTODY_STORED: _keys("location_after", **_MOVE),
    EventType.TRANSFER_REQUESTED: _keys(*_HANDOFF, **_MOVE),
    EventType.TRANSFER_ACCEPTED: _keys(*_HANDOFF, "department_before", "department_after", "location_before",
                                       "location_after", **_MOVE),
    EventType.TRANSFER_REJECTED: _keys(*_HANDOFF, **_MOVE),
    EventType.TRANSFER_CANCELLED: _keys(*_HANDOFF, **_MOVE),
    EventType.CUSTODY_UNCONFIRMED: _keys("holder_before", "holder_after", "reason", **_MOVE),
    EventType.CUSTODY_REASSIGNED: _keys("holder_before", "holder_after", "reason", "status"),
    EventType.CUSTODY_CONFIRMED: _keys("location_before", "location_after", "note", **_MOVE),
    EventType.MEDIUM_PROVIDED: _keys("recipient", "due_back", "recipient_before", "due_back_before", **_MOVE),
    EventType.MEDIUM_RETURNED: _keys("recipient", "due_back", "returned_on", "days_late", "retention_until",
                                     **_MOVE),
    EventType.EXCEPTION_RECORDED: _keys("exception", "deadline", "detected_on", "days_over", "status",
                                        kind=Key("例外の種類", _lookup("exception"))),
    EventType.EXCEPTION_RESOLVED: _keys("exception", "status", kind=Key("例外の種類", _lookup("exception")),
                                        reason=Key("解消の理由", _resolution)),
    EventType.DESTRUCTION_REQUESTED: _keys("batch", "method", "din_level", "scope", "items", "material", "place",
                                           "planned_on", "contractor", **_MOVE),
    EventType.DESTRUCTION_WITNESSED: _keys("batch", "method", "din_level", "scope", "items", "performer", **_MOVE),
    EventType.DESTRUCTION_CANCELLED: _keys("batch", "reason", "scope", **_MOVE),
    EventType.DESTRUCTION_CERTIFICATE_ATTACHED: _keys("file_id", "file_name", "sha256", "size"),
    EventType.DESTRUCTION_CERTIFICATE_ACCEPTED: _keys("batch", "method", "file_name", "sha256", "items", **_MOVE),
    EventType.ITEM_DESTROYED: _keys("batch", "method", "din_level", **_MOVE),
    EventType.ERASURE_REQUESTED: _keys("reason", "note", **_MOVE),
    EventType.ERASURE_WITHDRAWN: _keys("reason", "note", **_MOVE),
    EventType.ERASURE_CERTIFICATE_SUBMITTED: _keys(
        "certificate", "vendor", "certificate_no", "method", "performed_on", "file_name", "sha256", "contractor",
        "method_used", "media", "serials_missing_from_pdf", "serials_unknown_to_device"),
    EventType.ERASURE_CERTIFICATE_ACCEPTED: _keys(
        "device", "media", "serials_missing_from_pdf", "serials_unknown_to_device", "media_not_yet_covered",
        "certificate", "certificate_no", "sha256", **_MOVE),
    EventType.ERASURE_CERTIFICATE_REJECTED: _keys("device", "certificate", "reason", **_MOVE),
    EventType.DEVICE_RETURNED: _keys("lessor", "certificate", "storage_destruction",
                                     contractor=Key("委託先", lambda v, names: names.contractor(v)), **_MOVE),
    EventType.FILE_INTEGRITY_FAILED: _keys("file_id", "file_name", "expected", "actual", "context"),
    EventType.CONTRACTOR_REGISTERED: _keys("services", "contract_number", "start", "end", "clauses", "file_name",
                                           "sha256", name=Key("名称")),
    EventType.CONTRACT_ADDED: _keys("contract_number", "start", "end", "clauses", "file_name", "sha256",
                                    contract=Key("契約", _numbered("No.", ""))),
    EventType.PLEDGE_RECEIVED: _keys("fiscal_year", "received_on", "file_name", "sha256"),
    EventType.SUBCONTRACTOR_APPROVED: _keys("subcontractor", "services", "approved_on", "note"),
    EventType.CONTRACTOR_INSPECTED: _keys("inspection", "on", "by", "findings", "follow_up"),
    EventType.TERMINAL_REGISTERED: _keys("name", "department", "device", location=Key("設置場所")),
    EventType.TERMINAL_DEVICE_LINKED: _keys("device", device_before=Key("変更前の機器の管理番号")),
    EventType.TERMINAL_UPDATED: _keys("reason", active=Key("状態", lambda v, _n: "使用中（再開）" if v else "使用停止")),
    EventType.TERMINAL_USE_REQUESTED: _keys("terminal", "business", "department", "starts_at", "ends_at",
                                            purpose=Key("使用目的・作業内容")),
    EventType.TERMINAL_USE_APPROVED: _keys("terminal", "requester", "no_camera_phone_usb", **_MOVE),
    EventType.TERMINAL_USE_REFUSED: _keys("terminal", "requester", "reason", **_MOVE),
    EventType.TERMINAL_USE_CANCELLED: _keys("terminal", "reason", **_MOVE),
    EventType.TERMINAL_USE_CLOSED: _keys("terminal", "started_at", "ended_at", **_MOVE,
                                         output_note=Key("出力したもの（帳票として登録したもの以外）"),
                                         forms=Key("出力帳票の管理番号"),
                                         without_approval=Key("承認のない使用", _yes_no)),
    EventType.ACCESS_LOG_SOURCE_DEFINED: _keys("name", columns=Key("列の対応付け", _log_columns)),
    EventType.ACCESS_LOG_IMPORTED: _keys("file_name", "sha256", "rows", **_ACCESS_LOG),
    EventType.ACCESS_LOG_CHECKED: _keys("rows", hits=Key("自動点検の該当", _log_hits)),
    EventType.LOG_REVIEW_OPENED: _keys("count", **_LOG_REVIEW),
    EventType.LOG_LOOKBACK_OPENED: _keys("terminal", "reason", "count", **_LOG_REVIEW),
    EventType.LOG_RECORD_MARKED: _keys("note", **_LOG_MARK),
    EventType.LOG_QUERY_ANSWERED: _keys(**_LOG_MARK, answer=Key("所属の回答")),
    EventType.LOG_QUERY_ESCALATED: _keys(**_LOG_MARK, summary=Key("指摘の内容")),
    EventType.LOG_HIT_DECIDED: _keys("reason", **_LOG_MARK),
    EventType.LOG_SAMPLING_RAISED: _keys("department", "reason"),
    EventType.LOG_SAMPLING_LIFTED: _keys("department", "reason"),
    EventType.FINDING_RAISED: _keys("department", **_FINDING_RAISED),
    EventType.FINDING_PLANNED: _keys(**_MOVE, plan=Key("改善計画")),
    EventType.FINDING_ACTION_REPORTED: _keys(**_MOVE, action=Key("実施した措置"),
                                             file_names=Key("証拠ファイル"), sha256s=Key("証拠ファイルのハッシュ（SHA-256）",
                                                                                 _hashes)),
    EventType.FINDING_CONFIRMED: _keys(**_MOVE, note=Key("現地で確認した内容")),
    EventType.FINDING_SENT_BACK: _keys("reason", **_MOVE),
    EventType.CHECKLIST_ITEM_ADDED: _keys(**_CHECKLIST),
    EventType.CHECKLIST_ITEM_UPDATED: _keys(**_CHECKLIST, active=Key("使用中", _yes_no)),
    EventType.SELF_INSPECTION_OPENED: _keys("department", "fiscal_year"),
    EventType.SELF_INSPECTION_ANSWERED: _keys("department", "fiscal_year", "file_name", "sha256", "note",
                                              checklist_item=Key("点検項目", _numbered("No.", "")),
                                              answer=Key("回答", _lookup("self_inspection_answer"))),
    EventType.SELF_INSPECTION_FILED: _keys("department", "fiscal_year", **_MOVE,
                                           finding_ids=Key("指摘事項となった項目", _finding_numbers)),
    EventType.SELF_INSPECTION_SAMPLED: _keys("note", checklist_item=Key("点検項目", _numbered("No.", "")),
                                             supported=Key("証拠による裏付け", _yes_no),
                                             finding=Key("指摘事項", _numbered("第"))),
    EventType.MY_NUMBER_RETAINED: _keys("provided_to", "reason", "retain_minutes", "purge_after"),
    EventType.MY_NUMBER_REVEALED: _keys("reason"),
    EventType.MY_NUMBER_PURGED: _keys("rule", "reason", "count", "first_id", "last_id", "as_of", **_MOVE),
    EventType.PURGE_RUN: _keys("rule", "count", "as_of"),
    EventType.AUDIT_VERIFIED: _keys("ok", "events", "broken_at", "checkpoints",
                                    from_checkpoint=Key("起点の確認点", _numbered("第")),
                                    walked=Key("確認点より後に検証した記録", _count("件"))),
    EventType.CHECKPOINT_SIGNED: _keys("seq", "head", "root"),
    EventType.TREE_REBUILT: _keys("events", nodes=Key("Merkle 木の節", _count("件"))),
    EventType.AUDIT_EXPORTED: _keys("events"),
    EventType.REPORT_GENERATED: _keys("report", "item", "format", "rows", "as_of", "year", "department",
                                      "integrity_ok",
                                      kind=Key("管理簿", _kind_label), **{"from": Key("期間（開始）", _day),
                                                                       "to": Key("期間（終了）", _day)}),
    EventType.SCHEDULER_LEADER: _keys(holder=Key("担当プロセス")),
    EventType.BACKUP_TAKEN: _keys("file", "audit_seq", "files"),
    EventType.KEYS_ROTATED: _keys("label", "kek", "data_keys"),
    EventType.SIGNING_CERT_INSTALLED: _keys(certificate=Key("証明書"), issuer=Key("発行者"),
                                            fingerprint=Key("SHA-256 指紋", _hash), valid_until=Key("有効期限", _day)),
    EventType.SYSTEM_INITIALISED: _keys("revision"),
    EventType.MAIL_SETTINGS_UPDATED: _keys(
        host=Key("メールサーバー"), port=Key("ポート番号"), starttls=Key("STARTTLS による暗号化", _yes_no),
        username=Key("ログイン名"), sender=Key("送信者アドレス"), enabled=Key("メール送信", _yes_no),
        password_changed=Key("パスワードの変更", _yes_no)),
    EventType.MAIL_TEST_SENT: _keys(to=Key("宛先"), ok=Key("結果", lambda value, _n: "送信できた" if value else "失敗"),
                                    error=Key("エラー")),
    EventType.MAIL_PREFERENCE_SET: _keys(urgent=Key("至急のメール", lambda value, _n: "受け取る" if value else
                                                    "受け取らない（まとめメールのみ）")),
    EventType.USER_EMAIL_SET: _keys(email=Key("メールアドレス")),
}


# --- events in words ------------------------------------------------------------------------

# the findings and self-inspection reports (lifecycle/findings, lifecycle/selfinspection)
REPORT_NAMES.update(findings="指摘事項の措置状況報告書", self_inspection="自己点検結果報告書")
DETAILS[EventType.REPORT_GENERATED].update(audit=Key("監査の名称"))


def details_pairs(type_: str, data: dict | str | None, names: Names, subject: str | None = None
                  ) -> list[tuple[str, str]]:
    """(label, value) of an event's details in the order declared; empty values left out.
    A state change comes first, as 「状態: 保管中 → 引継ぎ中」; a policy's values carry its unit."""
    if isinstance(data, str) or data is None:
        try:
            data = json.loads(data or "{}")
        except ValueError:
            return [("内容", str(data))]
    if not isinstance(data, dict):
        return [("内容", str(data))]
    declared = DETAILS.get(type_, {})
    pairs = []
    keys = dict(declared)
    if "from" in data and "to" in data and keys.get("from") is _MOVE["from"]:
        pairs.append(("状態", f"{states.label(data['from'])} → {states.label(data['to'])}"))
        keys.pop("from"), keys.pop("to")
    shown_with = {spec.department_key for key, spec in keys.items() if spec.department_key and data.get(key)}
    ordered = [k for k in keys if k in data and k not in shown_with] + [k for k in data if k not in declared]
    for key in ordered:
        value = data[key]
        if value in (None, "", [], {}):
            continue
        spec = keys.get(key) or Key(key)
        if type_ == EventType.POLICY_UPDATED and key in ("old", "new") and subject:
            pairs.append((spec.label, _policy_value_of(subject.removeprefix("policy:"), value)))
        elif spec.department_key:
            pairs.append((spec.label, names.person_in(str(value), data.get(spec.department_key))))
        else:
            pairs.append((spec.label, spec.show(value, names)))
    return pairs


def details_text(type_: str, data, names: Names, subject: str | None = None) -> str:
    """One line: 「状態: 登録済 → 保管中、件名: …、保管者: 登録 一郎（税務課）」."""
    return "、".join(f"{label}: {value}" for label, value in details_pairs(type_, data, names, subject))


def undeclared_keys(type_: str, data: dict) -> set[str]:
    """Keys of recorded details that have no Japanese label for this event type."""
    return set(data) - set(DETAILS.get(type_, {}))


_ITEM_CODE = re.compile(r"^[FMD]-\d{4}-\d{6}$")

SUBJECT_WORDS = {"mail": "メール送信の設定", "system": "システム", "scheduler": "スケジューラ", "audit": "監査ログ",
                 "mynumber:batch": "個人番号の一時保存（期限到来分の一括消去）", "user:?": "利用者（不明）"}


def subject_text(subject: str | None, names: Names) -> str:
    """What an event is about, in words: 管理番号 F-2026-000001, 利用者 監査 正（市町課）, …"""
    if not subject:
        return ""
    if subject in SUBJECT_WORDS:
        return SUBJECT_WORDS[subject]
    if _ITEM_CODE.match(subject):
        return f"管理番号 {subject}"
    prefix, _, rest = subject.partition(":")
    if prefix == "user":
        return f"利用者 {names.person(rest)}"
    if prefix == "department":
        return f"所属 {names.department(rest)}"
    if prefix == "business":
        return f"利用事務 {names.business(rest)}"
    if prefix == "policy":
        return f"ポリシー「{policy_label(rest)}」"
    if prefix == "mynumber":
        return f"個人番号の一時保存 No.{rest}"
    if prefix == "transfer":
        return f"引継ぎ 第{rest}号"
    if prefix == "destruction":
        return f"廃棄記録 {rest}"
    if prefix == "erasure-certificate":
        return f"消去証明書 No.{rest}"
    if prefix == "terminal":
        return f"端末 {rest}"
    if prefix == "terminal-use":
        return f"端末の使用伺い 第{rest}号"
    if prefix == "stocktake":
        return f"棚卸 第{rest}号"
    if prefix == "finding":
        return f"指摘事項 第{rest}号"
    if prefix == "self-inspection":
        return f"自己点検 No.{rest}"
    if prefix == "checklist":
        return f"自己点検項目 No.{rest}"
    if prefix == "contractor":
        return f"委託先 {names.contractor(rest)}"
    if prefix == "access-log":
        return f"アクセスログの取込み 第{rest}号"
    if prefix == "log-source":
        return f"アクセスログの取込み元「{rest}」"
    if prefix == "log-review":
        return f"アクセスログ検証 第{rest}号"
    if prefix == "log-record":
        return f"アクセスログの記録 No.{rest}"
    if prefix == "checkpoint":
        return f"確認点 第{rest}号"
    if prefix == "report":
        report, _, about = rest.partition(":")
        name = REPORT_NAMES.get(report, report)
        return f"{name}（管理番号 {about}）" if about else name
    return subject


def policy_label(key: str) -> str:
    policy = POLICIES.get(key)
    return policy.label if policy is not None else key


# --- rows for pages and reports ---------------------------------------------------------------

@dataclass(frozen=True)
class EventRow:
    """An audit event as pages show it: in words, with the stored JSON for the 詳細 toggle."""
    seq: int
    at: str
    type: str
    label: str
    actor: str
    subject: str
    details: str
    data: str
    hash: str

    @property
    def short_hash(self) -> str:
        return self.hash[:16]

    @property
    def forged(self) -> bool:
        return self.type == EventType.LABEL_FORGED


def names_for_events(events, datas: list[dict] | None = None, *, also=()) -> Names:
    """Names of everyone an event list mentions (actors, people in details, users as subjects),
    and of the logins in `also`, read together."""
    logins = set(also)
    for index, event in enumerate(events):
        logins.add(event.actor)
        if event.subject and event.subject.startswith("user:"):
            logins.add(event.subject[5:])
        data = datas[index] if datas is not None else _loads(event.data)
        spec = DETAILS.get(event.type, {})
        logins.update(str(data[k]) for k, key in spec.items() if key.show is _person and data.get(k))
    return load_names(logins)


def _loads(data: str) -> dict:
    try:
        value = json.loads(data or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def event_rows(events, names: Names | None = None) -> list[EventRow]:
    """The events in words, in the order given; `names`: names_for_events of these events, when
    the caller needs them too."""

    events = list(events)
    datas = [_loads(e.data) for e in events]
    names = names or names_for_events(events, datas)
    return [EventRow(seq=e.seq, at=wareki_datetime(e.at), type=e.type, label=event_label(e.type),
                     actor=names.person(e.actor), subject=subject_text(e.subject, names),
                     details=details_text(e.type, d, names, e.subject), data=e.data or "", hash=e.hash)
            for e, d in zip(events, datas)]
