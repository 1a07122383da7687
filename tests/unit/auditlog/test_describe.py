"""Every audit event reads in Japanese: each detail key any service records is declared, with a
label, under its event type (lifecycle/auditlog/describe.py)."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from lifecycle import create_app
from lifecycle.auditlog import describe
from lifecycle.audit.events import EventType


@pytest.fixture(scope="module", autouse=True)
def vocabularies(tmp_path_factory):
    """The domains register their label tables and masters when an app is made, as in `lifecycle
    serve`; no database is opened for that."""
    instance = tmp_path_factory.mktemp("describe")
    create_app({"INSTANCE_PATH": str(instance), "DATABASE_URL": f"sqlite:///{instance}/unused.db", "TESTING": True})


PACKAGE = Path(describe.__file__).resolve().parents[1]
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
#: Arguments of record_event / transition that are not details.
NOT_DETAILS = {"actor", "subject", "event"}
#: Call sites whose keys come from another module's callers' **kwargs; the world of
#: tests/web/test_what_people_see.py records them for real and checks every key it stored.
DYNAMIC = {
    ("documents/imprint.py", "record_report"),  # **details from the report views (tests/web/test_what_people_see.py)
}


def test_every_event_type_declares_its_keys_with_japanese_labels():
    assert set(EventType) == set(describe.DETAILS)
    for type_, keys in describe.DETAILS.items():
        for key, spec in keys.items():
            assert JAPANESE.search(spec.label), (type_, key, spec.label)


# --- the call sites, read from the source ---------------------------------------------------

def _event_of(node: ast.expr) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "EventType":
        return EventType[node.attr].value
    return None


class _Module:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.tree = ast.parse(path.read_text(encoding="utf-8"))
        self.functions = {n.name: n for n in ast.walk(self.tree) if isinstance(n, (ast.FunctionDef,))}
        self.parents = {}
        for parent in ast.walk(self.tree):
            for child in ast.iter_child_nodes(parent):
                self.parents[child] = parent

    def enclosing(self, node) -> ast.FunctionDef | None:
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, ast.FunctionDef):
                return node
        return None

    def calls_of(self, name: str):
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Call) and _callee(node) == name:
                yield node


def _callee(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


class Unresolved(Exception):
    pass


def _dict_keys(node: ast.expr, module: _Module, function) -> set[str]:
    """String keys of a dict expression, following local names and local helper functions."""
    if isinstance(node, ast.Dict):
        keys = set()
        for key, value in zip(node.keys, node.values):
            if key is None:
                keys |= _dict_keys(value, module, function)
            elif isinstance(key, ast.Constant) and isinstance(key.value, str):
                keys.add(key.value)
            else:
                raise Unresolved(ast.dump(key))
        return keys
    if isinstance(node, ast.IfExp):
        return _dict_keys(node.body, module, function) | _dict_keys(node.orelse, module, function)
    if isinstance(node, ast.DictComp):  # {k: v for k, v in details.items() if k != "x"}: a subset
        source = node.generators[0].iter
        if isinstance(source, ast.Call) and isinstance(source.func, ast.Attribute) and source.func.attr == "items":
            return _dict_keys(source.func.value, module, function)
        raise Unresolved("comprehension")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id == "dict" and not node.args:
            return {k.arg for k in node.keywords if k.arg}
        helper = module.functions.get(node.func.id)
        if helper is not None:
            keys = set()
            for ret in (n for n in ast.walk(helper) if isinstance(n, ast.Return) and n.value is not None):
                keys |= _dict_keys(ret.value, module, helper)
            return keys
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and not node.args:
        # **found.details(): the one method of that name in the package, if it returns a dict
        methods = [(m, f) for m in _modules() for f in m.functions.values() if f.name == node.func.attr]
        if len(methods) == 1:
            owner, method = methods[0]
            keys = set()
            for ret in (n for n in ast.walk(method) if isinstance(n, ast.Return) and n.value is not None):
                keys |= _dict_keys(ret.value, owner, method)
            return keys
    if isinstance(node, ast.Name) and function is not None:
        return _local_keys(node.id, module, function)
    raise Unresolved(ast.dump(node)[:80])


_MODULES: list = []


def _modules() -> list:
    if not _MODULES:
        _MODULES.extend(_Module(path) for path in sorted(PACKAGE.rglob("*.py")))
    return _MODULES


def _local_keys(name: str, module: _Module, function: ast.FunctionDef) -> set[str]:
    """Keys a local dict can hold: its assignments, item assignments and update() calls."""
    keys, found = set(), False
    for node in ast.walk(function):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id == name:
                    keys |= _dict_keys(node.value, module, function)
                    found = True
                elif (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name)
                      and target.value.id == name and isinstance(target.slice, ast.Constant)):
                    keys.add(target.slice.value)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "update"
              and isinstance(node.func.value, ast.Name) and node.func.value.id == name):
            keys |= {k.arg for k in node.keywords if k.arg}
            for arg in node.args:
                keys |= _dict_keys(arg, module, function)
    if not found:
        raise Unresolved(name)
    return keys


def _positional_names(function: ast.FunctionDef) -> set[str]:
    return {a.arg for a in function.args.args + function.args.kwonlyargs}


def _call_keys(call: ast.Call, module: _Module, function, *, skip=frozenset()) -> set[str]:
    keys = set()
    for keyword in call.keywords:
        if keyword.arg is None:
            keys |= _dict_keys(keyword.value, module, function)
        elif keyword.arg not in NOT_DETAILS and keyword.arg not in skip:
            keys.add(keyword.arg)
    return keys


def _event_literal(call: ast.Call) -> ast.expr | None:
    if _callee(call) == "record_event":
        return call.args[0] if call.args else None
    return next((k.value for k in call.keywords if k.arg == "event"), None)


def _literal_types(node: ast.expr | None) -> set[str]:
    if isinstance(node, ast.IfExp):
        types = {_event_of(node.body), _event_of(node.orelse)}
    else:
        types = {_event_of(node)} if node is not None else {None}
    if None in types:
        raise Unresolved(ast.dump(node)[:80] if node is not None else "no event")
    return types


def _forwarded(call: ast.Call, function) -> bool:
    """Whether the call passes on its function's event parameter or **kwargs."""
    if function is None:
        return False
    params = _positional_names(function)
    event = _event_literal(call)
    kwarg = function.args.kwarg.arg if function.args.kwarg else None
    return (isinstance(event, ast.Name) and event.id in params) or any(
        k.arg is None and isinstance(k.value, ast.Name) and k.value.id == kwarg for k in call.keywords)


