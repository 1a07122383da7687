"""The yearly self-inspection (自己点検): admins keep the checklist; each 年度 every department
answers every item (はい／いいえ／該当なし) with a note and, where the item asks for it, evidence;
on filing, every いいえ becomes a finding. An auditor may sample answered items and mark one as
not supported by its evidence, which also becomes a finding (the 2014 council criticised
self-scores that are always full marks: a bare はい is not enough where evidence is asked for).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from .. import files, validation as v
from ..actors import Actor, SystemActor
from ..audit.events import EventType
from ..audit.services import actor_name, record_event
from ..auth.models import Department
from ..roles import require_role, Role
from ..clock import fiscal_year, today_jst, utcnow
from ..db import row_id
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..extensions import db
from ..findings import services as findings
from ..items.queries import has_any_role, sees_all
from ..states import INITIAL, Kind, State, transition
from .models import ChecklistItem, SelfInspection, SelfInspectionAnswer
from ..files import FileIntegrityError, record_integrity_failure

ANSWERS = {"yes": "はい", "no": "いいえ", "na": "該当なし"}
#: How long a department has to mend what its own いいえ or a sample check found.
FINDING_DUE_DAYS = 90
#: Who records the default checklist when the first inspection finds none.
SEEDER = SystemActor("system:checklist", "システム（既定の点検項目）")

#: The prefectural guidance's themes with a first set of questions; admins change them freely.
DEFAULT_CHECKLIST = (
    ("管理体制", "セキュリティ管理者が指名され、所属内に周知されているか", False),
    ("管理体制", "住基ネットの利用事務と利用者の一覧が最新の状態に保たれているか", True),
    ("端末・媒体の管理", "端末の設置場所が施錠でき、関係者以外が立ち入れないか", False),
    ("端末・媒体の管理", "一括利用媒体を施錠できる保管庫で保管し、管理簿と現物が一致しているか", True),
    ("端末・媒体の管理", "端末へのカメラ・スマートフォン・USBメモリ等の持込みを禁止し、確認しているか", False),
    ("帳票の管理", "出力した帳票をすべて管理簿に登録し、保存期間の経過後に廃棄しているか", True),
    ("帳票の管理", "帳票の廃棄に立会者を置き、廃棄記録を残しているか", True),
    ("アクセス管理", "利用者ごとに操作者IDを付与し、共用していないか", False),
    ("アクセス管理", "異動・退職者の操作者IDと権限を速やかに削除しているか", True),
    ("アクセス管理", "アクセスログを定期的に確認しているか", True),
    ("委託先管理", "委託契約書に秘密保持・再委託禁止・実地確認等の条項があるか", True),
    ("委託先管理", "委託先から従事者の誓約書を受け取っているか", True),
    ("教育・研修", "今年度、すべての利用者が住基ネットのセキュリティ研修を受講したか", True),
    ("事故対応", "漏えい等の事故が起きたときの連絡体制と手順が定められ、周知されているか", True),
)


# --- who ----------------------------------------------------------------------------------------

def _require_admin(actor: Actor) -> None:
    require_role(actor, Role.ADMIN, message="自己点検の点検項目を変更できるのはシステム管理者です。")


def may_see(actor: Actor, inspection: SelfInspection) -> bool:
    return sees_all(actor) or (has_any_role(actor) and actor.department_id == inspection.department_id)


def answer_problem(actor: Actor, department_id: int) -> Forbidden | None:
    """Who answers for a department: its own security managers and registrars."""
    if actor.is_system:
        return None
    if actor.department_id != department_id or not actor.has_role(Role.SECURITY_MANAGER, Role.REGISTRAR):
        return Forbidden("自己点検に回答できるのは、その所属のセキュリティ管理者・登録担当です。")
    return None


def file_problem(actor: Actor, department_id: int) -> Forbidden | None:
    if actor.is_system:
        return None
    if actor.department_id != department_id or not actor.has_role(Role.SECURITY_MANAGER):
        return Forbidden("自己点検を提出できるのは、その所属のセキュリティ管理者です。")
    return None


def _require_sampler(actor: Actor) -> None:
    require_role(actor, Role.AUDITOR, message="回答の抽出確認は監査担当が行います。")


# --- the checklist ------------------------------------------------------------------------------

def checklist(*, active_only: bool = True) -> list[ChecklistItem]:
    query = select(ChecklistItem).order_by(ChecklistItem.position, ChecklistItem.id)
    if active_only:
        query = query.where(ChecklistItem.active.is_(True))
    return list(db.session.scalars(query))


def seed_default_checklist(actor: Actor = SEEDER) -> int:
    """Adds the default checklist when there is none at all; safe to run twice. Returns how many."""
    with db.transaction() as session:
        if session.scalar(select(func.count()).select_from(ChecklistItem)):
            return 0
        now = utcnow()
        for position, (theme, question, evidence) in enumerate(DEFAULT_CHECKLIST, start=1):
            item = ChecklistItem(theme=theme, question=question, evidence_required=evidence, position=position * 10,
                                 active=True, created_by=actor_name(actor), created_at=now)
            session.add(item)
            session.flush()
            record_event(EventType.CHECKLIST_ITEM_ADDED, actor=actor, subject=item.audit_subject,
                         checklist_item=item.id, theme=theme, question=question, evidence_required=evidence,
                         position=item.position)
        return len(DEFAULT_CHECKLIST)


def _item_fields(data, errors: v.FieldErrors) -> dict:
    fields = {
        "theme": errors.check("theme", v.text, data.get("theme"), "テーマ", max_len=100, field="theme"),
        "question": errors.check("question", v.text, data.get("question"), "点検内容", max_len=1000,
                                 field="question", multiline=True),
        "evidence_required": errors.check("evidence_required", v.boolean, data.get("evidence_required"),
                                          "証拠の添付", field="evidence_required"),
    }
    position = data.get("position")
    fields["position"] = None if position in (None, "") else errors.check(
        "position", v.integer, position, "表示順", minimum=0, maximum=100000, field="position")
    return fields


def add_checklist_item(actor: Actor, data: dict) -> ChecklistItem:
    """A new question (admins)."""
    _require_admin(actor)
    if not isinstance(data, dict):
        raise Invalid("点検項目の内容が正しくありません。")
    errors = v.FieldErrors()
    fields = _item_fields(data, errors)
    errors.raise_any()
    with db.transaction() as session:
        _require_admin(actor)
        if fields["position"] is None:
            fields["position"] = (session.scalar(select(func.max(ChecklistItem.position))) or 0) + 10
        item = ChecklistItem(**fields, active=True, created_by=actor_name(actor), created_at=utcnow())
        session.add(item)
        session.flush()
        record_event(EventType.CHECKLIST_ITEM_ADDED, actor=actor, subject=item.audit_subject,
                     checklist_item=item.id, **fields)
        return item


def get_checklist_item(item_id) -> ChecklistItem:
    key = row_id(item_id)
    item = db.session.scalar(select(ChecklistItem).where(ChecklistItem.id == key)
                             .execution_options(populate_existing=True)) if key else None
    if item is None:
        raise NotFound(f"点検項目「{str(item_id)[:20]}」は登録されていません。", code="unknown_checklist_item")
    return item


def update_checklist_item(actor: Actor, item_id, data: dict) -> ChecklistItem:
    """Changes a question, or retires it (active=false); answers already given keep it."""
    _require_admin(actor)
    if not isinstance(data, dict):
        raise Invalid("点検項目の内容が正しくありません。")
    errors = v.FieldErrors()
    fields = _item_fields(data, errors)
    fields["active"] = errors.check("active", v.boolean, data.get("active", True), "使用中", field="active")
    errors.raise_any()
    with db.transaction():
        item = get_checklist_item(item_id)
        if fields["position"] is None:
            fields["position"] = item.position
        for key, value in fields.items():
            setattr(item, key, value)
        record_event(EventType.CHECKLIST_ITEM_UPDATED, actor=actor, subject=item.audit_subject,
                     checklist_item=item.id, **fields)
        return item


# --- inspections --------------------------------------------------------------------------------

def get_inspection(inspection_id) -> SelfInspection:
    key = row_id(inspection_id)
    found = db.session.scalar(select(SelfInspection).where(SelfInspection.id == key)
                              .execution_options(populate_existing=True)) if key else None
    if found is None:
        raise NotFound(f"自己点検「{str(inspection_id)[:20]}」は登録されていません。", code="unknown_self_inspection")
    return found


def get_visible_inspection(actor: Actor, inspection_id) -> SelfInspection:
    inspection = get_inspection(inspection_id)
    if not may_see(actor, inspection):
        raise Forbidden("他の所属の自己点検は表示できません。")
    return inspection


def find_inspection(department_id: int, year: int) -> SelfInspection | None:
    return db.session.scalar(select(SelfInspection).where(SelfInspection.department_id == department_id,
                                                          SelfInspection.fiscal_year == year)
                             .execution_options(populate_existing=True))


def parse_year(value) -> int:
    if value in (None, ""):
        return fiscal_year(today_jst())
    year = v.integer(value, "年度", minimum=2000, maximum=2100, field="fiscal_year")
    if year > fiscal_year(today_jst()):
        raise Invalid("まだ始まっていない年度の自己点検はできません。", field="fiscal_year")
    return year


def open_inspection(actor: Actor, department_code=None, year=None) -> SelfInspection:
    """This 年度's self-inspection of the department (the actor's own by default), opened on first use."""
    errors = v.FieldErrors()
    department = actor.department if department_code in (None, "") and not actor.is_system else \
        errors.check("department", findings._department, department_code)
    year = errors.check("fiscal_year", parse_year, year)
    errors.raise_any()
    if department is None:
        raise Invalid("所属を指定してください。", field="department")
    problem = answer_problem(actor, department.id)
    if problem is not None:
        raise problem
    found = find_inspection(department.id, year)
    if found is not None:
        return found
    if not checklist():
        seed_default_checklist()
    with db.transaction() as session:
        found = find_inspection(department.id, year)  # under the write lock: two openers make one
        if found is not None:
            return found
        inspection = SelfInspection(department_id=department.id, fiscal_year=year,
                                    status=INITIAL[Kind.SELF_INSPECTION].value, opened_by=actor_name(actor),
                                    opened_at=utcnow())
        session.add(inspection)
        session.flush()
        record_event(EventType.SELF_INSPECTION_OPENED, actor=actor, subject=inspection.audit_subject,
                     department=department.code, fiscal_year=year)
        return inspection


def _answerable(actor: Actor, inspection_id) -> SelfInspection:
    inspection = get_inspection(inspection_id)
    problem = answer_problem(actor, inspection.department_id)
    if problem is not None:
        raise problem
    if inspection.status != State.ANSWERING.value:
        raise Conflict(f"{findings.fiscal_year_text(inspection.fiscal_year)}の自己点検は提出済みのため、"
                       "回答を変更できません。", code="self_inspection_filed")
    return inspection


def answer_item(actor: Actor, inspection_id, item_id, data: dict, evidence=None) -> SelfInspectionAnswer:
    """Answers one item (again, until filed); `evidence` is (stream, filename) of a PDF."""
    if not isinstance(data, dict):
        raise Invalid("回答の内容が正しくありません。")
    _answerable(actor, inspection_id)
    item = get_checklist_item(item_id)
    errors = v.FieldErrors()
    answer = errors.check("answer", findings._choice, data.get("answer"), ANSWERS, "回答", "answer")
    note = errors.check("note", v.text, data.get("note"), "補足", max_len=2000, required=False, field="note",
                        multiline=True)
    if answer in ("no", "na") and not note and "note" not in errors.messages:
        errors.refuse("note", Invalid(f"「{ANSWERS[answer]}」と回答するときは、理由・状況を補足に書いてください。",
                                      field="note"))
    errors.raise_any()
    has_upload = bool(evidence and evidence[0] is not None)
    with db.transaction() as session:
        inspection = _answerable(actor, inspection_id)
        if not item.active:
            raise Invalid("この点検項目は現在使われていません。", field="item")
        row = session.scalar(select(SelfInspectionAnswer).where(SelfInspectionAnswer.inspection_id == inspection.id,
                                                               SelfInspectionAnswer.item_id == item.id)
                             .execution_options(populate_existing=True))
        stored = files.store_pdf(evidence[0], evidence[1], actor=actor) if has_upload else None
        if answer == "yes" and item.evidence_required and stored is None and (row is None or row.file_id is None):
            raise Invalid("この項目は「はい」と回答するときに証拠（PDF）の添付が必要です。", code="file_required",
                          field="file")
        if row is None:
            row = SelfInspectionAnswer(inspection_id=inspection.id, item_id=item.id)
            session.add(row)
        row.answer, row.note = answer, note
        row.answered_by, row.answered_at = actor_name(actor), utcnow()
        if stored is not None:
            row.file_id = stored.id
        session.flush()
        session.refresh(row, ["file", "item"])
        record_event(EventType.SELF_INSPECTION_ANSWERED, actor=actor, subject=inspection.audit_subject,
                     department=inspection.department.code, fiscal_year=inspection.fiscal_year,
                     checklist_item=item.id, answer=answer, note=note,
                     **({"file_name": stored.original_name, "sha256": stored.sha256} if stored else {}))
        return row


def unanswered(inspection: SelfInspection) -> list[ChecklistItem]:
    answered = {a.item_id for a in inspection.answers}
    return [item for item in checklist() if item.id not in answered]


def _summary_of_no(row: SelfInspectionAnswer) -> str:
    return f"自己点検で「{row.item.question}」に「いいえ」と回答（{row.item.theme}）。{row.note or ''}".strip()


def file_inspection(actor: Actor, inspection_id) -> SelfInspection:
    """Files the department's answers; every いいえ becomes a finding in the same transaction."""
    with db.transaction():
        inspection = get_inspection(inspection_id)
        problem = file_problem(actor, inspection.department_id)
        if problem is not None:
            raise problem
        missing = unanswered(inspection)
        if missing and inspection.status == State.ANSWERING.value:
            raise Invalid(f"未回答の項目が{len(missing)}件あります（{missing[0].theme}: {missing[0].question[:40]} ほか）。"
                          "すべての項目に回答してから提出してください。", code="unanswered_items")
        raised = []
        due = today_jst() + timedelta(days=FINDING_DUE_DAYS)
        for row in inspection.answers:
            if row.answer != "no" or not row.item.active:
                continue
            finding = findings._raise(actor, source="self_inspection", department_code=inspection.department.code,
                                      summary=_summary_of_no(row)[:4000], severity="medium", due_on=due,
                                      audit=f"{findings.fiscal_year_text(inspection.fiscal_year)} 自己点検",
                                      self_inspection=inspection.id, checklist_item=row.item_id)
            row.finding_id = finding.id
            raised.append(finding.id)
        # a second filing fails here and rolls back the findings above with it
        transition(inspection, State.FILED, actor=actor, event=EventType.SELF_INSPECTION_FILED,
                   department=inspection.department.code, fiscal_year=inspection.fiscal_year,
                   finding_ids=raised)
        inspection.filed_by, inspection.filed_at = actor_name(actor), utcnow()
        return inspection


