"""The review: the quarter's draw, the reviewer's marks, the department's answers, the decisions on
the automatic checks' hits, raised sampling and look-back reviews.

Who: auditors draw, mark, decide hits, raise a department's sampling and open look-backs (their
job: SPEC, auditors record access-log review results); a department's security manager answers a
要確認 about a record of the department. Every change is one transaction with its audit event;
each action re-reads its row under the write lock, so of two people acting on the same record at
once the second finds it already done.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from .. import validation as v
from ..actors import Actor
from ..audit.checkpoints import checkpoint_message, sign_checkpoint
from ..audit.events import EventType
from ..audit.models import AuditCheckpoint
from ..audit.services import actor_name, record_event
from ..auth.models import Department, User
from ..clock import jst_day_start_utc, to_jst, today_jst, utcnow
from ..fiscal import fiscal_year_of
from ..db import row_id
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..extensions import db
from ..policy import services as policy
from ..roles import Role
from . import hooks, sampling
from .checks import CHECKS
from .models import (AccessRecord, CheckHit, LogImport, LogReview, ReviewSample, SampledRecord,
                     SamplingRaise)

MARKS = {"ok": "問題なし", "query": "要確認"}
HIT_DECISIONS = {"confirmed": "指摘として確定", "dismissed": "問題なしとして取下げ"}
REVIEWERS = (Role.AUDITOR,)
#: A look-back shows every record of its scope; beyond this the period is to be narrowed.
MAX_LOOKBACK_RECORDS = 5000
#: The period a look-back form proposes: this many days up to the day of the record found.
LOOKBACK_DEFAULT_DAYS = 90
#: A finding raised from the review is due this many days later unless the reviewer says otherwise.
FINDING_DUE_DAYS = 30


def _require_reviewer(actor: Actor) -> None:
    if isinstance(actor, User) and not actor.has_role(*REVIEWERS):
        raise Forbidden("アクセスログ検証の抽出・判定は監査担当が行います。")


def may_read(actor: Actor) -> bool:
    return not isinstance(actor, User) or actor.has_role(Role.AUDITOR, Role.ADMIN, Role.SECURITY_MANAGER)


def require_reader(actor: Actor) -> None:
    if not may_read(actor):
        raise Forbidden("アクセスログ検証を閲覧できるのは、監査担当・システム管理者・セキュリティ管理者です。")


def _month_bounds(month: str) -> tuple[datetime, datetime]:
    year, number = (int(part) for part in month.split("-"))
    following = date(year + number // 12, number % 12 + 1, 1)
    return jst_day_start_utc(date(year, number, 1)), jst_day_start_utc(following)


def _completed():
    return select(LogImport.id).where(LogImport.completed_at.is_not(None)).scalar_subquery()


# --- raised sampling ----------------------------------------------------------------------------

def raise_sampling(actor: Actor, department_code, reason) -> SamplingRaise:
    """An auditor raises a department's sampling to the larger size until lifted."""
    errors = v.FieldErrors()
    code = errors.check("department", v.text, department_code, "所属", max_len=32, field="department")
    reason = errors.check("reason", v.text, reason, "理由", max_len=1000, field="reason", multiline=True)
    errors.raise_any()
    with db.transaction() as session:
        _require_reviewer(actor)
        department = session.scalar(select(Department).where(Department.code == code))
        if department is None:
            raise Invalid(f"所属「{code}」は登録されていません。", field="department")
        if _active_raise(department.id) is not None:
            raise Conflict(f"{department.name}の抽出件数は既に引き上げられています。", code="already_raised")
        raised = SamplingRaise(department_id=department.id, reason=reason, raised_by=actor_name(actor),
                               raised_at=utcnow())
        session.add(raised)
        session.flush()
        record_event(EventType.LOG_SAMPLING_RAISED, actor=actor, subject=f"department:{code}",
                     department=code, reason=reason)
        return raised


