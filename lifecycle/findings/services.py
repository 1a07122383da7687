"""Findings (指摘事項) from any audit, review, stocktake or self-inspection, tracked to closure.

Other packages raise findings through `raise_finding`, for example the access-log review:

    from lifecycle.findings.services import raise_finding

    finding = raise_finding(actor, source="log_review", department_code="zeimu",
                            summary="夜間に照会が行われていた", severity="medium",
                            due_on=date(2026, 12, 28),
                            refs=[{"kind": "terminal", "ref": "T-ZEIMU-01"},
                                  {"kind": "log", "ref": "1234"}],
                            audit="令和8年度第3四半期 アクセスログ点検")

`source` is a key of SOURCES, `severity` of SEVERITIES, each ref's `kind` of REF_KINDS (an item
by its 管理番号, a contractor by its id, a terminal by its code, a user by login, a log record by
its id); `audit` names the audit the finding belongs to (default: 「令和8年度 内部監査」 from the
source and today's 年度). Called inside the caller's db.transaction() it joins it; otherwise it
commits on its own. Every refused field is reported at once (errors.Invalid with `fields`).

The life: recorded → the department's security manager submits a corrective-action plan → reports
what was done, with evidence files (stored and hashed like certificates) → a security manager
other than the one who answered confirms it on site (closed), or sends it back to `planned`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select

from .. import files, validation as v
from ..actors import Actor
from ..audit.events import EventType
from ..audit.services import actor_name, record_event
from ..auth.models import Department, User
from ..roles import require_role, Role
from ..clock import fiscal_year, iso, today_jst, utcnow
from ..db import row_id
from ..errors import Forbidden, Invalid, NotFound
from ..extensions import db
from ..items.queries import has_any_role, sees_all
from ..states import INITIAL, Kind, State, label, transition
from ..wareki import wareki_date, year_text
from .models import Finding, FindingEvidence, FindingRef
from ..items.models import Item
from ..contractors.models import Contractor
from ..files import FileIntegrityError, record_integrity_failure
from ..auditlog.describe import load_names

SOURCES = {
    "internal_audit": "内部監査",
    "external_audit": "外部監査",
    "council": "審議会",
    "third_party": "第三者点検",
    "self_inspection": "自己点検",
    "stocktake": "棚卸",
    "log_review": "アクセスログ点検",
}
SEVERITIES = {"high": "重大", "medium": "中", "low": "軽微"}
REF_KINDS = {"item": "管理番号", "contractor": "委託先", "terminal": "端末", "user": "利用者",
             "log": "アクセスログの記録"}
RAISERS = (Role.AUDITOR, Role.SECURITY_MANAGER, Role.ADMIN)
RAISE_MESSAGE = "指摘事項を記録できるのは、監査担当・セキュリティ管理者・システム管理者です。"
SOD_CODE = "same_person"
OPEN_STATES = (State.RECORDED.value, State.PLANNED.value, State.ACTION_REPORTED.value)
LIST_VIEWS = {"open": "未完了", "overdue": "期限超過", "closed": "完了", "all": "すべて"}


def fiscal_year_text(year: int) -> str:
    """令和8年度 for 2026."""
    return f"{year_text(date(year, 4, 1))}度"


# --- who ----------------------------------------------------------------------------------------

def may_see(actor: Actor, finding: Finding) -> bool:
    """Those who see every department's items see every finding; others their department's."""
    if sees_all(actor):
        return True
    return has_any_role(actor) and actor.department_id == finding.department_id


def answer_problem(actor: Actor, finding: Finding) -> Forbidden | None:
    """Why this actor may not answer for the department (plan, action); None when they may."""
    if actor.is_system:
        return None
    if not actor.has_role(Role.SECURITY_MANAGER) or actor.department_id != finding.department_id:
        return Forbidden(f"指摘事項への回答（改善計画・措置の報告）は、{finding.department.name}の"
                         "セキュリティ管理者が行います。")
    return None


def confirm_problem(actor: Actor, finding: Finding) -> Forbidden | None:
    """Why this actor may not confirm on site or send back; None when they may. The one who
    answered for the department cannot check their own answer."""
    if actor.is_system or not actor.has_role(Role.SECURITY_MANAGER):
        return Forbidden("現地確認（完了・差戻し）は、セキュリティ管理者が現地で確認して行います。")
    if actor.login in {finding.planned_by, finding.reported_by}:
        return Forbidden("改善計画または措置を回答した本人は、現地確認を行えません。"
                         "別のセキュリティ管理者に依頼してください。", code=SOD_CODE)
    return None


def may_answer(actor: Actor, finding: Finding) -> bool:
    return finding.status in (State.RECORDED.value, State.PLANNED.value) and answer_problem(actor, finding) is None


def may_confirm(actor: Actor, finding: Finding) -> bool:
    return finding.status == State.ACTION_REPORTED.value and confirm_problem(actor, finding) is None


# --- reading ------------------------------------------------------------------------------------

def get_finding(finding_id) -> Finding:
    key = row_id(finding_id)
    found = db.session.scalar(select(Finding).where(Finding.id == key)
                              .execution_options(populate_existing=True)) if key else None
    if found is None:
        raise NotFound(f"指摘事項「{str(finding_id)[:20]}」は登録されていません。", code="unknown_finding")
    return found


def get_visible_finding(actor: Actor, finding_id) -> Finding:
    finding = get_finding(finding_id)
    if not may_see(actor, finding):
        raise Forbidden(f"指摘事項 第{finding.id}号は他の所属のものであるため、表示する権限がありません。")
    return finding


def is_overdue(finding: Finding, as_of: date | None = None) -> bool:
    return finding.status in OPEN_STATES and finding.due_on < (as_of or today_jst())


@dataclass(frozen=True)
class FindingFilter:
    view: str = "open"  #: a key of LIST_VIEWS
    department: str | None = None  #: department code
    audit: str | None = None
    fiscal_year: int | None = None


def parse_filter(args) -> FindingFilter:
    """The list's filter from a query string; an unknown value is refused with its field."""
    errors = v.FieldErrors()
    view = (args.get("view") or "open").strip()
    if view not in LIST_VIEWS:
        errors.refuse("view", Invalid(f"表示は {'・'.join(LIST_VIEWS)} のいずれかで指定してください。", field="view"))
    department = errors.check("department", v.text, args.get("department"), "所属", max_len=32,
                              required=False, field="department")
    audit = errors.check("audit", v.text, args.get("audit"), "監査", max_len=200, required=False, field="audit")
    year = args.get("fiscal_year")
    year = None if year in (None, "") else errors.check(
        "fiscal_year", v.integer, year, "年度", minimum=2000, maximum=2100, field="fiscal_year")
    errors.raise_any()
    return FindingFilter(view, department, audit, year)