def get_answer(answer_id) -> SelfInspectionAnswer:
    key = row_id(answer_id)
    found = db.session.scalar(select(SelfInspectionAnswer).where(SelfInspectionAnswer.id == key)
                              .execution_options(populate_existing=True)) if key else None
    if found is None:
        raise NotFound(f"回答「{str(answer_id)[:20]}」は登録されていません。", code="unknown_answer")
    return found


def _evidence_intact(actor: Actor, row: SelfInspectionAnswer) -> None:
    """The evidence an auditor judges is re-hashed first: a changed file is refused and recorded."""

    if row.file is None:
        return
    integrity = files.check_integrity(row.file)
    if not integrity.ok:
        record_integrity_failure(actor, row.file, integrity, subject=f"self-inspection:{row.inspection_id}",
                                 context="self_inspection_sample")
        raise FileIntegrityError(integrity.message)


def sample_answer(actor: Actor, answer_id, data: dict) -> SelfInspectionAnswer:
    """An auditor checks one answer against its evidence; not supported → a finding."""
    _require_sampler(actor)
    if not isinstance(data, dict):
        raise Invalid("抽出確認の内容が正しくありません。")
    errors = v.FieldErrors()
    supported = errors.check("supported", v.boolean, data.get("supported"), "証拠による裏付け", field="supported")
    note = errors.check("note", v.text, data.get("note"), "確認した内容", max_len=2000, required=not supported,
                        field="note", multiline=True)
    errors.raise_any()
    _evidence_intact(actor, get_answer(answer_id))  # outside: its record of a fault must stay
    with db.transaction():
        row = get_answer(answer_id)
        inspection = get_inspection(row.inspection_id)
        if inspection.status != State.FILED.value:
            raise Conflict("抽出確認は提出済みの自己点検について行います。", code="self_inspection_not_filed")
        if row.sampled_at is not None:
            raise Conflict("この回答は既に抽出確認されています。", code="already_sampled")
        finding = None
        if not supported:
            finding = findings._raise(
                actor, source="self_inspection", department_code=inspection.department.code,
                summary=(f"自己点検の回答「{ANSWERS[row.answer]}」（{row.item.question}）が証拠で裏付けられない。"
                         f"{note}")[:4000],
                severity="medium", due_on=today_jst() + timedelta(days=FINDING_DUE_DAYS),
                audit=f"{findings.fiscal_year_text(inspection.fiscal_year)} 自己点検",
                self_inspection=inspection.id, checklist_item=row.item_id)
        row.sampled_by, row.sampled_at = actor_name(actor), utcnow()
        row.supported, row.sample_note = supported, note
        row.sample_finding_id = finding.id if finding else None
        record_event(EventType.SELF_INSPECTION_SAMPLED, actor=actor, subject=inspection.audit_subject,
                     checklist_item=row.item_id, supported=supported, note=note,
                     **({"finding": finding.id} if finding else {}))
        return row


