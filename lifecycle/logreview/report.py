"""The review report per quarter and department (アクセスログ検証結果報告書): what was drawn and how
(seed, checkpoint), what was checked, the results. `review_report` gathers plain data;
`render_review_pdf` only lays it out (A4 portrait, 和暦), like documents/render.py."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from reportlab.lib.colors import black
from reportlab.lib.pagesizes import A4

from ..actors import Actor
from ..clock import jst_wall
from ..fonts import japanese_font
from ..documents.imprint import imprint_for
from ..documents.pdfkit import MUTED, RED, Fitter, Frame, Table
from ..documents.render import NOTHING, Imprint, checkpoint_line, open_report
from ..wareki import wareki_date, wareki_datetime, wareki_month
from . import services
from .checks import CHECKS
from .imports import OPERATIONS
from .models import LogReview

TITLE = "アクセスログ検証結果報告書"
STATUS_WORDS = {"candidate": "未判断", "confirmed": "指摘として確定", "dismissed": "取下げ"}


@dataclass(frozen=True)
class ReviewReport:
    imprint: Imprint
    heading: str  #: the quarter or the look-back, in words
    department: str
    how: Sequence[str]  #: lines: month, population, size, why larger, seed, checkpoint
    checks: Sequence[tuple[str, int, int, int]]  #: (check, candidates, confirmed, dismissed)
    sampled: Sequence[tuple[str, ...]]
    hits: Sequence[tuple[str, ...]]
    summary: str


def _when(value: datetime) -> str:
    local = jst_wall(value)
    return f"{wareki_date(local.date())} {local.hour}:{local.minute:02d}"


def review_report(actor: Actor, review: LogReview, department_code: str) -> ReviewReport:
    services.require_reader(actor)
    sample = services.sample_for(review, department_code)
    checkpoint = services.checkpoint_of(review)
    if review.kind == "quarterly":
        year, number = review.quarter[:4], review.quarter[5]
        heading = f"{review.quarter}（{year}年 第{number}四半期）"
        month_year, month = (int(part) for part in sample.month.split("-"))
        how = [f"抽出した月: {wareki_month(month_year, month)}（四半期の3か月から抽出）",
               f"その月の記録: {sample.population:,}件　抽出件数: {min(sample.size, sample.population):,}件"
               f"（基準 {sample.size:,}件{'、引上げ: ' + sample.raised_because if sample.raised else ''}）"]
        low, high = services.review_period(review)
        start, end = services._month_bounds(sample.month)
    else:
        heading = (f"遡り検証 第{review.id}号（{wareki_date(review.date_from)}～{wareki_date(review.date_to)}、"
                   f"{'操作者ID ' + review.operator if review.operator else ''}{' 端末 ' + review.terminal if review.terminal else ''}）")
        how = [f"対象期間の記録をすべて検証（{sample.population:,}件）", f"理由: {review.reason or ''}"]
        low, high = start, end = services.review_period(review)
    if checkpoint is not None:
        how += [f"抽出の種（SHA-256）: {review.seed}",
                f"種にした確認点: 第{checkpoint.id}号（記録 {checkpoint.seq:,}件まで、{wareki_datetime(checkpoint.created_at)} 署名、"
                f"末尾ハッシュ {checkpoint.head_hash[:16]}…）",
                "抽出方法: 種と所属コード・月から SHA-256 で月を決め、その月の記録を日時順に並べた位置ごとの"
                "ハッシュが小さい順に抽出（監査ログ出力と公開パラメータから verify_audit_export.py --draw で再計算できます）"]
    counts = services.hit_counts(department_id=sample.department_id, low=low, high=high)
    checks = [(label, counts.get(rule, {}).get("candidate", 0), counts.get(rule, {}).get("confirmed", 0),
               counts.get(rule, {}).get("dismissed", 0)) for rule, label in CHECKS.items()]
    rows = services.sample_rows(sample)
    sampled = [(_when(r.accessed_at), r.terminal, r.operator_name, r.business, OPERATIONS.get(r.operation, r.operation),
                f"{r.records:,}", services.MARKS.get(r.mark, "未判定"), r.note or "",
                r.answer or "", f"第{r.finding_id}号" if r.finding_id else "") for r in rows]
    hits = [(_when(h.accessed_at), h.terminal, h.operator_name, CHECKS[h.rule], h.detail,
             STATUS_WORDS.get(h.status, h.status) + (f"（{h.reason}）" if h.reason else ""))
            for h in services.hit_rows(department_id=sample.department_id, low=start, high=end, limit=300)]
    marked = [r for r in rows if r.mark]
    queried = [r for r in rows if r.mark == "query"]
    summary = (f"抽出 {len(rows):,}件のうち判定済み {len(marked):,}件（問題なし {len(marked) - len(queried):,}件、"
               f"要確認 {len(queried):,}件、うち指摘事項 {sum(1 for r in queried if r.finding_id):,}件）")
    return ReviewReport(imprint_for(actor), heading, sample.department.name if sample.department else "（端末未登録）",
                        how, checks, sampled, hits, summary)


SAMPLE_COLUMNS = (("日時", 62), ("端末", 44), ("操作者", 66), ("利用事務", 70), ("操作", 24), ("件数", 26),
                  ("判定", 32), ("所見", 62), ("所属の回答", 62), ("指摘", 28))
HIT_COLUMNS = (("日時", 62), ("端末", 48), ("操作者", 74), ("点検項目", 70), ("内容", 150), ("判断", 72))
CHECK_COLUMNS = (("点検項目", 160), ("未判断", 50), ("指摘として確定", 60), ("取下げ", 50))


def render_review_pdf(report: ReviewReport) -> bytes:
    pagesize = A4
    frame = Frame.of(pagesize, margin=28, bottom=36)
    font = japanese_font()
    imprint = report.imprint

    buffer, canvas, flow = open_report(pagesize, frame, TITLE, imprint, title_size=16, gap=10,
                                       continued=f"{TITLE}（続き）　{report.department}　{report.heading}")

    def text(value: str, size: float = 8.5, color=black) -> None:
        flow.need(size + 4)
        flow.skip(size + 3)
        canvas.setFillColor(color)
        canvas.setFont(font, size)
        canvas.drawString(frame.left, flow.y, Fitter(font, size).fit(value, frame.inner_width))
        canvas.setFillColor(black)

    text(f"所属: {report.department}　対象: {report.heading}", 10)
    if imprint.checkpoint is not None:
        text(checkpoint_line(imprint.checkpoint), 7.5, MUTED if imprint.checkpoint.signature_ok else RED)
    flow.skip(4)
    text("1. 抽出の方法", 10.5)
    for line in report.how:
        for start in range(0, len(line), 70):  # long hashes and sentences wrap at 70 characters
            text(line[start:start + 70], 8)
    flow.skip(4)
    text("2. 自動点検（取り込んだ全記録が対象）", 10.5)
    flow.skip(4)
    table = Table(flow, [h for h, _ in CHECK_COLUMNS], [w for _, w in CHECK_COLUMNS], size=8, leading=10, pad=2)
    table.header()
    for label, candidates, confirmed, dismissed in report.checks:
        table.row((label, f"{candidates:,}", f"{confirmed:,}", f"{dismissed:,}"), max_lines=2)
    flow.skip(4)
    text("3. 抽出した記録と判定", 10.5)
    text(report.summary, 8.5)
    flow.skip(4)
    table = Table(flow, [h for h, _ in SAMPLE_COLUMNS], [w for _, w in SAMPLE_COLUMNS], size=7, leading=8.5, pad=2)
    table.header()
    for row in report.sampled:
        table.row(row, max_lines=4)
    if not report.sampled:
        text(NOTHING, 9)
    flow.skip(4)
    text("4. 自動点検の該当（抽出した月）", 10.5)
    flow.skip(4)
    table = Table(flow, [h for h, _ in HIT_COLUMNS], [w for _, w in HIT_COLUMNS], size=7, leading=8.5, pad=2)
    table.header()
    for row in report.hits:
        table.row(row, max_lines=4)
    if not report.hits:
        text(NOTHING, 9)
    canvas.save()
    return buffer.getvalue()