def lift_sampling(actor: Actor, department_code, reason) -> SamplingRaise:
    reason = v.text(reason, "理由", max_len=1000, field="reason", multiline=True)
    with db.transaction() as session:
        _require_reviewer(actor)
        department = session.scalar(select(Department).where(Department.code == str(department_code or "")))
        found = _active_raise(department.id) if department else None
        if found is None:
            raise Conflict("この所属の抽出件数は引き上げられていません。", code="not_raised")
        found.lifted_by, found.lifted_at = actor_name(actor), utcnow()
        record_event(EventType.LOG_SAMPLING_LIFTED, actor=actor, subject=f"department:{department.code}",
                     department=department.code, reason=reason)
        return found


def _active_raise(department_id: int) -> SamplingRaise | None:
    return db.session.scalar(select(SamplingRaise).where(SamplingRaise.department_id == department_id,
                                                         SamplingRaise.lifted_at.is_(None))
                             .execution_options(populate_existing=True))


def active_raises() -> list[SamplingRaise]:
    return list(db.session.scalars(select(SamplingRaise).where(SamplingRaise.lifted_at.is_(None))
                                   .order_by(SamplingRaise.raised_at)))


def raised_because(department_id: int, as_of: date) -> str | None:
    """Why a department takes the larger sample, or None: an auditor's raise, an open or recent
    finding (the findings domain's), or a hit of this review confirmed as a finding recently."""
    if _active_raise(department_id) is not None:
        return "監査担当による引上げ"
    since = as_of - timedelta(days=int(policy.get("logreview.recent_finding_days")))
    if hooks.department_has_finding(department_id, since):
        return "未解決または最近の指摘事項"
    confirmed = db.session.scalar(select(func.count()).select_from(CheckHit).where(
        CheckHit.department_id == department_id, CheckHit.status == "confirmed",
        CheckHit.decided_at >= jst_day_start_utc(since)))
    escalated = db.session.scalar(
        select(func.count()).select_from(SampledRecord).join(AccessRecord, AccessRecord.id == SampledRecord.record_id)
        .where(AccessRecord.department_id == department_id, SampledRecord.finding_id.is_not(None),
               SampledRecord.marked_at >= jst_day_start_utc(since)))
    if confirmed or escalated:
        return "最近のアクセスログ検証での指摘"
    return None


# --- the quarter's draw -------------------------------------------------------------------------

def _quarter(value) -> str:
    value = v.text(value, "四半期", max_len=6, field="quarter")
    if sampling.parse_quarter(value) is None:
        raise Invalid("四半期は 2026Q3 の形（年とQ1〜Q4、Q1 は1〜3月）で指定してください。", field="quarter")
    return value