def evidence_bytes(actor: Actor, answer_id) -> tuple:

    row = get_answer(answer_id)
    inspection = get_visible_inspection(actor, row.inspection_id)
    if row.file is None:
        raise NotFound("この回答には証拠のファイルがありません。", code="unknown_file")
    data, integrity = files.read_verified(row.file)
    if data is None:
        record_integrity_failure(actor, row.file, integrity, subject=inspection.audit_subject, context="download")
        raise FileIntegrityError(integrity.message)
    return row.file, data


# --- progress -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Progress:
    department_code: str
    department: str
    inspection_id: int | None
    status: str | None  #: None: not opened yet
    total: int
    answered: int
    yes: int
    no: int
    na: int
    findings: int  #: findings raised from this inspection (いいえ and sample checks)

    @property
    def percent(self) -> int:
        return round(100 * self.answered / self.total) if self.total else 0


def progress(year: int) -> list[Progress]:
    """Every active department's progress for the 年度, in the order of the department list."""
    items = {item.id for item in checklist()}
    total = len(items)
    inspections = {i.department_id: i for i in db.session.scalars(
        select(SelfInspection).where(SelfInspection.fiscal_year == year).execution_options(populate_existing=True))}
    rows = []
    for department in db.session.scalars(select(Department).where(Department.active.is_(True)).order_by(Department.id)):
        inspection = inspections.get(department.id)
        answers = [a for a in (inspection.answers if inspection else []) if a.item_id in items]
        counts = {key: sum(1 for a in answers if a.answer == key) for key in ANSWERS}
        raised = sum(1 for a in (inspection.answers if inspection else []) for f in (a.finding_id, a.sample_finding_id) if f)
        rows.append(Progress(department.code, department.name, inspection.id if inspection else None,
                             inspection.status if inspection else None, total, len(answers), counts["yes"],
                             counts["no"], counts["na"], raised))
    return rows


