"""Inbox tasks of the access-log review: auditors decide the checks' hits and mark drawn records;
a department's security manager answers a 要確認 about a record of the department."""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select

from ..auth.models import User
from ..extensions import db
from ..notifications.tasks import Task, path, register_task_provider
from ..roles import Role
from .models import AccessRecord, CheckHit, LogReview, ReviewSample, SampledRecord


def _hit_count(user: User):
    if not user.has_role(Role.AUDITOR):
        return None
    return select(func.count()).select_from(CheckHit).where(CheckHit.status == "candidate").scalar_subquery()


def hits_to_decide(user: User) -> Iterable[Task]:
    query = _hit_count(user)
    count = db.session.scalar(select(query)) if query is not None else 0
    if count:
        yield Task("log_hits_to_decide", f"アクセスログの自動点検の該当 {count:,}件が判断を待っています。",
                   path("logreview.hits"))


def _unmarked(user: User):
    if not user.has_role(Role.AUDITOR):
        return None
    return (select(ReviewSample.review_id, func.count()).join(SampledRecord, SampledRecord.sample_id == ReviewSample.id)
            .where(SampledRecord.mark.is_(None)).group_by(ReviewSample.review_id))


def records_to_mark(user: User) -> Iterable[Task]:
    query = _unmarked(user)
    if query is None:
        return
    for review_id, count in db.session.execute(query.order_by(ReviewSample.review_id)):
        review = db.session.get(LogReview, review_id)
        name = review.quarter or f"遡り検証 第{review.id}号"
        yield Task("log_records_to_mark", f"アクセスログ検証（{name}）の抽出記録 {count:,}件が判定を待っています。",
                   path("logreview.review", review_id=review_id))


def _queries(user: User):
    if not user.has_role(Role.SECURITY_MANAGER):
        return None
    return (SampledRecord.mark == "query", SampledRecord.answered_at.is_(None), SampledRecord.finding_id.is_(None),
            SampledRecord.record_id.in_(select(AccessRecord.id).where(AccessRecord.department_id == user.department_id)))


def queries_to_answer(user: User) -> Iterable[Task]:
    conditions = _queries(user)
    if conditions is None:
        return
    rows = db.session.execute(
        select(SampledRecord.id, ReviewSample.review_id, ReviewSample.department_id)
        .join(ReviewSample, ReviewSample.id == SampledRecord.sample_id).where(*conditions).limit(200)).all()
    for sampled_id, review_id, _department in rows:
        yield Task("log_query_to_answer", f"アクセスログ検証の要確認（抽出記録 No.{sampled_id}）への回答を待っています。",
                   path("logreview.sample", review_id=review_id, department=user.department.code))


def register() -> None:
    register_task_provider("log_hits_to_decide", hits_to_decide, count=lambda u: _one_if_any(_hit_count(u)))
    register_task_provider("log_records_to_mark", records_to_mark)
    register_task_provider("log_query_to_answer", queries_to_answer, count=lambda u: (
        None if _queries(u) is None else select(func.count()).select_from(SampledRecord).where(*_queries(u))
        .scalar_subquery()))


def _one_if_any(count):
    """The header counts tasks, and all the hits are one task."""
    from sqlalchemy import case

    return None if count is None else select(case((count > 0, 1), else_=0)).scalar_subquery()