def list_findings(actor: Actor, flt: FindingFilter = FindingFilter(), as_of: date | None = None) -> list[Finding]:
    """Findings this actor may see, newest first, by view (open / overdue / closed / all)."""
    if not has_any_role(actor):
        raise Forbidden("指摘事項を閲覧する権限がありません。")
    as_of = as_of or today_jst()
    query = select(Finding).join(Department, Department.id == Finding.department_id)
    if not sees_all(actor):
        query = query.where(Finding.department_id == actor.department_id)
    if flt.view == "open":
        query = query.where(Finding.status.in_(OPEN_STATES))
    elif flt.view == "overdue":
        query = query.where(Finding.status.in_(OPEN_STATES), Finding.due_on < as_of)
    elif flt.view == "closed":
        query = query.where(Finding.status == State.RESOLVED.value)
    if flt.department:
        query = query.where(Department.code == flt.department)
    if flt.audit:
        query = query.where(Finding.audit == flt.audit)
    if flt.fiscal_year:
        query = query.where(Finding.fiscal_year == flt.fiscal_year)
    return list(db.session.scalars(query.order_by(Finding.id.desc())))


def audits(actor: Actor) -> list[str]:
    """The audits findings were raised in, newest first, for choosing one."""
    query = select(Finding.audit, func.max(Finding.id)).group_by(Finding.audit)
    if not sees_all(actor):
        query = query.where(Finding.department_id == actor.department_id)
    return [name for name, _ in sorted(db.session.execute(query), key=lambda row: -row[1])]


def overdue_findings(as_of: date) -> list[Finding]:
    """Open findings past their due date, for the exceptions list."""
    return list(db.session.scalars(select(Finding).where(Finding.status.in_(OPEN_STATES), Finding.due_on < as_of)
                                   .order_by(Finding.due_on, Finding.id)))