def open_review(actor: Actor, quarter) -> LogReview:
    """Draws the quarter's review: signs a checkpoint after the imports, seeds the draw with its
    hash, and for each department with records in the quarter draws one month and its sample."""
    _require_reviewer(actor)
    quarter = _quarter(quarter)
    months = sampling.quarter_months(quarter)
    low, high = _month_bounds(months[0])[0], _month_bounds(months[-1])[1]
    db.end_read()
    if db.session.scalar(select(LogReview.id).where(LogReview.quarter == quarter)) is not None:
        raise Conflict(f"{quarter} のアクセスログ検証は既に抽出されています。", code="review_exists")
    in_quarter = (AccessRecord.import_id.in_(_completed()), AccessRecord.accessed_at >= low,
                  AccessRecord.accessed_at < high, AccessRecord.department_id.is_not(None))
    if db.session.scalar(select(AccessRecord.id).where(*in_quarter).limit(1)) is None:
        raise Invalid(f"{quarter} のアクセスログが取り込まれていません。先にログを取り込んでください。",
                      code="no_logs_in_quarter", field="quarter")
    unfinished = db.session.scalar(select(func.count()).select_from(LogImport).where(LogImport.completed_at.is_(None)))
    if unfinished:
        raise Conflict("取込み中のアクセスログがあります。取込みが終わってから抽出してください。", code="import_running")
    checkpoint = sign_checkpoint(actor)  # its own transaction, after every completed import
    seed = sampling.seed_of(_message(checkpoint), checkpoint.signature)
    with db.transaction() as session:
        if session.scalar(select(LogReview.id).where(LogReview.quarter == quarter)) is not None:
            raise Conflict(f"{quarter} のアクセスログ検証は既に抽出されています。", code="review_exists")
        review = LogReview(kind="quarterly", quarter=quarter, checkpoint_id=checkpoint.id, seed=seed,
                           created_by=actor_name(actor), created_at=utcnow())
        session.add(review)
        session.flush()
        departments = session.execute(
            select(Department.id, Department.code).where(Department.id.in_(
                select(AccessRecord.department_id).where(*in_quarter).distinct())).order_by(Department.code)).all()
        published = []
        small, large = int(policy.get("logreview.sample_size")), int(policy.get("logreview.raised_sample_size"))
        total = 0
        for department_id, code in departments:
            month = sampling.draw_month(seed, quarter, code)
            start, end = _month_bounds(month)
            ids = list(session.scalars(select(AccessRecord.id).where(
                AccessRecord.import_id.in_(_completed()), AccessRecord.department_id == department_id,
                AccessRecord.accessed_at >= start, AccessRecord.accessed_at < end)
                .order_by(AccessRecord.accessed_at, AccessRecord.id)))
            because = raised_because(department_id, today_jst())
            size = large if because else small
            positions = sampling.draw_positions(seed, code, month, len(ids), size)
            sample = ReviewSample(review_id=review.id, department_id=department_id, month=month,
                                  population=len(ids), size=size, raised=because is not None,
                                  raised_because=because)
            session.add(sample)
            session.flush()
            session.add_all(SampledRecord(sample_id=sample.id, record_id=ids[p], position=p) for p in positions)
            total += len(positions)
            published.append(code)
        session.flush()
        record_event(EventType.LOG_REVIEW_OPENED, actor=actor, subject=review.audit_subject, quarter=quarter,
                     checkpoint=checkpoint.id, seed=seed, departments=len(published), count=total)
        return review


def _message(checkpoint: AuditCheckpoint) -> bytes:
    return checkpoint_message(checkpoint.seq, checkpoint.head_hash,
                              checkpoint.created_at.isoformat(timespec="microseconds"), checkpoint.root)


def draw_parameters(review: LogReview) -> dict:
    """The published parameters of a draw, what the offline verifier recomputes it from: the seed
    and its checkpoint, the imports it drew from (each logged before the checkpoint), and per
    department the month, the count of its records, the sample size and the drawn positions."""
    checkpoint = checkpoint_of(review)
    if review.kind != "quarterly" or checkpoint is None:
        return {}
    low, high = review_period(review)
    imports = db.session.execute(select(LogImport.sha256, LogImport.event_seq).where(
        LogImport.completed_at.is_not(None), LogImport.event_seq <= checkpoint.seq,
        LogImport.first_at < high, LogImport.last_at >= low).order_by(LogImport.event_seq)).all()
    departments = []
    for sample in review.samples:
        positions = list(db.session.scalars(select(SampledRecord.position)
                                            .where(SampledRecord.sample_id == sample.id).order_by(SampledRecord.position)))
        departments.append({"department": sample.department.code, "month": sample.month,
                            "population": sample.population, "size": sample.size, "raised": bool(sample.raised),
                            "positions": positions})
    return {"quarter": review.quarter, "seed": review.seed,
            "checkpoint": {"id": checkpoint.id, "seq": checkpoint.seq, "head": checkpoint.head_hash,
                           "signature": checkpoint.signature},
            "order": "accessed_at, id", "imports": [{"sha256": sha, "event_seq": seq} for sha, seq in imports],
            "departments": departments}


# --- look-back ----------------------------------------------------------------------------------