def _sites(call: ast.Call, module: _Module, function) -> list[tuple[set[str], set[str]]]:
    """(event types, keys) the call records; a call that forwards its function's event or
    **kwargs is read once per caller of that function in the module, with what that caller passes."""
    if not _forwarded(call, function):
        return [(_literal_types(_event_literal(call)), _call_keys(call, module, function))]
    kwarg = function.args.kwarg.arg if function.args.kwarg else None
    own = set()
    for keyword in call.keywords:
        if keyword.arg is None:
            if not (isinstance(keyword.value, ast.Name) and keyword.value.id == kwarg):
                own |= _dict_keys(keyword.value, module, function)
        elif keyword.arg not in NOT_DETAILS:
            own.add(keyword.arg)
    event = _event_literal(call)
    results = []
    callers = list(module.calls_of(function.name))
    if not callers:
        raise Unresolved(function.name)
    for caller in callers:
        if isinstance(event, ast.Name) and event.id in _positional_names(function):
            types = _literal_types(next((k.value for k in caller.keywords if k.arg == event.id), None))
        else:
            types = _literal_types(event)
        passed = _call_keys(caller, module, module.enclosing(caller), skip=_positional_names(function)) \
            if kwarg else set()
        results.append((types, own | passed))
    return results


def _call_sites():
    """(where, event types, detail keys) of every record_event and transition call, or
    (where, None, None) for one whose keys are only known at run time."""
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        module = _Module(path)
        calls = [*module.calls_of("record_event"), *module.calls_of("transition"), *module.calls_of("return_from_missing")]
        for call in calls:
            function = module.enclosing(call)
            where = (relative, function.name if function else "")
            if relative == "states.py" and where[1] in ("transition", "return_from_missing"):
                continue  # the definitions forwarding **details to record_event
            try:
                found = _sites(call, module, function)
            except Unresolved:
                yield where, None, None
                continue
            for types, keys in found:
                moves = _callee(call) in ("transition", "return_from_missing")
                yield where, types, keys | ({"from", "to"} if moves else set())


def test_every_key_a_service_records_has_a_japanese_label():
    sites = list(_call_sites())
    assert len(sites) > 50  # the walk found the services
    missing, dynamic = [], set()
    for where, types, keys in sites:
        if types is None:
            dynamic.add(where)
            continue
        for type_ in types:
            for key in sorted(keys - set(describe.DETAILS[type_])):
                missing.append(f"{where[0]} {where[1]}: {type_} {key}")
    assert not missing, "keys without a Japanese label in lifecycle/auditlog/describe.py:\n" + "\n".join(missing)
    assert dynamic == DYNAMIC, "call sites whose keys this test cannot read; list them in DYNAMIC only if " \
                               "test_every_key_recorded_in_a_full_world_is_declared records them"


# --- showing -----------------------------------------------------------------------------------