def open_findings(department_id: int | None = None) -> list[Finding]:
    """Every open finding, oldest first, for the council's figures (whose page decides who reads)."""
    query = select(Finding).where(Finding.status.in_(OPEN_STATES)).order_by(Finding.id)
    if department_id is not None:
        query = query.where(Finding.department_id == department_id)
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class FindingException:
    department: str  #: the department's name
    code: str  #: 指摘事項 第N号
    title: str
    detail: str


def finding_exceptions(as_of: date) -> list[FindingException]:
    """Open findings past their due date, worded for the exceptions list (例外一覧)."""

    return [FindingException(f.department.name, f"指摘事項 第{f.id}号", f.summary[:60],
                             f"改善期限 {wareki_date(f.due_on)}（{(as_of - f.due_on).days}日超過）、"
                             f"状態: {label(f.status)}、{SOURCES[f.source]}（{f.audit}）")
            for f in overdue_findings(as_of)]


def counts_per_year() -> list[dict]:
    """Per 年度: raised, closed (by the 年度 of the 現地確認) and still open, for the council figures."""
    raised = dict(db.session.execute(select(Finding.fiscal_year, func.count()).group_by(Finding.fiscal_year)).all())
    still_open = dict(db.session.execute(select(Finding.fiscal_year, func.count())
                                         .where(Finding.status.in_(OPEN_STATES))
                                         .group_by(Finding.fiscal_year)).all())
    closed: dict[int, int] = {}
    for (confirmed_at,) in db.session.execute(select(Finding.confirmed_at).where(Finding.confirmed_at.is_not(None))):
        year = fiscal_year(confirmed_at.date())
        closed[year] = closed.get(year, 0) + 1
    return [{"fiscal_year": year, "raised": raised.get(year, 0), "closed": closed.get(year, 0),
             "open": still_open.get(year, 0)} for year in sorted(set(raised) | set(closed))]


# --- parsing ------------------------------------------------------------------------------------

def _choice(value, table: dict, label: str, field: str) -> str:
    if not isinstance(value, str) or value.strip() not in table:
        raise Invalid(f"{label}は次から選んでください: {'・'.join(table.values())}", field=field)
    return value.strip()


def _department(value) -> Department:
    code = v.text(value, "所属", max_len=32, field="department")
    found = db.session.scalar(select(Department).where(Department.code == code, Department.active.is_(True)))
    if found is None:
        raise Invalid(f"所属コード「{code}」は登録されていません。", code="unknown_department", field="department")
    return found


def _ref(value, index: int) -> tuple[str, str]:
    field = f"refs.{index}"
    if isinstance(value, (list, tuple)) and len(value) == 2:
        value = {"kind": value[0], "ref": value[1]}
    if not isinstance(value, dict):
        raise Invalid("対象は kind と ref で指定してください。", field=field)
    kind = _choice(value.get("kind"), REF_KINDS, "対象の種類", f"{field}.kind")
    if isinstance(value.get("ref"), int) and not isinstance(value.get("ref"), bool):
        value = {**value, "ref": str(value["ref"])}
    ref = v.text(value.get("ref"), REF_KINDS[kind], max_len=100, field=f"{field}.ref")
    if kind == "item":

        if db.session.scalar(select(Item.id).where(Item.code == ref.upper())) is None:
            raise Invalid(f"管理番号「{ref}」の帳票・媒体・機器は登録されていません。", field=f"{field}.ref")
        ref = ref.upper()
    elif kind == "contractor":

        key = row_id(ref)
        found = db.session.scalar(select(Contractor.id).where(Contractor.id == key)) if key else None
        if found is None:
            found = db.session.scalar(select(Contractor.id).where(Contractor.name == ref))
        if found is None:
            raise Invalid(f"委託先「{ref}」は登録されていません。", field=f"{field}.ref")
        ref = str(found)
    elif kind == "user":
        if db.session.scalar(select(User.id).where(User.login == ref)) is None:
            raise Invalid(f"利用者ID「{ref}」は登録されていません。", field=f"{field}.ref")
    return kind, ref


def _refs(values) -> list[tuple[str, str]]:
    if values in (None, ""):
        return []
    if not isinstance(values, (list, tuple)):
        raise Invalid("対象は一覧で指定してください。", field="refs")
    if len(values) > 50:
        raise Invalid("対象は50件までにしてください。", field="refs")
    errors = v.FieldErrors()
    found = [errors.check(f"refs.{n}", _ref, value, n) for n, value in enumerate(values)]
    errors.raise_any()
    return list(dict.fromkeys(found))  # each once, in the given order


