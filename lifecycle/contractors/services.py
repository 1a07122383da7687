"""The contractor register and the one coverage rule every contracted piece of work goes through.

Who keeps the register: admins, and the security managers of the system-owner department (市町課),
which holds the contracts for the 住基ネット equipment. Auditors and the roles that name a
contractor on a batch or certificate read it.

The coverage rule (require_coverage) is the only place that decides whether a contractor may do a
piece of work on a date: the service is one it is registered for, a contract is in force that day,
the contract carries every required clause, and whoever actually performed the work is the
contractor itself or a re-subcontractor approved beforehand for that service.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Callable

from sqlalchemy import func, select

from .. import files, validation as v
from ..actors import Actor
from ..audit.events import EventType
from ..audit.services import actor_name, record_event
from ..auth.models import User
from ..clock import today_jst, utcnow
from ..db import row_id
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..extensions import db
from ..policy import services as policy
from ..roles import Role
from .models import Contract, Contractor, Inspection, Pledge, Subcontractor
from ..files import FileIntegrityError, record_integrity_failure
from ..wareki import wareki_date
from ..items.models import Item
from ..states import Kind, State

SERVICES = {"erasure": "データ消去", "pulping": "溶解・裁断・破砕", "leasing": "リース（機器の賃貸借）",
            "transport": "運搬"}
#: The clauses a 委託契約書 must carry (熊本県 2024 found one without them; 山口県 2024, 北九州市 2021).
CLAUSES = {
    "confidentiality": "秘密保持",
    "no_subcontracting": "再委託の禁止（事前承認制）",
    "onsite_inspection": "実地確認・監査への協力",
    "incident_report": "事故時の報告",
    "erasure_proof": "返還・消去の証明",
    "pledge": "従事者の誓約書",
}
EDIT_MESSAGE = "委託先の登録・変更は、システム管理者または市町課のセキュリティ管理者が行います。"
READERS = (Role.ADMIN, Role.AUDITOR, Role.SECURITY_MANAGER, Role.BULK_OPERATOR)
COVERAGE_CODE = "contractor_not_covered"


# --- who ----------------------------------------------------------------------------------------

def may_edit(actor: Actor) -> bool:
    if not isinstance(actor, User):
        return True  # the CLI and the demo loader act with the operator's authority
    if actor.has_role(Role.ADMIN):
        return True
    return actor.has_role(Role.SECURITY_MANAGER) and bool(actor.department and actor.department.is_system_owner)


def _require_editor(actor: Actor) -> None:
    if not may_edit(actor):
        raise Forbidden(EDIT_MESSAGE)


def may_read(actor: Actor) -> bool:
    return not isinstance(actor, User) or actor.has_role(*READERS)


def _require_reader(actor: Actor) -> None:
    if not may_read(actor):
        raise Forbidden("委託先の登録簿を閲覧できるのは、システム管理者・監査担当・セキュリティ管理者・一括利用担当です。")


# --- reading ------------------------------------------------------------------------------------

def get_contractor(contractor_id) -> Contractor:
    key = row_id(contractor_id)
    found = db.session.scalar(select(Contractor).where(Contractor.id == key)
                              .execution_options(populate_existing=True)) if key else None
    if found is None:
        raise NotFound(f"委託先「{contractor_id}」は登録されていません。", code="unknown_contractor")
    return found


def get_visible_contractor(actor: Actor, contractor_id) -> Contractor:
    _require_reader(actor)
    return get_contractor(contractor_id)


def list_contractors(actor=None, *, service: str | None = None) -> list[Contractor]:
    if actor is not None:
        _require_reader(actor)
    rows = list(db.session.scalars(select(Contractor).order_by(Contractor.name)))
    return [c for c in rows if service is None or service in c.service_keys]


def find_by_name(name: str | None) -> Contractor | None:
    """The registered contractor of exactly this name (NFC, trimmed), for records that name one
    as text (a device's リース会社)."""
    if not name:
        return None
    name = unicodedata.normalize("NFC", name).strip()
    return db.session.scalar(select(Contractor).where(Contractor.name == name))


def contract_on(contractor: Contractor, on: date) -> Contract | None:
    """The contract in force on that day (the latest-starting one if two overlap)."""
    found = [c for c in contractor.contracts if c.in_force(on)]
    return max(found, key=lambda c: c.start) if found else None


def missing_clauses(contract: Contract) -> list[str]:
    return [key for key in CLAUSES if key not in contract.clause_keys]


def fiscal_year(day: date) -> int:
    """年度: April to March, named by the year it starts in."""
    return day.year if day.month >= 4 else day.year - 1


# --- parsing ------------------------------------------------------------------------------------

def _keys(value, table: dict, label: str, field: str, *, required: bool) -> list[str]:
    if value in (None, ""):
        value = []
    if isinstance(value, str):  # a form's comma-separated list is free text until it is parsed
        value = v.text(value, label, max_len=1000, required=False, field=field) or ""
        value = [part for part in value.replace("、", ",").split(",") if part.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(x, str) for x in value):
        raise Invalid(f"{label}は一覧（{'・'.join(table)}）で指定してください。", field=field)
    keys = {x.strip() for x in value}
    unknown = sorted(keys - set(table))
    if unknown:
        raise Invalid(f"{label}に不明な値があります: {'、'.join(unknown)[:100]}。"
                      f"次から選んでください: {'・'.join(table)}", field=field)
    if required and not keys:
        raise Invalid(f"{label}を1つ以上選んでください。", field=field)
    return [key for key in table if key in keys]  # the table's order, each once


def _contract_fields(data, errors: v.FieldErrors, prefix: str = "") -> dict:
    """A contract's fields, each refusal kept under `prefix` + its name ("contract." when the
    contract is nested in a contractor's registration)."""
    if not isinstance(data, dict):
        errors.refuse(prefix.rstrip(".") or "contract",
                      Invalid("契約（contract）を number・start・end・clauses で指定してください。", field="contract"))
        return {}
    check = errors.check
    number = check(f"{prefix}number", v.text, data.get("number"), "契約番号", max_len=100, field=f"{prefix}number")
    start = check(f"{prefix}start", v.a_date, data.get("start"), "契約開始日", field=f"{prefix}start")
    end = check(f"{prefix}end", v.a_date, data.get("end"), "契約終了日", field=f"{prefix}end")
    if start is not None and end is not None and end < start:
        errors.refuse(f"{prefix}end", Invalid("契約終了日は契約開始日以降の日付にしてください。", field=f"{prefix}end"))
    clauses = check(f"{prefix}clauses", _keys, data.get("clauses"), CLAUSES, "契約書の条項", f"{prefix}clauses",
                    required=False)
    return {"number": number, "start": start, "end": end, "clauses": ",".join(clauses or [])}


def _not_future(value, label: str, field: str) -> date:
    day = v.a_date(value, label, field=field)
    if day > today_jst():
        raise Invalid(f"{label}に未来の日付は指定できません。", field=field)
    return day


def _checked_file(upload, errors: v.FieldErrors):
    """An optional PDF, checked with the form's other fields (stored by _store once none is refused)."""
    stream, filename = upload if upload else (None, None)
    return errors.check("file", files.checked_pdf, stream, filename) if stream is not None else None


def _store(checked, actor):
    return files.store_checked(checked, actor=actor) if checked is not None else None


def _file_details(stored) -> dict:
    return {} if stored is None else {"file_name": stored.original_name, "sha256": stored.sha256}


# --- actions ------------------------------------------------------------------------------------

def register_contractor(actor: Actor, data: dict, contract_file=None) -> Contractor:
    """Adds a contractor with its first contract; `contract_file` is (stream, filename) of the PDF."""
    with db.transaction() as session:
        _require_editor(actor)
        if not isinstance(data, dict):
            raise Invalid("登録内容が正しくありません。")
        errors = v.FieldErrors()  # every refused field at once, each beside its field
        name = errors.check("name", v.text, data.get("name"), "委託先の名称", max_len=200, field="name")
        services = errors.check("services", _keys, data.get("services"), SERVICES, "委託業務", "services",
                                required=True)
        contract = _contract_fields(data.get("contract"), errors, "contract.")
        checked = _checked_file(contract_file, errors)
        errors.raise_any()
        if session.scalar(select(Contractor.id).where(Contractor.name == name)) is not None:
            raise Conflict(f"委託先「{name}」は既に登録されています。", code="duplicate_contractor")
        now = utcnow()
        contractor = Contractor(name=name, services=",".join(services), created_by=actor_name(actor), created_at=now)
        stored = _store(checked, actor)
        contractor.contracts.append(Contract(**contract, file=stored, created_by=actor_name(actor), created_at=now))
        session.add(contractor)
        session.flush()
        record_event(EventType.CONTRACTOR_REGISTERED, actor=actor, subject=contractor.audit_subject,
                     name=name, services=services, contract_number=contract["number"],
                     start=contract["start"].isoformat(), end=contract["end"].isoformat(),
                     clauses=contract["clauses"].split(",") if contract["clauses"] else [],
                     **_file_details(stored))
        return contractor


def add_contract(actor: Actor, contractor_id, data: dict, contract_file=None) -> Contract:
    """A renewed or amended contract; the earlier ones stay as history."""
    with db.transaction() as session:
        _require_editor(actor)
        contractor = get_contractor(contractor_id)
        errors = v.FieldErrors()
        fields = _contract_fields(data, errors)
        checked = _checked_file(contract_file, errors)
        errors.raise_any()
        stored = _store(checked, actor)
        contract = Contract(**fields, contractor=contractor, file=stored, created_by=actor_name(actor),
                            created_at=utcnow())
        session.add(contract)
        session.flush()
        record_event(EventType.CONTRACT_ADDED, actor=actor, subject=contractor.audit_subject,
                     contract=contract.id, contract_number=fields["number"], start=fields["start"].isoformat(),
                     end=fields["end"].isoformat(), clauses=contract.clause_keys, **_file_details(stored))
        return contract


def record_pledge(actor: Actor, contractor_id, data: dict, pledge_file=None) -> Pledge:
    """The 誓約書 of the contractor's staff for one 年度 (default: the one it was received in)."""
    with db.transaction() as session:
        _require_editor(actor)
        contractor = get_contractor(contractor_id)
        errors = v.FieldErrors()
        year = data.get("fiscal_year")
        year = None if year in (None, "") else errors.check(
            "fiscal_year", v.integer, year, "年度", minimum=2000, maximum=2100, field="fiscal_year")
        received = errors.check("received_on", _not_future, data.get("received_on"), "受領日", "received_on")
        signatories = errors.check("signatories", v.text, data.get("signatories"), "署名者", max_len=2000,
                                   required=False, field="signatories", multiline=True)
        checked = _checked_file(pledge_file, errors)
        errors.raise_any()
        year = fiscal_year(received) if year is None else year
        if session.scalar(select(Pledge.id).where(Pledge.contractor_id == contractor.id,
                                                  Pledge.fiscal_year == year)) is not None:
            raise Conflict(f"委託先「{contractor.name}」の{year}年度の誓約書は既に記録されています。",
                           code="duplicate_pledge")
        stored = _store(checked, actor)
        pledge = Pledge(contractor_id=contractor.id, fiscal_year=year, received_on=received,
                        signatories=signatories, file=stored, recorded_by=actor_name(actor), recorded_at=utcnow())
        session.add(pledge)
        session.flush()
        record_event(EventType.PLEDGE_RECEIVED, actor=actor, subject=contractor.audit_subject,
                     fiscal_year=year, received_on=received.isoformat(), **_file_details(stored))
        return pledge


def approve_subcontractor(actor: Actor, contractor_id, data: dict) -> Subcontractor:
    """Records the prior approval of a re-subcontractor for some of the contractor's services."""
    with db.transaction() as session:
        _require_editor(actor)
        contractor = get_contractor(contractor_id)
        errors = v.FieldErrors()
        name = errors.check("name", v.text, data.get("name"), "再委託先の名称", max_len=200, field="name")
        services = errors.check("services", _keys, data.get("services"), SERVICES, "再委託する業務", "services",
                                required=True)
        outside = [s for s in services or () if s not in contractor.service_keys]
        if outside:
            errors.refuse("services", Invalid(
                f"「{'・'.join(SERVICES[s] for s in outside)}」は委託先「{contractor.name}」の"
                "委託業務に含まれていないため、再委託も承認できません。", field="services"))
        approved = errors.check("approved_on", _not_future, data.get("approved_on"), "承認日", "approved_on")
        note = errors.check("note", v.text, data.get("note"), "備考", max_len=500, required=False, field="note",
                            multiline=True)
        errors.raise_any()
        sub = Subcontractor(contractor_id=contractor.id, name=name, services=",".join(services),
                            approved_on=approved, approved_by=actor_name(actor), note=note)
        session.add(sub)
        session.flush()
        record_event(EventType.SUBCONTRACTOR_APPROVED, actor=actor, subject=contractor.audit_subject,
                     subcontractor=name, services=services, approved_on=approved.isoformat(), note=note)
        return sub


def record_inspection(actor: Actor, contractor_id, data: dict) -> Inspection:
    """One 実地確認: when, who checked, what was seen, the findings and the follow-up."""
    with db.transaction() as session:
        _require_editor(actor)
        contractor = get_contractor(contractor_id)
        if not isinstance(data, dict):
            raise Invalid("実地確認の内容が正しくありません。")
        errors = v.FieldErrors()
        fields = {
            "inspected_on": errors.check("on", _not_future, data.get("on"), "実施日", "on"),
            "by": errors.check("by", v.text, data.get("by"), "確認者", max_len=200, field="by"),
            "observed": errors.check("observed", v.text, data.get("observed"), "確認した内容", max_len=4000,
                                     required=False, field="observed", multiline=True),
            "findings": errors.check("findings", v.text, data.get("findings"), "指摘事項", max_len=4000,
                                     required=False, field="findings", multiline=True),
            "follow_up": errors.check("follow_up", v.text, data.get("follow_up"), "対応・フォローアップ",
                                      max_len=4000, required=False, field="follow_up", multiline=True),
        }
        errors.raise_any()
        inspection = Inspection(contractor_id=contractor.id, **fields, recorded_by=actor_name(actor),
                                recorded_at=utcnow())
        session.add(inspection)
        session.flush()
        record_event(EventType.CONTRACTOR_INSPECTED, actor=actor, subject=contractor.audit_subject,
                     inspection=inspection.id, on=fields["inspected_on"].isoformat(), by=fields["by"],
                     findings=fields["findings"], follow_up=fields["follow_up"])
        return inspection


# --- the coverage rule --------------------------------------------------------------------------

def coverage_reasons(contractor: Contractor, service: str, on: date, *, performer: str | None = None) -> list[str]:
    """Why this contractor may not do `service` on `on`, in Japanese; empty when it may."""

    reasons = []
    if service not in contractor.service_keys:
        reasons.append(f"この業務（{SERVICES[service]}）は契約に含まれていません")
    contract = contract_on(contractor, on)
    if contract is None:
        periods = "、".join(f"{wareki_date(c.start)}〜{wareki_date(c.end)}" for c in contractor.contracts)
        reasons.append(f"契約期間外です（{wareki_date(on)}。契約期間: {periods or 'なし'}）")
    else:
        missing = missing_clauses(contract)
        if missing:
            reasons.append(f"契約書（{contract.number}）に必要な条項がありません: "
                           + "、".join(CLAUSES[c] for c in missing))
    if performer:
        who = unicodedata.normalize("NFC", performer).strip()
        if who and who != contractor.name and not any(
                s.name == who and service in s.service_keys and s.approved_on <= on
                for s in contractor.subcontractors):
            reasons.append(f"再委託の承認がありません（実施者: {who[:100]}）")
    return reasons


def require_coverage(contractor_id, service: str, on: date, *, performer: str | None = None,
                     field: str = "contractor") -> Contractor:
    """The contractor, if its contract covers `service` on `on`; else 422 contractor_not_covered
    with every reason. `performer`: the organisation that did the work, when it may differ."""
    if service not in SERVICES:
        raise ValueError(service)
    if contractor_id in (None, ""):
        raise Invalid(f"委託先（{SERVICES[service]}を行う業者）を指定してください。", code=COVERAGE_CODE, field=field)
    try:
        contractor = get_contractor(contractor_id)
    except NotFound as exc:
        raise Invalid(exc.message, code=COVERAGE_CODE, field=field) from None
    reasons = coverage_reasons(contractor, service, on, performer=performer)
    if reasons:
        raise Invalid(f"委託先「{contractor.name}」にはこの作業を委託できません: " + "。".join(reasons) + "。",
                      code=COVERAGE_CODE, field=field)
    return contractor


# --- exceptions ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ContractorException:
    contractor: Contractor
    #: contract_ending / contract_ended_devices / missing_clauses / pledge_missing / inspection_overdue,
    #: and those of the rules registered by the packages that know the work (pulping_certificate_late)
    rule: str
    detail: str  #: Japanese, for the exceptions report


ExceptionRule = Callable[[Contractor, date], list[ContractorException]]
#: Rules about what a contractor owes that only a package above this one can read (the witnessed
#: 溶解 of destruction/ and its certificate), registered from that package's init_app.
EXCEPTION_RULES: list[ExceptionRule] = []


def register_exception_rule(rule: ExceptionRule) -> None:
    if rule not in EXCEPTION_RULES:
        EXCEPTION_RULES.append(rule)


def _devices_with(contractor: Contractor) -> int:
    """Leased devices from this lessor not yet returned to it."""

    return db.session.scalar(select(func.count()).select_from(Item).where(
        Item.kind == Kind.DEVICE, Item.lessor == contractor.name,
        Item.status != State.RETURNED_TO_LESSOR.value)) or 0


def contractor_exceptions(contractor: Contractor, as_of: date) -> list[ContractorException]:

    rows = []
    current = contract_on(contractor, as_of)
    later = [c for c in contractor.contracts if c.start > as_of]
    warning = policy.get("contractor.contract_warning_days")
    if current is not None and not later and (current.end - as_of).days <= warning:
        rows.append(ContractorException(contractor, "contract_ending",
                                        f"契約（{current.number}）が {wareki_date(current.end)} に満了します"
                                        f"（あと{(current.end - as_of).days}日）。更新の契約が登録されていません。"))
    if current is None and not later and "leasing" in contractor.service_keys:
        held = _devices_with(contractor)
        if held:
            ended = max((c.end for c in contractor.contracts), default=None)
            rows.append(ContractorException(contractor, "contract_ended_devices",
                                            f"契約が{' ' + wareki_date(ended) + ' に' if ended else ''}満了していますが、"
                                            f"このリース会社の機器が{held}台、返却されていません。"))
    shown = current or (max(contractor.contracts, key=lambda c: c.start) if contractor.contracts else None)
    if shown is not None and missing_clauses(shown):
        rows.append(ContractorException(contractor, "missing_clauses",
                                        f"契約書（{shown.number}）に必要な条項がありません: "
                                        + "、".join(CLAUSES[c] for c in missing_clauses(shown))))
    if current is not None:
        year = fiscal_year(as_of)
        if not any(p.fiscal_year == year for p in contractor.pledges):
            rows.append(ContractorException(contractor, "pledge_missing",
                                            f"{year}年度の従事者の誓約書を受領していません。"))
        interval = policy.get("contractor.inspection_interval_days")
        last = max((i.inspected_on for i in contractor.inspections if i.inspected_on <= as_of), default=None)
        if last is None or (as_of - last).days > interval:
            since = f"前回 {wareki_date(last)}" if last else "実施の記録なし"
            rows.append(ContractorException(contractor, "inspection_overdue",
                                            f"実地確認が{interval}日以上行われていません（{since}）。"))
    for rule in EXCEPTION_RULES:
        rows.extend(rule(contractor, as_of))
    return rows


def list_contractor_exceptions(as_of: date) -> list[ContractorException]:
    """Every contractor rule broken as of a date (例外一覧)."""
    rows = []
    for contractor in db.session.scalars(select(Contractor).order_by(Contractor.name)):
        rows.extend(contractor_exceptions(contractor, as_of))
    return rows


# --- JSON ---------------------------------------------------------------------------------------

def _file_json(stored) -> dict | None:
    return None if stored is None else {"id": stored.id, "file_name": stored.original_name,
                                        "sha256": stored.sha256, "size": stored.size}


def contractor_json(contractor: Contractor, as_of: date | None = None) -> dict:
    as_of = as_of or today_jst()
    current = contract_on(contractor, as_of)
    return {
        "id": contractor.id,
        "name": contractor.name,
        "services": contractor.service_keys,
        "contracts": [{
            "id": c.id, "number": c.number, "start": c.start.isoformat(), "end": c.end.isoformat(),
            "clauses": c.clause_keys, "missing_clauses": missing_clauses(c), "file": _file_json(c.file),
        } for c in contractor.contracts],
        "current_contract": current.id if current else None,
        "pledges": [{"fiscal_year": p.fiscal_year, "received_on": p.received_on.isoformat(),
                     "signatories": p.signatories, "file": _file_json(p.file)} for p in contractor.pledges],
        "subcontractors": [{"name": s.name, "services": s.service_keys, "approved_on": s.approved_on.isoformat(),
                            "approved_by": s.approved_by, "note": s.note} for s in contractor.subcontractors],
        "inspections": [inspection_json(i) for i in contractor.inspections],
        "exceptions": [{"rule": e.rule, "detail": e.detail} for e in contractor_exceptions(contractor, as_of)],
    }


def inspection_json(inspection: Inspection) -> dict:
    return {"id": inspection.id, "on": inspection.inspected_on.isoformat(), "by": inspection.by,
            "observed": inspection.observed, "findings": inspection.findings,
            "follow_up": inspection.follow_up, "recorded_by": inspection.recorded_by}



def file_bytes(actor: Actor, contractor_id, file_id) -> tuple:
    """A contract PDF or 誓約書 of this contractor, re-hashed first: a changed file is refused."""

    contractor = get_visible_contractor(actor, contractor_id)
    stored = next((f for f in [c.file for c in contractor.contracts] + [p.file for p in contractor.pledges]
                   if f is not None and f.id == row_id(file_id)), None)
    if stored is None:
        raise NotFound("このファイルは委託先の記録にありません。", code="unknown_file")
    data, integrity = files.read_verified(stored)
    if data is None:
        record_integrity_failure(actor, stored, integrity, subject=contractor.audit_subject, context="download")
        raise FileIntegrityError(integrity.message)
    return stored, data