def counts_per_year() -> list[dict]:
    """Per 年度: departments filed, still answering, いいえ answers and findings from the inspections."""
    rows: dict[int, dict] = {}
    for inspection in db.session.scalars(select(SelfInspection).execution_options(populate_existing=True)):
        row = rows.setdefault(inspection.fiscal_year, {"fiscal_year": inspection.fiscal_year, "filed": 0,
                                                       "answering": 0, "no_answers": 0, "findings": 0})
        row["filed" if inspection.status == State.FILED.value else "answering"] += 1
        row["no_answers"] += sum(1 for a in inspection.answers if a.answer == "no")
        row["findings"] += sum(1 for a in inspection.answers for f in (a.finding_id, a.sample_finding_id) if f)
    return [rows[year] for year in sorted(rows)]


def inspection_json(inspection: SelfInspection) -> dict:
    return {
        "id": inspection.id, "department": inspection.department.code, "fiscal_year": inspection.fiscal_year,
        "status": inspection.status,
        "answers": [{"id": a.id, "item": a.item_id, "theme": a.item.theme, "question": a.item.question,
                     "answer": a.answer, "note": a.note,
                     "evidence": None if a.file is None else {"file_name": a.file.original_name,
                                                             "sha256": a.file.sha256},
                     "finding": a.finding_id, "sampled": a.sampled_at is not None, "supported": a.supported,
                     "sample_finding": a.sample_finding_id} for a in inspection.answers],
        "unanswered": [item.id for item in unanswered(inspection)] if inspection.status == State.ANSWERING.value else [],
    }