def open_lookback(actor: Actor, data: dict) -> LogReview:
    """After a confirmed misuse, every record of the same operator or terminal over an earlier
    period is reviewed."""
    errors = v.FieldErrors()
    basis = errors.check("hit", row_id, data.get("hit"))
    operator = errors.check("operator", v.text, data.get("operator"), "操作者ID", max_len=64, required=False,
                            field="operator")
    terminal = errors.check("terminal", v.text, data.get("terminal"), "端末", max_len=64, required=False,
                            field="terminal")
    day_from = errors.check("date_from", v.a_date, data.get("date_from"), "期間の初日", field="date_from")
    day_to = errors.check("date_to", v.a_date, data.get("date_to"), "期間の末日", field="date_to")
    reason = errors.check("reason", v.text, data.get("reason"), "理由", max_len=1000, field="reason", multiline=True)
    if basis is None and "hit" not in errors.messages:
        errors.refuse("hit", Invalid("遡り検証のきっかけになった、指摘として確定した自動点検の該当を指定してください。", field="hit"))
    if not operator and not terminal and "operator" not in errors.messages and "terminal" not in errors.messages:
        errors.refuse("operator", Invalid("操作者IDか端末のどちらかを指定してください。", field="operator"))
    if day_from and day_to and day_to < day_from:
        errors.refuse("date_to", Invalid("期間の末日は初日以降にしてください。", field="date_to"))
    errors.raise_any()
    terminal = terminal.upper() if terminal else None
    with db.transaction() as session:
        _require_reviewer(actor)
        hit = session.get(CheckHit, basis, populate_existing=True)
        if hit is None or hit.status != "confirmed":
            raise Invalid("遡り検証は、指摘として確定した自動点検の該当をきっかけに始めます。", field="hit")
        record = session.get(AccessRecord, hit.record_id)
        if (operator and operator != record.operator) or (terminal and terminal != record.terminal):
            raise Invalid("遡り検証の操作者・端末は、きっかけの該当と同じものにしてください。", field="operator")
        scope = [AccessRecord.import_id.in_(_completed()), AccessRecord.accessed_at >= jst_day_start_utc(day_from),
                 AccessRecord.accessed_at < jst_day_start_utc(day_to + timedelta(days=1))]
        if operator:
            scope.append(AccessRecord.operator == operator)
        if terminal:
            scope.append(AccessRecord.terminal == terminal)
        ids = list(session.scalars(select(AccessRecord.id).where(*scope)
                                   .order_by(AccessRecord.accessed_at, AccessRecord.id).limit(MAX_LOOKBACK_RECORDS + 1)))
        if len(ids) > MAX_LOOKBACK_RECORDS:
            raise Invalid(f"対象の記録が{MAX_LOOKBACK_RECORDS:,}件を超えます。期間を短くしてください。", field="date_from")
        review = LogReview(kind="lookback", operator=operator, terminal=terminal, date_from=day_from, date_to=day_to,
                           basis_hit_id=hit.id, reason=reason, created_by=actor_name(actor), created_at=utcnow())
        session.add(review)
        session.flush()
        sample = ReviewSample(review_id=review.id, department_id=record.department_id, month=None,
                              population=len(ids), size=len(ids), raised=False)
        session.add(sample)
        session.flush()
        session.add_all(SampledRecord(sample_id=sample.id, record_id=i, position=p) for p, i in enumerate(ids))
        session.flush()
        record_event(EventType.LOG_LOOKBACK_OPENED, actor=actor, subject=review.audit_subject, hit=hit.id,
                     operator=operator, terminal=terminal, date_from=day_from.isoformat(),
                     date_to=day_to.isoformat(), reason=reason, count=len(ids))
        return review


def lookback_basis(actor: Actor, hit_id) -> RecordRow:
    """The confirmed hit a look-back starts from, with its record, for the form that opens one."""
    _require_reviewer(actor)
    if hit_id in (None, ""):
        raise Invalid("遡り検証は、指摘として確定した自動点検の該当から始めます。該当の一覧で、きっかけの該当を"
                      "選んでください。", field="hit")
    key = row_id(hit_id)
    found = hit_rows(hit_id=key, limit=1) if key else []
    if not found:
        raise NotFound(f"自動点検の該当「{str(hit_id)[:20]}」はありません。", code="unknown_hit")
    if found[0].status != "confirmed":
        raise Conflict("遡り検証は、指摘として確定した自動点検の該当をきっかけに始めます。"
                       f"この該当は「{HIT_DECISIONS.get(found[0].status, '未判断')}」です。", code="hit_not_confirmed")
    return found[0]