def _due(value, field: str = "due_on") -> date:
    day = v.a_date(value, "改善期限", field=field)
    if day < today_jst():
        raise Invalid("改善期限に過去の日付は指定できません。", field=field)
    return day


# --- actions ------------------------------------------------------------------------------------

def raise_finding(actor: Actor, *, source, department_code, summary, severity, due_on, refs=(),
                  audit=None) -> Finding:
    """Records a finding against a department (see the module docstring for how to call it)."""
    require_role(actor, *RAISERS, message=RAISE_MESSAGE)
    return _raise(actor, source=source, department_code=department_code, summary=summary, severity=severity,
                  due_on=due_on, refs=refs, audit=audit)


def _raise(actor: Actor, *, source, department_code, summary, severity, due_on, refs=(), audit=None,
           **extra) -> Finding:
    """raise_finding without the role check, for the self-inspection whose department's own answer
    (いいえ) becomes a finding."""
    errors = v.FieldErrors()
    source = errors.check("source", _choice, source, SOURCES, "指摘の出所", "source")
    department = errors.check("department", _department, department_code)
    summary = errors.check("summary", v.text, summary, "指摘の内容", max_len=4000, field="summary", multiline=True)
    severity = errors.check("severity", _choice, severity, SEVERITIES, "重要度", "severity")
    due = errors.check("due_on", _due, due_on)
    refs = errors.check("refs", _refs, refs)
    today = today_jst()
    audit = errors.check("audit", v.text, audit, "監査の名称", max_len=200, required=False, field="audit")
    errors.raise_any()
    with db.transaction() as session:
        finding = Finding(status=INITIAL[Kind.FINDING].value, source=source,
                          audit=audit or f"{fiscal_year_text(fiscal_year(today))} {SOURCES[source]}",
                          fiscal_year=fiscal_year(today), department_id=department.id, summary=summary,
                          severity=severity, due_on=due, raised_by=actor_name(actor), raised_at=utcnow(),
                          sent_back=0)
        finding.department = department
        session.add(finding)
        session.flush()
        for kind, ref in refs:
            session.add(FindingRef(finding_id=finding.id, kind=kind, ref=ref))
        session.flush()
        session.refresh(finding, ["refs"])
        record_event(EventType.FINDING_RAISED, actor=actor, subject=finding.audit_subject,
                     source=source, audit=finding.audit, department=department.code, summary=summary,
                     severity=severity, due_on=due.isoformat(),
                     refs=[f"{REF_KINDS[kind]} {ref}" for kind, ref in refs], **extra)
        return finding


def _answerable(actor: Actor, finding_id) -> Finding:
    finding = get_finding(finding_id)
    problem = answer_problem(actor, finding)
    if problem is not None:
        raise problem
    return finding


def submit_plan(actor: Actor, finding_id, data: dict) -> Finding:
    """The department's corrective-action plan (改善計画)."""
    if not isinstance(data, dict):
        raise Invalid("改善計画の内容が正しくありません。")
    _answerable(actor, finding_id)
    plan = v.text(data.get("plan"), "改善計画", max_len=4000, field="plan", multiline=True)
    with db.transaction():
        finding = _answerable(actor, finding_id)  # again under the write lock: the second of two finds it moved
        transition(finding, State.PLANNED, actor=actor, event=EventType.FINDING_PLANNED, plan=plan)
        finding.plan, finding.planned_by, finding.planned_at = plan, actor_name(actor), utcnow()
        return finding


def report_action(actor: Actor, finding_id, data: dict, evidence=()) -> Finding:
    """What was done, with evidence files; `evidence` is a list of (stream, filename) of PDFs."""
    if not isinstance(data, dict):
        raise Invalid("措置の内容が正しくありません。")
    _answerable(actor, finding_id)
    action = v.text(data.get("action"), "実施した措置", max_len=4000, field="action", multiline=True)
    uploads = [upload for upload in (evidence or ()) if upload and upload[0] is not None]
    with db.transaction() as session:
        finding = _answerable(actor, finding_id)
        if not uploads and not finding.evidence:
            raise Invalid("措置の証拠となるファイル（PDF）を1つ以上添付してください。", code="file_required",
                          field="file")
        stored = [files.store_pdf(stream, filename, actor=actor) for stream, filename in uploads]
        transition(finding, State.ACTION_REPORTED, actor=actor, event=EventType.FINDING_ACTION_REPORTED,
                   action=action, file_names=[s.original_name for s in stored],
                   sha256s=[s.sha256 for s in stored])
        now = utcnow()
        for row in stored:
            session.add(FindingEvidence(finding_id=finding.id, file_id=row.id, added_by=actor_name(actor),
                                        added_at=now))
        finding.action, finding.reported_by, finding.reported_at = action, actor_name(actor), now
        session.flush()
        session.refresh(finding, ["evidence"])
        return finding


