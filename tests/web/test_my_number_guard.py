"""No 個人番号 in any free text (issue 26), over HTTP: every free-text field the OpenAPI document
declares and every text field of every page form refuses a valid number however it is written,
and the refusal changes nothing.

The fields are discovered, not listed: a field added later to a request body or a form class is
exercised by the same tests. What the tests cannot discover is how to make an otherwise valid
request to a new endpoint or form; RECIPES and FORM_RECIPES say that, and a test fails when it
meets an endpoint or form that has none.
"""
from __future__ import annotations

import importlib
import importlib.util
import io
import pkgutil
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from flask_wtf import FlaskForm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wtforms import PasswordField, StringField
from wtforms.fields.core import UnboundField

import lifecycle
from lifecycle.api import API_MODULES
from lifecycle.api import openapi as _openapi
from lifecycle.audit.services import head
from lifecycle.clock import today_jst
from lifecycle.contractors.services import find_by_name
from lifecycle.custody import services as custody
from lifecycle.destruction.services import create_batch
from lifecycle.devices.services import request_erasure, submit_certificate
from lifecycle.extensions import db
from lifecycle.checkdigit import check_digit
from lifecycle.mynumber.scan import find_stored_numbers
from lifecycle.mynumber.services import record_copy
from lifecycle.seeds import DEMO_PASSWORD
from tests import factories
from tests.unit.destruction.test_services import pdf_bytes
from tests.unit.devices.test_services import certificate_data

for _name in ("audit", *API_MODULES):  # the document is complete once every route has registered
    importlib.import_module(f"lifecycle.api.{_name}")

MESSAGE = "個人番号と思われる12桁の数字が含まれています"
SEPARATORS = [" ", "\u3000", "\u00a0", "\t", "-", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2015",
              "\u2212", "\uff0d", "\u30fc", "\uff70", ".", "\uff0e", "\u30fb", "/", "\uff0f", ",", "\uff0c", "\u3001"]
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
A_NUMBER = "615032829427"  # valid, for bodies that need one where it belongs


def _write(first11: str, wide: list[bool], gaps: list[str]) -> str:
    number = first11 + str(check_digit(first11))
    chars = [d.translate(FULL_WIDTH) if w else d for d, w in zip(number, wide)]
    return chars[0] + "".join(gap + char for gap, char in zip(gaps, chars[1:]))