def lookback_defaults(basis: RecordRow) -> dict[str, str]:
    """What the form proposes: both the operator and the terminal, over the LOOKBACK_DEFAULT_DAYS
    up to the day of the record that was found."""
    day = to_jst(basis.accessed_at).date()
    return {"hit": str(basis.id), "operator": basis.operator, "terminal": basis.terminal,
            "date_from": (day - timedelta(days=LOOKBACK_DEFAULT_DAYS)).isoformat(), "date_to": day.isoformat()}


def lookbacks_from(hit_ids) -> list[LogReview]:
    """The look-backs opened from these hits, oldest first."""
    hit_ids = list(hit_ids)
    if not hit_ids:
        return []
    return list(db.session.scalars(select(LogReview).where(LogReview.basis_hit_id.in_(hit_ids))
                                   .order_by(LogReview.id)))


def confirmed_hits_of_finding(finding_id: int) -> list[RecordRow]:
    """The confirmed hits a finding was raised from (decide_hit links them)."""
    return hit_rows(finding_id=finding_id, status="confirmed", limit=50)


# --- marks and answers --------------------------------------------------------------------------

def _sampled(session, sampled_id) -> SampledRecord:
    key = row_id(sampled_id)
    found = session.get(SampledRecord, key, populate_existing=True) if key else None
    if found is None:
        raise NotFound(f"抽出された記録「{sampled_id}」はありません。", code="unknown_sampled_record")
    return found


def mark_record(actor: Actor, sampled_id, mark, note=None) -> SampledRecord:
    """The reviewer's mark: 問題なし, or 要確認 with a note saying what the department is to explain."""
    errors = v.FieldErrors()
    if not isinstance(mark, str) or mark not in MARKS:  # a JSON object or list is no choice either
        errors.refuse("mark", Invalid("判定は「問題なし」か「要確認」を選んでください。", field="mark"))
    note = errors.check("note", v.text, note, "所見", max_len=1000, required=mark == "query", field="note",
                        multiline=True)
    errors.raise_any()
    with db.transaction() as session:
        _require_reviewer(actor)
        found = _sampled(session, sampled_id)
        if found.answered_at is not None or found.finding_id is not None:
            raise Conflict("所属の回答があった記録の判定は変えられません。", code="already_answered")
        before = found.mark
        found.mark, found.note, found.marked_by, found.marked_at = mark, note, actor_name(actor), utcnow()
        record_event(EventType.LOG_RECORD_MARKED, actor=actor, subject=f"log-record:{found.record_id}",
                     sampled=found.id, mark=mark, mark_before=before, note=note)
        return found


def may_answer(actor: Actor, department_id: int | None) -> bool:
    if not isinstance(actor, User):
        return True
    return actor.has_role(Role.SECURITY_MANAGER) and actor.department_id == department_id


def answer_query(actor: Actor, sampled_id, answer) -> SampledRecord:
    """The department's answer to a 要確認 (its security manager)."""
    answer = v.text(answer, "回答", max_len=1000, field="answer", multiline=True)
    with db.transaction() as session:
        found = _sampled(session, sampled_id)
        record = session.get(AccessRecord, found.record_id)
        if not may_answer(actor, record.department_id):
            raise Forbidden("要確認への回答は、その所属のセキュリティ管理者が行います。")
        if found.mark != "query":
            raise Conflict("この記録は要確認になっていません。", code="not_queried")
        if found.answered_at is not None:
            raise Conflict("この要確認には既に回答があります。", code="already_answered")
        found.answer, found.answered_by, found.answered_at = answer, actor_name(actor), utcnow()
        record_event(EventType.LOG_QUERY_ANSWERED, actor=actor, subject=f"log-record:{found.record_id}",
                     sampled=found.id, answer=answer)
        return found