NAMES = describe.Names(users={"registrar": ("登録 一郎", "税務課"), "auditor": ("監査 正", "市町課")},
                       departments={"zeimu": "税務課", "shicho": "市町課"},
                       businesses={"passport": "旅券の発給に関する事務"}, contractors={"1": "九州リース株式会社"})


def test_a_hand_off_reads_as_names_and_departments():
    data = {"from": "in_custody", "to": "in_transfer", "transfer": 1, "giver": "registrar",
            "giver_department": "zeimu", "receiver": "auditor", "receiver_department": "shicho", "note": None}
    text = describe.details_text(EventType.TRANSFER_REQUESTED, data, NAMES)
    assert text == "状態: 保管中 → 引継ぎ中、引継ぎ: 第1号、引継ぎ元: 登録 一郎（税務課）、引継ぎ先: 監査 正（市町課）"


def test_a_person_s_department_is_the_one_recorded_with_the_event():
    """Someone who has since moved is shown in the department the event recorded."""
    registered = describe.details_text(EventType.ITEM_REGISTERED, {
        "kind": "form", "title": "照会結果", "holder": "registrar", "department": "shicho"}, NAMES)
    assert registered == "種別: 帳票、件名: 照会結果、保管者: 登録 一郎（市町課）"


def test_dates_layouts_and_minutes_read_in_japanese():
    returned = describe.details_text(EventType.MEDIUM_RETURNED, {
        "from": "provided", "to": "returned", "recipient": "県警", "due_back": "2026-12-01",
        "returned_on": "2026-12-04", "days_late": 3, "retention_until": "2027-01-03"}, NAMES)
    assert "返却予定日: 令和8年12月1日" in returned and "返却の遅れ: 3日" in returned
    assert "due_back" not in returned and "days_late" not in returned
    on_time = describe.details_text(EventType.MEDIUM_RETURNED, {"days_late": 0}, NAMES)
    assert on_time == "返却の遅れ: なし（期限内）"
    printed = describe.details_text(EventType.LABEL_PRINTED, {"layout": "a4-12", "batch": 7}, NAMES)
    assert printed == "様式: A4 12面（2列×6段）、同時に印刷した枚数: 7枚"
    kept = describe.details_text(EventType.MY_NUMBER_RETAINED, {"retain_minutes": 4320, "reason": "照会"}, NAMES)
    assert "保存期間: 3日" in kept


def test_a_report_s_from_and_to_are_dates_not_states():
    text = describe.details_text(EventType.REPORT_GENERATED, {
        "report": "ledger", "format": "csv", "kind": "form", "from": "2026-04-01", "to": None, "rows": 1200}, NAMES)
    assert text == "帳票: 管理簿、形式: CSV、件数: 1,200件、管理簿: 帳票、期間（開始）: 令和8年4月1日"


@pytest.mark.parametrize("subject, words", [
    ("user:auditor", "利用者 監査 正（市町課）"),
    ("mynumber:2", "個人番号の一時保存 No.2"),
    ("F-2026-000001", "管理番号 F-2026-000001"),
    ("department:zeimu", "所属 税務課"),
    ("business:passport", "利用事務 旅券の発給に関する事務"),
    ("transfer:3", "引継ぎ 第3号"),
    ("contractor:1", "委託先 九州リース株式会社"),
    ("report:custody:F-2026-000001", "保管履歴報告書（管理番号 F-2026-000001）"),
    ("system", "システム"),
    (None, ""),
])
def test_subjects_read_in_words(subject, words):
    assert describe.subject_text(subject, NAMES) == words


def test_a_policy_change_reads_with_the_policy_s_unit():
    assert describe.details_text(EventType.POLICY_UPDATED, {"old": 30, "new": 60}, NAMES,
                                 "policy:form.retention_days") == "変更前: 30日、変更後: 60日"
    assert describe.details_text(EventType.POLICY_UPDATED, {"old": 4320, "new": 1440}, NAMES,
                                 "policy:mynumber.default_minutes") == "変更前: 3日、変更後: 1日"


def test_a_policy_subject_reads_as_its_label():
    assert describe.subject_text("policy:form.retention_days", NAMES) == \
        "ポリシー「帳票の保存期間（出力日から廃棄までの日数）」"


def test_people_read_as_name_and_department_and_systems_by_their_japanese_names():
    assert NAMES.person("registrar") == "登録 一郎（税務課）"
    assert NAMES.person("system:cli") == "システム（コマンド）"
    assert NAMES.person("system:scheduler") == "システム（自動処理）"
    assert NAMES.person("anonymous") == describe.UNAUTHENTICATED


def test_an_undeclared_key_is_still_shown_and_is_reported():
    assert describe.undeclared_keys(EventType.LABEL_PRINTED, {"layout": "a4-12", "colour": "red"}) == {"colour"}
    assert "colour: red" in describe.details_text(EventType.LABEL_PRINTED, json.dumps({"colour": "red"}), NAMES)