def _confirmable(actor: Actor, finding_id) -> Finding:
    finding = get_finding(finding_id)
    problem = confirm_problem(actor, finding)
    if problem is not None:
        raise problem
    return finding


def _evidence_intact(actor: Actor, finding: Finding) -> None:
    """The evidence is re-hashed before anyone closes on it: a changed file is refused and recorded."""

    for evidence in finding.evidence:
        integrity = files.check_integrity(evidence.file)
        if not integrity.ok:
            record_integrity_failure(actor, evidence.file, integrity, subject=finding.audit_subject,
                                     context="finding_confirm")
            raise FileIntegrityError(integrity.message)


def confirm_on_site(actor: Actor, finding_id, data: dict) -> Finding:
    """現地確認: a security manager other than the one who answered saw the action on site; closes it."""
    if not isinstance(data, dict):
        raise Invalid("現地確認の内容が正しくありません。")
    _evidence_intact(actor, _confirmable(actor, finding_id))  # outside: its record of a fault must stay
    note = v.text(data.get("note"), "現地で確認した内容", max_len=4000, field="note", multiline=True)
    with db.transaction():
        finding = _confirmable(actor, finding_id)
        transition(finding, State.RESOLVED, actor=actor, event=EventType.FINDING_CONFIRMED, note=note)
        finding.confirmed_by, finding.confirmed_at, finding.confirmation = actor_name(actor), utcnow(), note
        return finding


def send_back(actor: Actor, finding_id, data: dict) -> Finding:
    """The on-site check found the action wanting: the department acts and reports again."""
    if not isinstance(data, dict):
        raise Invalid("差戻しの内容が正しくありません。")
    _confirmable(actor, finding_id)
    reason = v.text(data.get("reason"), "差戻しの理由", max_len=4000, field="reason", multiline=True)
    with db.transaction():
        finding = _confirmable(actor, finding_id)
        transition(finding, State.PLANNED, actor=actor, event=EventType.FINDING_SENT_BACK, reason=reason)
        finding.sent_back = (finding.sent_back or 0) + 1
        return finding


def evidence_bytes(actor: Actor, finding_id, file_id) -> tuple:
    """An evidence file of this finding, re-hashed first: a changed file is refused."""

    finding = get_visible_finding(actor, finding_id)
    stored = next((e.file for e in finding.evidence if e.file_id == row_id(file_id)), None)
    if stored is None:
        raise NotFound("このファイルは指摘事項の証拠にありません。", code="unknown_file")
    data, integrity = files.read_verified(stored)
    if data is None:
        record_integrity_failure(actor, stored, integrity, subject=finding.audit_subject, context="download")
        raise FileIntegrityError(integrity.message)
    return stored, data


# --- JSON ---------------------------------------------------------------------------------------

def finding_json(finding: Finding, names=None, as_of: date | None = None) -> dict:

    names = names or load_names([finding.raised_by, finding.planned_by, finding.reported_by,
                                 finding.confirmed_by], masters=False)
    return {
        "id": finding.id,
        "status": finding.status,
        "source": finding.source,
        "audit": finding.audit,
        "fiscal_year": finding.fiscal_year,
        "department": finding.department.code,
        "summary": finding.summary,
        "severity": finding.severity,
        "due_on": finding.due_on.isoformat(),
        "overdue": is_overdue(finding, as_of),
        "refs": [{"kind": r.kind, "ref": r.ref} for r in finding.refs],
        "raised_by": names.person(finding.raised_by),
        "raised_at": iso(finding.raised_at),
        "plan": finding.plan,
        "planned_by": names.person(finding.planned_by) if finding.planned_by else None,
        "action": finding.action,
        "reported_by": names.person(finding.reported_by) if finding.reported_by else None,
        "evidence": [{"id": e.file.id, "file_name": e.file.original_name, "sha256": e.file.sha256,
                      "size": e.file.size} for e in finding.evidence],
        "confirmed_by": names.person(finding.confirmed_by) if finding.confirmed_by else None,
        "confirmation": finding.confirmation,
        "sent_back": finding.sent_back or 0,
    }