def _due(value) -> date:
    """A finding's due date: as given, else the policy-free default of 30 days from today."""
    if value in (None, ""):
        return today_jst() + timedelta(days=FINDING_DUE_DAYS)
    day = v.a_date(value, "措置の期限", field="due_on")
    if day < today_jst():
        raise Invalid("措置の期限に過去の日付は指定できません。", field="due_on")
    return day


def _refs(record: AccessRecord) -> list[dict]:
    return [{"kind": "log", "ref": str(record.id)}, {"kind": "terminal", "ref": record.terminal}]


def escalate_query(actor: Actor, sampled_id, summary, severity="medium", due_on=None) -> SampledRecord:
    """A 要確認 becomes a finding (指摘事項) through the findings domain."""
    errors = v.FieldErrors()
    summary = errors.check("summary", v.text, summary, "指摘の内容", max_len=1000, field="summary", multiline=True)
    if not isinstance(severity, str) or severity not in ("low", "medium", "high"):
        errors.refuse("severity", Invalid("重要度は low・medium・high から選んでください。", field="severity"))
    due = errors.check("due_on", _due, due_on)
    errors.raise_any()
    if not hooks.findings_available():
        raise Conflict("指摘事項の記録機能がまだ使えません。", code="findings_unavailable")
    with db.transaction() as session:
        _require_reviewer(actor)
        found = _sampled(session, sampled_id)
        if found.mark != "query":
            raise Conflict("要確認の記録だけを指摘事項にできます。", code="not_queried")
        if found.finding_id is not None:
            raise Conflict("この記録は既に指摘事項になっています。", code="already_escalated")
        record = session.get(AccessRecord, found.record_id)
        department = session.get(Department, record.department_id)
        found.finding_id = hooks.raise_finding(actor, department_code=department.code, summary=summary,
                                               severity=severity, due_on=due, refs=_refs(record),
                                               audit=_audit_name(session, found))
        record_event(EventType.LOG_QUERY_ESCALATED, actor=actor, subject=f"log-record:{record.id}",
                     sampled=found.id, finding=found.finding_id, summary=summary)
        return found


# --- the checks' hits ---------------------------------------------------------------------------

def _audit_name(session, sampled: SampledRecord) -> str:
    sample = session.get(ReviewSample, sampled.sample_id)
    review = session.get(LogReview, sample.review_id)
    return f"アクセスログ検証 {review.quarter}" if review.quarter else f"アクセスログ遡り検証 第{review.id}号"


def decide_hit(actor: Actor, hit_id, decision, reason=None, severity="medium", due_on=None) -> CheckHit:
    """The reviewer confirms a candidate (it becomes a finding where the findings domain exists) or
    dismisses it with a reason."""
    errors = v.FieldErrors()
    if not isinstance(decision, str) or decision not in HIT_DECISIONS:
        errors.refuse("decision", Invalid("「指摘として確定」か「取下げ」を選んでください。", field="decision"))
    reason = errors.check("reason", v.text, reason, "理由", max_len=1000, required=decision == "dismissed",
                          field="reason", multiline=True)
    if not isinstance(severity, str) or severity not in ("low", "medium", "high"):
        errors.refuse("severity", Invalid("重要度は low・medium・high から選んでください。", field="severity"))
    due = errors.check("due_on", _due, due_on) if decision == "confirmed" else None
    errors.raise_any()
    with db.transaction() as session:
        _require_reviewer(actor)
        key = row_id(hit_id)
        hit = session.get(CheckHit, key, populate_existing=True) if key else None
        if hit is None:
            raise NotFound(f"自動点検の該当「{hit_id}」はありません。", code="unknown_hit")
        if hit.status != "candidate":
            raise Conflict(f"この該当は既に「{HIT_DECISIONS[hit.status]}」とされています。", code="already_decided")
        hit.status, hit.reason, hit.decided_by, hit.decided_at = decision, reason, actor_name(actor), utcnow()
        if decision == "confirmed" and hit.department_id is not None:
            department = session.get(Department, hit.department_id)
            hit.finding_id = hooks.raise_finding(
                actor, department_code=department.code, severity=severity, due_on=due,
                refs=_refs(session.get(AccessRecord, hit.record_id)), audit="アクセスログ点検（自動点検）",
                summary=f"アクセスログ点検: {CHECKS[hit.rule]}。{hit.detail}" + (f" {reason}" if reason else ""))
        record_event(EventType.LOG_HIT_DECIDED, actor=actor, subject=f"log-record:{hit.record_id}", hit=hit.id,
                     rule=hit.rule, decision=decision, reason=reason, finding=hit.finding_id)
        return hit


