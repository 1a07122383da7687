"""The access-log review's rows of the exceptions list (例外一覧), as of the end of a day: the
automatic checks' hits nobody has confirmed or dismissed yet, drawn records marked 要確認 that the
department has not answered, and quarters whose draw is due and has not been made.

A quarter's draw is due once the quarter has ended (its logs are then complete), for every quarter
from the first one with an imported record: a quarter with no logs imported is listed too, since
its draw cannot be made until they are.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, or_, select

from ..auth.models import Department
from ..clock import jst_day_start_utc, to_jst, utcnow
from ..extensions import db
from ..wareki import wareki_date, wareki_datetime
from .checks import CHECKS
from .models import AccessRecord, CheckHit, LogImport, LogReview, ReviewSample, SampledRecord
from .services import _names

#: The categories, as reports.render.ExceptionCategory names them.
HIT_CANDIDATE, QUERY_UNANSWERED, DRAW_DUE = "log_hit_candidate", "log_query_unanswered", "log_draw_due"


@dataclass(frozen=True)
class ReviewException:
    category: str
    department: str | None  #: None: the review as a whole (a quarter's draw), not one department's
    code: str  #: what the row names: 検証 第N号, or a quarter
    title: str
    detail: str  #: Japanese


def _end_of(as_of: date) -> datetime:
    return min(utcnow(), jst_day_start_utc(as_of + timedelta(days=1)))


def _quarter_of(day: date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


def _quarter_bounds(year: int, number: int) -> tuple[date, date]:
    """The first day of the quarter and the first day of the next one."""
    first = date(year, 3 * (number - 1) + 1, 1)
    following = date(year + 1, 1, 1) if number == 4 else date(year, 3 * number + 1, 1)
    return first, following


def review_exceptions(as_of: date) -> list[ReviewException]:
    end = _end_of(as_of)
    names = dict(db.session.execute(select(Department.id, Department.name)).all())
    rows: list[ReviewException] = []

    # Hits still candidates at the end of the day, counted per department and check: a million
    # records can leave a hundred thousand, which no list could show one by one.
    undecided = or_(CheckHit.status == "candidate", CheckHit.decided_at >= end)
    for department_id, rule, count in db.session.execute(
            select(CheckHit.department_id, CheckHit.rule, func.count()).where(undecided)
            .group_by(CheckHit.department_id, CheckHit.rule).order_by(CheckHit.department_id, CheckHit.rule)):
        rows.append(ReviewException(HIT_CANDIDATE, names.get(department_id), "", f"自動点検「{CHECKS[rule]}」",
                                    f"未判断の該当 {count:,}件（指摘として確定するか、理由を添えて取り下げてください）"))

    # 要確認 marked by the end of the day and not answered by then (nor made a finding).
    queried = db.session.execute(
        select(SampledRecord.note, SampledRecord.marked_at, ReviewSample.review_id, LogReview.quarter,
               AccessRecord.accessed_at, AccessRecord.terminal, AccessRecord.operator, AccessRecord.department_id)
        .join(ReviewSample, ReviewSample.id == SampledRecord.sample_id)
        .join(LogReview, LogReview.id == ReviewSample.review_id)
        .join(AccessRecord, AccessRecord.id == SampledRecord.record_id)
        .where(SampledRecord.mark == "query", SampledRecord.marked_at < end, SampledRecord.finding_id.is_(None),
               or_(SampledRecord.answered_at.is_(None), SampledRecord.answered_at >= end))
        .order_by(SampledRecord.marked_at, SampledRecord.id)).all()
    people = _names(row.operator for row in queried)
    for row in queried:
        waited = (to_jst(end).date() - to_jst(row.marked_at).date()).days
        review = f"検証 {row.quarter}" if row.quarter else f"遡り検証 第{row.review_id}号"
        rows.append(ReviewException(
            QUERY_UNANSWERED, names.get(row.department_id), review,
            f"{wareki_datetime(row.accessed_at)} 端末 {row.terminal}"
            f" {people.get(row.operator, f'登録のない操作者ID {row.operator}')}",
            f"要確認「{(row.note or '')[:60]}」（{wareki_date(row.marked_at)}、回答なし {waited}日）"))

    # Quarters ended by the day, from the first imported record's, without a draw made by then.
    first = db.session.scalar(select(func.min(LogImport.first_at)).where(LogImport.completed_at < end))
    if first is None:
        return rows
    today = to_jst(end).date()
    drawn = set(db.session.scalars(select(LogReview.quarter).where(LogReview.quarter.is_not(None),
                                                                   LogReview.created_at < end)))
    imported = db.session.execute(select(LogImport.first_at, LogImport.last_at)
                                  .where(LogImport.completed_at < end, LogImport.first_at.is_not(None))).all()
    year, number = _quarter_of(to_jst(first).date())
    while True:
        start, following = _quarter_bounds(year, number)
        if following > today:  # the quarter has not ended by the day
            break
        quarter = f"{year}Q{number}"
        if quarter not in drawn:
            low, high = jst_day_start_utc(start), jst_day_start_utc(following)
            files = sum(1 for at, last in imported if at < high and last >= low)
            rows.append(ReviewException(
                DRAW_DUE, None, quarter, f"アクセスログ検証 {quarter}（{wareki_date(start)}～"
                                         f"{wareki_date(following - timedelta(days=1))}）の抽出",
                f"四半期の終了から{(today - following).days + 1}日、抽出がされていません（"
                + (f"この期間を含む取込み {files}件）" if files else "この期間のログは取り込まれていません）")))
        year, number = (year + 1, 1) if number == 4 else (year, number + 1)
    return rows