#: Text a person might type, without control characters (refused on their own, before the number).
_AROUND = st.text(st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")), max_size=10)
numbers_in_text = st.builds(
    lambda before, number, after: before + number + after, _AROUND,
    st.builds(_write, st.integers(0, 10**11 - 1).map(lambda n: f"{n:011d}"),
              st.lists(st.booleans(), min_size=12, max_size=12),
              st.lists(st.text(st.sampled_from(SEPARATORS), max_size=2), min_size=11, max_size=11)),
    _AROUND)

PER_FIELD = settings(max_examples=25, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _unchanged_and_nothing_stored(before) -> None:
    db.session.rollback()
    assert head() == before
    assert [str(hit) for hit in find_stored_numbers()] == []


# ------------------------------------------------------------------------ the JSON API

def free_text_paths(schema: dict, prefix: tuple = ()):
    """Paths to the free-text strings of a request schema: type string without enum, format or
    pattern, in nested objects and in objects inside arrays too."""
    for name, prop in schema.get("properties", {}).items():
        path = prefix + (name,)
        if prop.get("type") == "object":
            yield from free_text_paths(prop, path)
        elif prop.get("type") == "array" and prop.get("items", {}).get("type") == "object":
            yield from free_text_paths(prop["items"], path + (0,))
        elif prop.get("type") == "string" and not {"enum", "format", "pattern"} & prop.keys():
            yield path


def api_fields(document: dict):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for content_type, content in operation.get("requestBody", {}).get("content", {}).items():
                for field_path in free_text_paths(content["schema"]):
                    yield method, path, content_type == "multipart/form-data", field_path


#: The 個人番号 copy's own field: the one place a number is meant to go.
NUMBER_FIELDS = {("post", "/api/v1/my-number-copies", ("my_number",))}
API_FIELDS = [f for f in api_fields(_openapi.document()) if f[:2] + (f[3],) not in NUMBER_FIELDS]


@dataclass
class Call:
    """An otherwise valid request: who makes it, where, with which body (and upload)."""
    login: str
    url: str
    body: dict
    files: dict = field(default_factory=dict)


def _form(world):
    return factories.form(world["registrar"])


def _pending(world):
    return custody.request_transfer(world["registrar"], _form(world).code, "registrar2")


def _batch(world):
    return create_batch(world["registrar"], items=[_form(world).code], method="shred", place="税務課 執務室")


def _device_to_erase(world):
    device = factories.device(world["admin"])
    request_erasure(world["admin"], device.code, "lease_end")
    return device


def _copy(world):
    return record_copy(world["bulk"], {"my_number": A_NUMBER, "provided_to": "〇〇市 市民課", "reason": "再送に備えて"})


def _unconfirmed(world) -> str:
    """A form of a registrar forced out of the role: 所在確認待ち under 税務課's security manager."""
    from lifecycle.people.services import leave
    if "unconfirmed" not in world:  # asked again for another field: the same request
        world["unconfirmed"] = _form(world).code
        leave(world["admin"], "registrar", today_jst(), "強制離任の試験", force=True)
    return world["unconfirmed"]


def _grant_request(world):
    from lifecycle.people.services import request_grant
    return request_grant(world["admin"], "security", "bulk_operator", "一括提供の担当追加")


def _contractor_url(world, tail: str) -> str:
    return f"/api/v1/contractors/{factories.contractor(world['admin']).id}/{tail}"


def _terminal(world) -> str:
    """A terminal of 税務課 (registered once per test)."""
    from lifecycle.terminals import services as terminals

    found = terminals.find_terminal("GUARD-CS01")
    if found is None:
        found = terminals.register_terminal(world["admin"], {"code": "GUARD-CS01", "department": "zeimu",
                                                             "location": "税務課 執務室"})
    return found.code


def _terminal_use(world, approved: bool = False) -> int:
    """A 使用伺い of 登録 一郎 for today, on the terminal above."""
    from lifecycle.terminals import services as terminals

    today = today_jst().isoformat()
    use = terminals.request_use(world["registrar"], {"terminal": _terminal(world), "business": "car-tax",
                                                     "starts_at": f"{today}T00:01", "ends_at": f"{today}T23:59"})
    if approved:
        terminals.approve_use(world["security2"], use.id, {"no_camera_phone_usb": True})
    return use.id


def _register(world, field_path):
    """The kind of item whose registration reads the field."""
    due = (today_jst() + timedelta(days=14)).isoformat()
    bodies = [
        ("registrar", {"kind": "form", "title": "課税台帳", "business": "car-tax", "sheets": 3,
                       "contains_my_number": False, "location": "税務課 書庫A-3", "terminal": "税務-端末01"}),
        ("bulk", {"kind": "medium", "title": "旅券 提供データ", "business": "passport", "media_type": "CD-R",
                  "record_count": 1200, "recipient": "教育委員会", "encrypted": True, "due_back": due}),
        ("admin", {"kind": "device", "title": "業務端末", "device_type": "業務端末", "asset_tag": "ASSET-G1",
                   "model": "FMV-D7000", "serial": "SN-G1", "lessor": "九州リース株式会社",
                   "lease_contract": "L-2021-0042", "lease_start": "2021-04-01", "lease_end": "2027-03-31",
                   "location": "市町課 執務室",
                   "storage": [{"media_type": "SSD", "make": "Samsung", "model": "PM9A1", "serial": "S-G1"}]}),
    ]
    for login, body in bodies:
        if field_path[0] in body:
            return Call(login, "/api/v1/items", body)
    pytest.fail(f"POST /api/v1/items: no kind of item in _register reads {field_path[0]!r}; add it there")


def _finding(world, *, answered: bool = False) -> int:
    """A finding of 税務課, with its plan (and its action reported, if `answered`)."""
    from lifecycle.findings import services as findings

    finding = findings.raise_finding(world["auditor"], source="internal_audit", department_code="zeimu",
                                     summary="鍵の管理簿が未更新", severity="low",
                                     due_on=(today_jst() + timedelta(days=30)).isoformat())
    findings.submit_plan(world["security2"], finding.id, {"plan": "毎日確認する"})
    if answered:
        findings.report_action(world["security2"], finding.id, {"action": "確認欄を設けた"},
                               [(io.BytesIO(pdf_bytes()), "evidence.pdf")])
    return finding.id


def _self_inspection(world, *, filed: bool = False):
    """税務課's self-inspection of this 年度 (every item answered and filed, if `filed`)."""
    from lifecycle.selfinspection import services as selfinspection

    inspection = selfinspection.open_inspection(world["security2"])
    if filed:
        for item in selfinspection.checklist():
            selfinspection.answer_item(world["security2"], inspection.id, item.id, {"answer": "yes"},
                                       (io.BytesIO(pdf_bytes()), "e.pdf") if item.evidence_required else None)
        selfinspection.file_inspection(world["security2"], inspection.id)
    return selfinspection.get_inspection(inspection.id)


def _finding_plain(world) -> int:
    """A finding of 税務課 just recorded (no plan yet)."""
    from lifecycle.findings import services as findings

    return findings.raise_finding(world["auditor"], source="internal_audit", department_code="zeimu",
                                  summary="鍵の管理簿が未更新", severity="low",
                                  due_on=(today_jst() + timedelta(days=30)).isoformat()).id


def _answer_url(world) -> str:
    from lifecycle.selfinspection import services as selfinspection

    inspection = _self_inspection(world)
    return f"/api/v1/self-inspections/{inspection.id}/items/{selfinspection.checklist()[0].id}"


RECIPES = {
    ("post", "/api/v1/findings"): lambda world, _: Call("auditor", "/api/v1/findings", {
        "source": "internal_audit", "department": "zeimu", "summary": "鍵の管理簿が未更新", "severity": "low",
        "due_on": (today_jst() + timedelta(days=30)).isoformat(), "audit": "令和8年度 内部監査",
        "refs": [{"kind": "terminal", "ref": "ZEIMU-CS01"}]}),
    ("post", "/api/v1/findings/{finding_id}/plan"): lambda world, _: Call(
        "security2", f"/api/v1/findings/{_finding_plain(world)}/plan", {"plan": "毎日確認する"}),
    ("post", "/api/v1/findings/{finding_id}/action"): lambda world, _: Call(
        "security2", f"/api/v1/findings/{_finding(world)}/action", {"action": "確認欄を設けた"},
        {"file": pdf_bytes}),
    ("post", "/api/v1/findings/{finding_id}/confirm"): lambda world, _: Call(
        "security", f"/api/v1/findings/{_finding(world, answered=True)}/confirm", {"note": "現地で確認した"}),
    ("post", "/api/v1/findings/{finding_id}/send-back"): lambda world, _: Call(
        "security", f"/api/v1/findings/{_finding(world, answered=True)}/send-back", {"reason": "記入漏れ"}),
    ("post", "/api/v1/self-inspections"): lambda world, _: Call(
        "security2", "/api/v1/self-inspections", {"department": "zeimu"}),
    ("post", "/api/v1/self-inspections/{inspection_id}/items/{item_id}"): lambda world, _: Call(
        "security2", _answer_url(world), {"answer": "no", "note": "未実施"}),
    ("post", "/api/v1/self-inspection-answers/{answer_id}/sample"): lambda world, _: Call(
        "auditor", f"/api/v1/self-inspection-answers/{_self_inspection(world, filed=True).answers[0].id}/sample",
        {"supported": False, "note": "裏付けなし"}),
    ("post", "/api/v1/items"): _register,
    ("post", "/api/v1/users/{login}/training"): lambda world, _: Call(
        "admin", "/api/v1/users/registrar/training", {"completed_on": today_jst().isoformat(), "course": "住基ネット研修"}),
    ("post", "/api/v1/users/{login}/leave"): lambda world, _: Call(
        "admin", "/api/v1/users/auditor/leave", {"effective_on": today_jst().isoformat(), "reason": "退職"}),
    ("post", "/api/v1/users/{login}/department"): lambda world, _: Call(
        "admin", "/api/v1/users/auditor/department",
        {"department": "zeimu", "effective_on": today_jst().isoformat(), "reason": "人事異動"}),
    ("post", "/api/v1/users/{login}/hand-off"): lambda world, _: Call(
        "admin", f"/api/v1/users/registrar/hand-off?item={_form(world).code}", {"to": "security2", "note": "一括引継ぎ"}),
    ("post", "/api/v1/users/{login}/grant-requests"): lambda world, _: Call(
        "admin", "/api/v1/users/security/grant-requests", {"role": "bulk_operator", "reason": "一括提供の担当追加"}),
    ("post", "/api/v1/grant-requests/{request_id}/refuse"): lambda world, _: Call(
        "admin2", f"/api/v1/grant-requests/{_grant_request(world).id}/refuse", {"reason": "研修未了"}),
    ("post", "/api/v1/rights-review/decisions"): lambda world, _: Call(
        "security2", "/api/v1/rights-review/decisions",
        {"login": "registrar", "role": "registrar", "decision": "revoked", "reason": "担当替えのため"}),
    ("post", "/api/v1/items/{code}/confirm-custody"): lambda world, _: Call(
        "security2", f"/api/v1/items/{_unconfirmed(world)}/confirm-custody", {"location": "税務課 金庫", "note": "確認済み"}),
    ("post", "/api/v1/items/{code}/transfers"): lambda world, _: Call(
        "registrar", f"/api/v1/items/{_form(world).code}/transfers", {"to": "registrar2", "note": "書庫移転のため"}),
    ("post", "/api/v1/transfers/{transfer_id}/accept"): lambda world, _: Call(
        "registrar2", f"/api/v1/transfers/{_pending(world).id}/accept", {"location": "旅券課 書庫"}),
    ("post", "/api/v1/transfers/{transfer_id}/reject"): lambda world, _: Call(
        "registrar2", f"/api/v1/transfers/{_pending(world).id}/reject", {"reason": "担当外のため"}),
    ("post", "/api/v1/transfers/{transfer_id}/cancel"): lambda world, _: Call(
        "registrar", f"/api/v1/transfers/{_pending(world).id}/cancel", {"reason": "宛先誤り"}),
    ("post", "/api/v1/items/{code}/provide"): lambda world, _: Call(
        "bulk", f"/api/v1/items/{factories.medium(world['bulk']).code}/provide", {"recipient": "教育委員会"}),
    ("post", "/api/v1/destructions"): lambda world, _: Call(
        "registrar", "/api/v1/destructions",
        {"items": [_form(world).code], "method": "shred", "din_level": "P-4", "place": "税務課 執務室"}),
    ("post", "/api/v1/destructions/{batch_id}/cancel"): lambda world, _: Call(
        "registrar", f"/api/v1/destructions/{_batch(world).id}/cancel", {"reason": "対象の誤り"}),
    ("post", "/api/v1/items/{code}/erasure-request"): lambda world, _: Call(
        "admin", f"/api/v1/items/{factories.device(world['admin']).code}/erasure-request",
        {"reason": "lease_end", "note": "リース満了"}),
    ("post", "/api/v1/items/{code}/erasure-certificates"): lambda world, _: Call(
        "bulk", f"/api/v1/items/{_device_to_erase(world).code}/erasure-certificates", certificate_data(),
        {"file": pdf_bytes}),
    ("post", "/api/v1/erasure-certificates/{cert_id}/reject"): lambda world, _: Call(
        "security", "/api/v1/erasure-certificates/{}/reject".format(submit_certificate(
            world["bulk"], _device_to_erase(world).code, certificate_data(), io.BytesIO(pdf_bytes()),
            "erasure.pdf").id), {"reason": "検証結果の記載漏れ"}),
    ("post", "/api/v1/contractors"): lambda world, _: Call("admin", "/api/v1/contractors", {
        "name": "肥後データ消去株式会社", "services": ["erasure"],
        "contract": {"number": "K-2026-01", "start": "2026-04-01", "end": "2027-03-31", "clauses": ["pledge"]}}),
    ("post", "/api/v1/contractors/{contractor_id}/contracts"): lambda world, _: Call(
        "admin", _contractor_url(world, "contracts"),
        {"number": "K-2027-01", "start": "2027-04-01", "end": "2028-03-31", "clauses": "confidentiality,pledge"}),
    ("post", "/api/v1/contractors/{contractor_id}/pledges"): lambda world, _: Call(
        "admin", _contractor_url(world, "pledges"),
        {"received_on": "2001-05-01", "fiscal_year": "2001", "signatories": "消去 作業員"}),
    ("post", "/api/v1/contractors/{contractor_id}/subcontractors"): lambda world, _: Call(
        "admin", _contractor_url(world, "subcontractors"),
        {"name": "再委託 株式会社", "services": ["erasure"], "approved_on": "2026-04-01", "note": "事前承認"}),
    ("post", "/api/v1/contractors/{contractor_id}/inspections"): lambda world, _: Call(
        "admin", _contractor_url(world, "inspections"),
        {"on": "2026-04-01", "by": "監査 正", "observed": "保管庫", "findings": "なし", "follow_up": "なし"}),
    ("post", "/api/v1/terminals"): lambda world, _: Call("admin", "/api/v1/terminals", {
        "code": "GUARD-CS02", "department": "zeimu", "location": "税務課 執務室", "name": "CS端末2号機",
        "device": factories.device(world["admin"]).code}),
    ("post", "/api/v1/terminals/{terminal_code}/device"): lambda world, _: Call(
        "admin", f"/api/v1/terminals/{_terminal(world)}/device", {"device": factories.device(world["admin"]).code}),
    ("post", "/api/v1/terminals/{terminal_code}/active"): lambda world, _: Call(
        "admin", f"/api/v1/terminals/{_terminal(world)}/active", {"active": False, "reason": "機器更新による撤去"}),
    ("post", "/api/v1/terminal-uses"): lambda world, _: Call("registrar", "/api/v1/terminal-uses", {
        "terminal": _terminal(world), "business": "car-tax", "starts_at": f"{today_jst().isoformat()}T09:00",
        "ends_at": f"{today_jst().isoformat()}T10:00", "purpose": "課税台帳の照会"}),
    ("post", "/api/v1/terminal-uses/{use_id}/refuse"): lambda world, _: Call(
        "security2", f"/api/v1/terminal-uses/{_terminal_use(world)}/refuse", {"reason": "利用事務の確認が必要"}),
    ("post", "/api/v1/terminal-uses/{use_id}/cancel"): lambda world, _: Call(
        "registrar", f"/api/v1/terminal-uses/{_terminal_use(world)}/cancel", {"reason": "日程変更"}),
    ("post", "/api/v1/terminal-uses/{use_id}/close"): lambda world, _: Call(
        "registrar", f"/api/v1/terminal-uses/{_terminal_use(world, approved=True)}/close",
        {"output_note": "照会結果の控え"}),
    ("post", "/api/v1/access-logs"): lambda world, _: Call(
        "admin", "/api/v1/access-logs", {"source": "default"}, {"file": _log_csv}) if _terminal(world) else None,
    ("post", "/api/v1/log-reviews"): lambda world, _: Call(
        "auditor", "/api/v1/log-reviews", {"quarter": _next_quarter_logs(world)}),
    ("post", "/api/v1/log-review-records/{sampled_id}/mark"): lambda world, _: Call(
        "auditor", f"/api/v1/log-review-records/{_sampled(world)}/mark", {"mark": "query", "note": "照会の理由を確認"}),
    ("post", "/api/v1/log-review-records/{sampled_id}/answer"): lambda world, _: Call(
        "security2", f"/api/v1/log-review-records/{_sampled(world, queried=True)}/answer", {"answer": "課税資料の確認"}),
    ("post", "/api/v1/log-review-hits/{hit_id}/decide"): lambda world, _: Call(
        "auditor", f"/api/v1/log-review-hits/{_log_hit(world)}/decide", {"decision": "dismissed", "reason": "届出あり"}),
    ("post", "/api/v1/log-reviews/lookbacks"): lambda world, _: Call("auditor", "/api/v1/log-reviews/lookbacks", {
        "hit": _confirmed_hit(world), "operator": "registrar", "date_from": "2026-07-01", "date_to": "2026-09-30",
        "reason": "夜間の操作が確認されたため"}),
    ("post", "/api/v1/log-review-raises"): lambda world, _: Call(
        "auditor", "/api/v1/log-review-raises", {"department": "zeimu", "reason": "監査での指摘のため"}),
    ("post", "/api/v1/stocktakes"): lambda world, _: Call("security2", "/api/v1/stocktakes", {
        "department": "zeimu", "kinds": ["form"], "location": "税務課 書庫A-3",
        "due": (today_jst() + timedelta(days=7)).isoformat()}),
    ("post", "/api/v1/stocktakes/{stocktake_id}/scans"): lambda world, _: Call(
        "registrar", f"/api/v1/stocktakes/{_stocktake(world)[0]}/scans", {"scan": _form(world).code,
                                                                          "location": "税務課 書庫A-3"}),
    ("post", "/api/v1/stocktakes/{stocktake_id}/location-corrections"): lambda world, _: Call(
        "registrar", "/api/v1/stocktakes/{}/location-corrections".format(*_stocktake(world, wrong=True)),
        {"code": _stocktake(world, wrong=True)[1], "location": "税務課 書庫B"}),
    ("post", "/api/v1/stocktakes/{stocktake_id}/holder-corrections"): lambda world, _: Call(
        "registrar", "/api/v1/stocktakes/{}/holder-corrections".format(*_stocktake(world, holder_left=True)),
        {"code": _stocktake(world, holder_left=True)[1]}),
    ("post", "/api/v1/stocktakes/{stocktake_id}/cancel"): lambda world, _: Call(
        "security2", f"/api/v1/stocktakes/{_stocktake(world)[0]}/cancel", {"reason": "計画の誤り"}),
    ("post", "/api/v1/stocktakes/{stocktake_id}/sign"): lambda world, _: Call(
        "security2", f"/api/v1/stocktakes/{_stocktake(world, closed=True)[0]}/sign", {"comment": "確認済み"}),
    ("post", "/api/v1/items/{code}/found"): lambda world, _: Call(
        "registrar", f"/api/v1/items/{_stocktake(world, closed=True)[1]}/found", {"reason": "書庫Bで発見"}),
    ("post", "/api/v1/items/{code}/write-off"): lambda world, _: Call(
        "security", f"/api/v1/items/{_stocktake(world, closed=True)[1]}/write-off", {"reason": "捜索したが見つからない"}),
    ("post", "/api/v1/my-number-copies"): lambda world, _: Call(
        "bulk", "/api/v1/my-number-copies", {"my_number": A_NUMBER, "provided_to": "〇〇市 市民課",
                                             "reason": "再送に備えて"}),
    ("post", "/api/v1/my-number-copies/{copy_id}/reveal"): lambda world, _: Call(
        "security", f"/api/v1/my-number-copies/{_copy(world).id}/reveal", {"reason": "再送のため"}),
    ("post", "/api/v1/my-number-copies/{copy_id}/purge"): lambda world, _: Call(
        "bulk", f"/api/v1/my-number-copies/{_copy(world).id}/purge", {"reason": "提供済みのため"}),
}


def _stocktake(world, *, wrong: bool = False, closed: bool = False, holder_left: bool = False) -> tuple[int, str]:
    """(stocktake id, item code) of 税務課, made once per test and kind: open; with an item read at
    another place (wrong); with an item read whose holder has left (holder_left); or closed, the
    item 所在不明."""
    from lifecycle.auth.services import create_user, set_active
    from lifecycle.stocktake import services as stocktake

    key = ("stocktake", wrong, closed, holder_left)
    if key not in world:
        holder = world["registrar"]
        if holder_left:
            holder = create_user(world["admin"], "guard-leaver", "退職 三郎", "zeimu", roles=["registrar"],
                                 trained_on=today_jst())
        code = factories.form(holder, location="税務課 書庫A-3").code
        if holder_left:
            set_active(world["admin"], "guard-leaver", False)
        planned = stocktake.plan_stocktake(world["security2"], {
            "department": "zeimu", "kinds": ["form"], "due": (today_jst() + timedelta(days=7)).isoformat(),
            "scanners": ["registrar"]})
        if wrong:
            stocktake.record_scan(world["registrar"], planned.id, code, location="税務課 倉庫")
        if holder_left:
            stocktake.record_scan(world["registrar"], planned.id, code)
        if closed:
            stocktake.close_stocktake(world["security2"], planned.id)
        world[key] = (planned.id, code)
    return world[key]


_LOG_FILES = iter(range(1, 10**9))


def _log_csv() -> bytes:
    """An access-log file of 税務課's terminal, new each time (a file is imported once)."""
    lines = "".join(f"2026-{m:02d}-{d:02d} 10:00:00,GUARD-CS01,registrar,自動車税 {next(_LOG_FILES)},照会,1\n"
                    for m in (7, 8, 9) for d in range(1, 4))
    return ("accessed_at,terminal,operator,business,operation,records\n" + lines).encode()


def _log_review(world):
    """A drawn review of 2026Q3 over one imported file (once per test)."""
    from lifecycle.logreview import imports as log_imports
    from lifecycle.logreview import services as log_review

    if "log_review" not in world:
        _terminal(world)
        log_imports.import_log(world["admin"], io.BytesIO(_log_csv()), "guard.csv")
        world["log_review"] = log_review.open_review(world["auditor"], "2026Q3")
    return world["log_review"]


def _next_quarter_logs(world) -> str:
    """2026Q4's logs imported (once per test), for drawing that quarter."""
    from lifecycle.logreview import imports as log_imports

    if "q4_logs" not in world:
        _log_review(world)
        data = (_log_csv().replace(b"2026-07-", b"2026-10-").replace(b"2026-08-", b"2026-11-")
                .replace(b"2026-09-", b"2026-12-"))
        world["q4_logs"] = log_imports.import_log(world["admin"], io.BytesIO(data), "q4.csv")
    return "2026Q4"


def _sampled(world, queried: bool = False) -> int:
    from lifecycle.logreview import services as log_review

    row = log_review.sample_rows(_log_review(world).samples[0])[0]
    if queried and row.mark != "query":
        log_review.mark_record(world["auditor"], row.id, "query", "照会の理由を確認してください")
    return row.id


def _confirmed_hit(world) -> int:
    from lifecycle.logreview import services as log_review

    if "confirmed_hit" not in world:
        world["confirmed_hit"] = log_review.decide_hit(world["auditor"], _log_hit(world), "confirmed").id
    return world["confirmed_hit"]


def _log_hit(world) -> int:
    from lifecycle.logreview import services as log_review

    _log_review(world)
    return log_review.hit_rows(status="candidate", limit=1)[0].id


def _set(body: dict, path: tuple, value) -> dict:
    """A copy of the body with the value at path (objects and lists created as needed)."""
    import copy

    body = copy.deepcopy(body)
    target = body
    for key, following in zip(path, path[1:]):
        if isinstance(target, list):
            while len(target) <= key:
                target.append({})
            target = target[key]
        else:
            target = target.setdefault(key, [] if isinstance(following, int) else {})
    if isinstance(target, list):
        target.append(value)
    else:
        target[path[-1]] = value
    return body


@pytest.mark.parametrize("method,path,multipart,field_path", API_FIELDS,
                         ids=[f"{m} {p} {'.'.join(map(str, f))}" for m, p, _, f in API_FIELDS])
@PER_FIELD
@given(text=numbers_in_text)
def test_every_free_text_field_of_the_api_refuses_a_my_number(client, api, world, prepared, method, path,
                                                              multipart, field_path, text):
    if not prepared:
        served = client.get("/api/v1/openapi.json").get_json()
        schema = next(iter(served["paths"][path][method]["requestBody"]["content"].values()))["schema"]
        assert field_path in set(free_text_paths(schema))
        recipe = RECIPES.get((method, path))
        if recipe is None:
            pytest.fail(f"{method.upper()} {path} has the free-text field {'.'.join(map(str, field_path))} "
                        "but RECIPES has no otherwise valid request for it: add one")
        call = recipe(world, field_path)
        prepared.update(call=call, client=api(call.login))
    call, caller = prepared["call"], prepared["client"]
    db.session.rollback()
    before = head()
    response = _post(caller, call, _set(call.body, field_path, text), multipart)
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    error = response.get_json()["error"]
    assert error["code"] == "my_number_in_text" and MESSAGE in error["message"]
    _unchanged_and_nothing_stored(before)


def _post(caller, call: Call, body: dict, multipart: bool):
    if not multipart:
        return caller.post(call.url, json=body)
    files = {name: (io.BytesIO(make()), "upload.pdf") for name, make in call.files.items()}
    return caller.post(call.url, data={**body, **files}, content_type="multipart/form-data")


@pytest.mark.parametrize("method,path", sorted({(m, p) for m, p, _, _ in API_FIELDS}))
def test_each_api_recipe_is_valid_as_it_is(api, world, method, path):
    """So that a refusal above is the number's, not that of a recipe gone stale."""
    if (method, path) not in RECIPES:
        pytest.fail(f"add {method.upper()} {path} to RECIPES")
    tried = set()
    for _, _, multipart, field_path in [f for f in API_FIELDS if f[:2] == (method, path)]:
        call = RECIPES[(method, path)](world, field_path)
        if (call.login, call.url) in tried:
            continue
        tried.add((call.login, call.url))
        db.session.rollback()
        before = head()
        response = _post(api(call.login), call, call.body, multipart)
        assert response.status_code < 300, response.get_data(as_text=True)[:300]
        db.session.rollback()
        assert head() != before


@pytest.fixture
def prepared():
    """What the first example of a test set up, kept for the others (a refusal changes nothing)."""
    return {}


def test_every_endpoint_with_free_text_has_a_recipe():
    """One list of what RECIPES lacks (each field's own test fails too)."""
    missing = {(m, p) for m, p, _, _ in api_fields(_openapi.document())} - RECIPES.keys()
    assert not missing, f"add to RECIPES: {sorted(missing)}"


# ------------------------------------------------------------------------ the pages' forms

def form_classes():
    """Every Flask-WTF form of lifecycle/*/forms.py (the private bases only through their subclasses)."""
    for package in pkgutil.iter_modules(lifecycle.__path__):
        if not package.ispkg or importlib.util.find_spec(f"lifecycle.{package.name}.forms") is None:
            continue
        module = importlib.import_module(f"lifecycle.{package.name}.forms")
        for name, cls in sorted(vars(module).items()):
            if (isinstance(cls, type) and issubclass(cls, FlaskForm) and cls.__module__ == module.__name__
                    and not name.startswith("_")):
                yield cls


def text_fields(cls):
    for name in dir(cls):
        unbound = getattr(cls, name)
        if (isinstance(unbound, UnboundField) and issubclass(unbound.field_class, StringField)
                and not issubclass(unbound.field_class, PasswordField)):
            yield name


#: Text inputs that hold a number, a date or a time (the services parse them, and refuse anything
#: else): a 個人番号 typed there is refused too, with their own message.
TYPED = {("FormItemForm", "sheets"), ("FormItemForm", "output_at"), ("MediumItemForm", "record_count"),
         ("MediumItemForm", "due_back"), ("DeviceItemForm", "lease_start"), ("DeviceItemForm", "lease_end"),
         ("DeviceItemForm", "storage_capacity_1"), ("DeviceItemForm", "storage_capacity_2"),
         ("ProvideForm", "due_back"), ("CopyForm", "retain_amount"), ("TrainingRecordForm", "completed_on"),
         ("LeaveForm", "effective_on"), ("DepartmentChangeForm", "effective_on"), ("UserForm", "trained_on"),
         ("TrainingForm", "trained_on"), ("ContractorForm", "start"), ("ContractorForm", "end"),
         ("ContractForm", "start"), ("ContractForm", "end"), ("PledgeForm", "fiscal_year"),
         ("PledgeForm", "received_on"), ("SubcontractorForm", "approved_on"), ("InspectionForm", "on"),
         ("CertificateForm", "performed_on")}
#: The 個人番号 copy's own field.
NUMBER_FORM_FIELDS = {("CopyForm", "my_number")}
FORM_FIELDS = [(cls, name) for cls in form_classes() for name in text_fields(cls)
               if (cls.__name__, name) not in NUMBER_FORM_FIELDS]


def _item_page(kind: str, login: str, data: dict):
    return lambda world: Call(login, f"/items/new?kind={kind}", data)


FORM_RECIPES = {
    "TrainingRecordForm": lambda world: Call("admin", "/people/users/registrar/training", {
        "completed_on": today_jst().isoformat(), "course": "住基ネット研修"}),
    "HandOffForm": lambda world: Call(
        "admin", f"/people/users/registrar/hand-off?item={_form(world).code}", {"to": "security2", "note": "一括引継ぎ"}),
    "LeaveForm": lambda world: Call("admin", "/people/users/auditor/leave", {
        "effective_on": today_jst().isoformat(), "reason": "退職"}),
    "DepartmentChangeForm": lambda world: Call("admin", "/people/users/auditor/department", {
        "department": "zeimu", "effective_on": today_jst().isoformat(), "reason": "人事異動"}),
    "GrantRequestForm": lambda world: Call("admin", "/people/users/security/grant-requests", {
        "role": "bulk_operator", "reason": "一括提供の担当追加"}),
    "DecisionReasonForm": lambda world: Call(
        "security2", "/people/rights-review/zeimu/registrar/registrar/revoked", {"reason": "担当替えのため"}),
    "ConfirmCustodyForm": lambda world: Call(
        "security2", f"/people/unconfirmed/{_unconfirmed(world)}/confirm", {"location": "税務課 金庫", "note": ""}),
    "FormItemForm": _item_page("form", "registrar", {
        "title": "課税台帳", "business": "car-tax", "sheets": "3", "location": "税務課 書庫A-3",
        "terminal": "税務-端末01", "output_at": ""}),
    "MediumItemForm": _item_page("medium", "bulk", {
        "title": "旅券 提供データ", "business": "passport", "media_type": "CD-R", "record_count": "1200",
        "recipient": "教育委員会", "encrypted": "y", "due_back": (today_jst() + timedelta(days=14)).isoformat(),
        "location": ""}),
    "DeviceItemForm": _item_page("device", "admin", {
        "title": "業務端末", "device_type": "業務端末", "asset_tag": "ASSET-H1", "model": "FMV-D7000",
        "serial": "SN-H1", "lessor": "九州リース株式会社", "lease_contract": "L-2021-0042",
        "lease_start": "2021-04-01", "lease_end": "2027-03-31", "location": "市町課 執務室", "has_storage": "y",
        "storage_type_1": "HDD", "storage_serial_1": "WD-H1", "storage_make_1": "WD", "storage_model_1": "Blue",
        "storage_capacity_1": "500", "storage_type_2": "SSD", "storage_serial_2": "SS-H2",
        "storage_make_2": "Samsung", "storage_model_2": "870", "storage_capacity_2": "256"}),
    "LoginForm": lambda world: Call("", "/login", {"login": "registrar", "password": DEMO_PASSWORD + "x"}),
    "DepartmentForm": lambda world: Call("admin", "/admin/departments", {"code": "kikaku", "name": "企画課"}),
    "BusinessForm": lambda world: Call("admin", "/admin/businesses", {
        "code": "jumin", "name": "住民基本台帳事務", "basis": "住基法別表第5"}),
    "UserForm": lambda world: Call("admin", "/admin/users", {
        "login": "newcomer", "name": "新任 三郎", "department": "zeimu", "roles": ["registrar"],
        "trained_on": "2026-04-10", "password": "correct horse battery"}),
    "TransferForm": lambda world: Call(
        "registrar", f"/custody/items/{_form(world).code}/transfer", {"to": "registrar2", "note": "書庫移転"}),
    "AcceptForm": lambda world: Call(
        "registrar2", f"/custody/transfers/{_pending(world).id}/accept", {"location": "旅券課 書庫"}),
    "ReasonForm": lambda world: Call(
        "registrar", f"/custody/transfers/{_pending(world).id}/cancel", {"reason": "渡す相手の誤り"}),
    "RejectForm": lambda world: Call(
        "registrar2", f"/custody/transfers/{_pending(world).id}/reject", {"reason": "担当外のため"}),
    "TrainingForm": lambda world: Call("admin", "/admin/users/registrar/training",
                                       {"trained_on": today_jst().isoformat()}),
    "ContractorForm": lambda world: Call("admin", "/contractors", {
        "name": "肥後データ消去株式会社", "services": ["erasure"], "number": "K-2026-01", "start": "2026-04-01",
        "end": "2027-03-31", "clauses": ["pledge"]}, {"file": pdf_bytes}),
    "ContractForm": lambda world: Call(
        "admin", f"/contractors/{factories.contractor(world['admin']).id}/contracts",
        {"number": "K-2027-02", "start": "2027-04-01", "end": "2028-03-31", "clauses": ["pledge"]}, {"file": pdf_bytes}),
    "PledgeForm": lambda world: Call(
        "admin", f"/contractors/{factories.contractor(world['admin']).id}/pledges",
        {"fiscal_year": "", "received_on": today_jst().isoformat(), "signatories": "作業員A"}, {"file": pdf_bytes}),
    "SubcontractorForm": lambda world: Call(
        "admin", f"/contractors/{factories.contractor(world['admin']).id}/subcontractors",
        {"name": "下請データ株式会社", "services": ["erasure"], "approved_on": today_jst().isoformat(), "note": "事前承認"}),
    "InspectionForm": lambda world: Call(
        "admin", f"/contractors/{factories.contractor(world['admin']).id}/inspections",
        {"on": today_jst().isoformat(), "by": "安全 管理子", "observed": "保管庫", "findings": "なし", "follow_up": ""}),
    "ErasureRequestForm": lambda world: Call(
        "admin", f"/devices/{factories.device(world['admin']).code}/erasure-request",
        {"reason": "lease_end", "note": "リース満了"}),
    "CertificateForm": lambda world: Call(
        "bulk", f"/devices/{_device_to_erase(world).code}/certificates",
        {**certificate_data(), "contractor": str(find_by_name(certificate_data()["vendor"]).id)}, {"file": pdf_bytes}),
    "CertificateRejectForm": lambda world: Call(
        "security", "/devices/certificates/{}/reject".format(submit_certificate(
            world["bulk"], _device_to_erase(world).code, certificate_data(), io.BytesIO(pdf_bytes()),
            "erasure.pdf").id), {"reason": "検証結果の記載漏れ"}),
    "ProvideForm": lambda world: Call(
        "bulk", f"/custody/items/{factories.medium(world['bulk']).code}/provide",
        {"recipient": "教育委員会", "due_back": ""}),
    "CopyForm": lambda world: Call("bulk", "/my-number-copies", {
        "my_number": A_NUMBER, "provided_to": "〇〇市 市民課", "retain_amount": "", "reason": "再送に備えて"}),
    "RevealForm": lambda world: Call("security", f"/my-number-copies/{_copy(world).id}/reveal",
                                     {"reason": "再送のため"}),
    "PurgeForm": lambda world: Call("bulk", f"/my-number-copies/{_copy(world).id}/purge",
                                    {"reason": "提供済みのため"}),
}


def _uploads(call: Call) -> dict:
    """The recipe's files, new for each post (a page's upload field is read once)."""
    return {name: (io.BytesIO(make()), "upload.pdf") for name, make in call.files.items()}


@pytest.mark.parametrize("form_class,field_name", FORM_FIELDS,
                         ids=[f"{cls.__name__}.{name}" for cls, name in FORM_FIELDS])
@PER_FIELD
@given(text=numbers_in_text)
def test_every_text_field_of_every_form_refuses_a_my_number(client, login, world, prepared, form_class,
                                                            field_name, text):
    name = form_class.__name__
    if not prepared:
        recipe = FORM_RECIPES.get(name)
        if recipe is None:
            pytest.fail(f"{name} has the text field {field_name!r} but FORM_RECIPES has no page and "
                        "otherwise valid input for it: add one")
        call = recipe(world)
        if call.login:
            login(call.login)
        prepared.update(call=call)
    call = prepared["call"]
    db.session.rollback()
    before = head()
    response = client.post(call.url, data={**call.body, **_uploads(call), field_name: text}, follow_redirects=True)
    page = response.get_data(as_text=True)
    if name == "LoginForm":  # nothing is refused, the sign-in fails; the audit log records that
        assert "ログアウト" not in page
        db.session.rollback()
        assert [str(hit) for hit in find_stored_numbers()] == []
        return
    assert response.status_code in (200, 422), page[:300]
    if (name, field_name) not in TYPED:
        assert MESSAGE in page
    _unchanged_and_nothing_stored(before)


@pytest.mark.parametrize("name", sorted({cls.__name__ for cls, _ in FORM_FIELDS}))
def test_each_form_recipe_is_valid_as_it_is(client, login, world, name):
    if name not in FORM_RECIPES:
        pytest.fail(f"add {name} to FORM_RECIPES")
    call = FORM_RECIPES[name](world)
    if call.login:
        login(call.login)
    db.session.rollback()
    before = head()
    response = client.post(call.url, data={**call.body, **_uploads(call)}, follow_redirects=True)
    assert response.status_code == (401 if name == "LoginForm" else 200)  # its recipe's password is wrong
    db.session.rollback()
    assert head() != before  # the step was recorded (a wrong password too, for LoginForm)


# ------------------------------------------------------------------------ text that is no field

def test_the_name_of_an_uploaded_file_is_free_text_too(api, world):
    device, bulk = _device_to_erase(world), api("bulk")
    db.session.rollback()
    before = head()
    response = bulk.post(f"/api/v1/items/{device.code}/erasure-certificates", data={
        **certificate_data(), "file": (io.BytesIO(pdf_bytes()), f"証明書_{A_NUMBER}.pdf")},
        content_type="multipart/form-data")
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "my_number_in_text"
    _unchanged_and_nothing_stored(before)


def test_a_number_scanned_instead_of_a_label_is_not_kept(api, world):
    response = api("registrar").get(f"/api/v1/scan/F-2026-000001.{A_NUMBER}")
    assert response.status_code == 404 and response.get_json()["genuine"] is False
    db.session.rollback()
    assert [str(hit) for hit in find_stored_numbers()] == []


def test_a_number_typed_as_a_login_is_not_kept(client, world):
    assert client.post("/login", data={"login": A_NUMBER, "password": "x"}).status_code == 401
    db.session.rollback()
    assert [str(hit) for hit in find_stored_numbers()] == []