# --- reading ------------------------------------------------------------------------------------

def get_review(actor: Actor, review_id) -> LogReview:
    require_reader(actor)
    key = row_id(review_id)
    found = db.session.get(LogReview, key) if key else None
    if found is None:
        raise NotFound(f"アクセスログ検証「{review_id}」はありません。", code="unknown_review")
    return found


def list_reviews(actor: Actor) -> list[LogReview]:
    require_reader(actor)
    return list(db.session.scalars(select(LogReview).order_by(LogReview.id.desc()).limit(200)))


@dataclass(frozen=True)
class RecordRow:
    """A sampled record (or a hit's record) as pages, the API and the report show it."""
    id: int  #: SampledRecord.id, or CheckHit.id for hits
    record_id: int
    accessed_at: datetime
    terminal: str
    operator: str
    operator_name: str
    business: str
    operation: str
    records: int
    department_id: int | None
    department_name: str
    mark: str | None = None
    note: str | None = None
    answer: str | None = None
    finding_id: int | None = None
    rule: str | None = None
    detail: str | None = None
    status: str | None = None
    reason: str | None = None


def _names(logins) -> dict[str, str]:
    rows = db.session.execute(select(User.login, User.name, Department.name).join(Department, Department.id == User.department_id)
                              .where(User.login.in_(sorted(set(logins))))).all()
    return {login: f"{name}（{dept}）" for login, name, dept in rows}


def _departments() -> dict[int, str]:
    return dict(db.session.execute(select(Department.id, Department.name)).all())


def sample_rows(sample: ReviewSample) -> list[RecordRow]:
    rows = db.session.execute(
        select(SampledRecord, AccessRecord).join(AccessRecord, AccessRecord.id == SampledRecord.record_id)
        .where(SampledRecord.sample_id == sample.id).order_by(SampledRecord.position)).all()
    names, departments = _names(r.operator for _s, r in rows), _departments()
    return [RecordRow(s.id, r.id, r.accessed_at, r.terminal, r.operator,
                      names.get(r.operator, f"登録のない操作者ID {r.operator}"), r.business, r.operation, r.records,
                      r.department_id, departments.get(r.department_id, "（端末未登録）"), s.mark, s.note,
                      s.answer, s.finding_id) for s, r in rows]


def hit_rows(*, department_id: int | None = None, status: str | None = None, low: datetime | None = None,
             high: datetime | None = None, hit_id: int | None = None, finding_id: int | None = None,
             limit: int = 500) -> list[RecordRow]:
    query = (select(CheckHit, AccessRecord).join(AccessRecord, AccessRecord.id == CheckHit.record_id)
             .order_by(AccessRecord.accessed_at, CheckHit.id))
    if hit_id is not None:
        query = query.where(CheckHit.id == hit_id)
    if finding_id is not None:
        query = query.where(CheckHit.finding_id == finding_id)
    if department_id is not None:
        query = query.where(CheckHit.department_id == department_id)
    if status is not None:
        query = query.where(CheckHit.status == status)
    if low is not None:
        query = query.where(AccessRecord.accessed_at >= low)
    if high is not None:
        query = query.where(AccessRecord.accessed_at < high)
    rows = db.session.execute(query.limit(limit)).all()
    names, departments = _names(r.operator for _h, r in rows), _departments()
    return [RecordRow(h.id, r.id, r.accessed_at, r.terminal, r.operator,
                      names.get(r.operator, f"登録のない操作者ID {r.operator}"), r.business, r.operation, r.records,
                      r.department_id, departments.get(r.department_id, "（端末未登録）"), rule=h.rule,
                      detail=h.detail, status=h.status, reason=h.reason, finding_id=h.finding_id)
            for h, r in rows]


def hit_counts(*, department_id: int | None = None, low: datetime | None = None,
               high: datetime | None = None) -> dict[str, dict[str, int]]:
    """rule → status → count, for the report and the review page."""
    query = (select(CheckHit.rule, CheckHit.status, func.count()).join(AccessRecord, AccessRecord.id == CheckHit.record_id)
             .group_by(CheckHit.rule, CheckHit.status))
    if department_id is not None:
        query = query.where(CheckHit.department_id == department_id)
    if low is not None:
        query = query.where(AccessRecord.accessed_at >= low)
    if high is not None:
        query = query.where(AccessRecord.accessed_at < high)
    counts: dict[str, dict[str, int]] = {rule: {} for rule in CHECKS}
    for rule, status, count in db.session.execute(query):
        counts.setdefault(rule, {})[status] = count
    return counts


def review_hits(actor: Actor, review: LogReview, limit: int = 2000) -> list[RecordRow]:
    """The automatic checks' hits over the review's period (a quarter, or a look-back's)."""
    require_reader(actor)
    low, high = review_period(review)
    return hit_rows(low=low, high=high, limit=limit)


def review_period(review: LogReview) -> tuple[datetime, datetime]:
    if review.kind == "quarterly":
        months = sampling.quarter_months(review.quarter)
        return _month_bounds(months[0])[0], _month_bounds(months[-1])[1]
    return jst_day_start_utc(review.date_from), jst_day_start_utc(review.date_to + timedelta(days=1))


def sample_for(review: LogReview, department_code: str) -> ReviewSample:
    for sample in review.samples:
        if sample.department is not None and sample.department.code == department_code:
            return sample
    raise NotFound(f"この検証に所属「{department_code[:32]}」の抽出はありません。", code="unknown_sample")


def checkpoint_of(review: LogReview) -> AuditCheckpoint | None:
    return db.session.get(AuditCheckpoint, review.checkpoint_id) if review.checkpoint_id else None


#: The council figures' words for counts_per_year.
REVIEW_COUNT_LABELS = {"reviews": "四半期の点検", "lookbacks": "遡り点検", "sampled": "抽出した記録",
                       "ok": "問題なし", "query": "要確認", "confirmed": "確認した自動検出", "dismissed": "問題なしとした自動検出"}


def counts_per_year() -> list[dict]:
    """Access-log reviews per 年度 (of the JST day a review was drawn or a hit decided), for the
    council figures: reviews, look-backs, records drawn and how they were marked, hits decided."""
    years: dict[int, dict] = {}

    def row(moment) -> dict:
        year = fiscal_year_of(to_jst(moment).date())
        return years.setdefault(year, {"fiscal_year": year, **{key: 0 for key in REVIEW_COUNT_LABELS}})

    for kind, created_at in db.session.execute(select(LogReview.kind, LogReview.created_at)):
        row(created_at)["reviews" if kind == "quarterly" else "lookbacks"] += 1
    for mark, created_at in db.session.execute(
            select(SampledRecord.mark, LogReview.created_at).join(ReviewSample, ReviewSample.id == SampledRecord.sample_id)
            .join(LogReview, LogReview.id == ReviewSample.review_id)):
        counts = row(created_at)
        counts["sampled"] += 1
        if mark in ("ok", "query"):
            counts[mark] += 1
    for status, decided_at in db.session.execute(select(CheckHit.status, CheckHit.decided_at)
                                                 .where(CheckHit.status.in_(("confirmed", "dismissed")))):
        if decided_at is not None:
            row(decided_at)[status] += 1
    return [years[year] for year in sorted(years)]
