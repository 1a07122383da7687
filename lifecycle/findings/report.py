"""The findings report (指摘事項の措置状況報告書) of one audit or one department: A4, 和暦, the
counts, every finding with its plan, action and 現地確認, and the whole history from the audit log.

`findings_report` reads (the service's list and the audit log) and words the rows;
`render_sections_pdf` only lays out plain data, like documents/render.py, and the self-inspection's
result report uses it too.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reportlab.lib.colors import black
from reportlab.lib.pagesizes import A4

from ..auditlog.describe import event_rows, load_names, names_for_events
from ..audit.services import events_for
from ..fonts import japanese_font
from ..documents.imprint import imprint_for, record_report
from ..documents.pdfkit import MUTED, RED, Fitter, Frame, Table
from ..documents.render import Imprint, NOTHING, checkpoint_line, open_report
from ..documents.signing import sign_pdf
from ..states import label
from ..wareki import wareki_date
from . import services
from ..clock import today_jst


@dataclass(frozen=True)
class Section:
    heading: str
    columns: Sequence[tuple[str, float]]  #: (heading, relative width)
    rows: Sequence[Sequence[str]]
    max_lines: int = 6


@dataclass(frozen=True)
class SectionReport:
    title: str
    imprint: Imprint
    conditions: Sequence[str]  #: lines under the title: scope, counts
    sections: Sequence[Section]


def render_sections_pdf(report: SectionReport) -> bytes:
    """A4 portrait: the title, the conditions, then each section as a ruled table."""
    frame = Frame.of(A4, margin=32, bottom=40)
    imprint = report.imprint
    font = japanese_font()

    buffer, canvas, flow = open_report(A4, frame, report.title, imprint, continued=f"{report.title}（続き）")
    fitter = Fitter(font, 8.5)
    for line in report.conditions:
        for part in fitter.wrap(line, frame.inner_width, 4):
            flow.skip(12)
            canvas.setFont(font, 8.5)
            canvas.drawString(frame.left, flow.y, part)
    if imprint.checkpoint is not None:
        flow.skip(11)
        canvas.setFillColor(MUTED if imprint.checkpoint.signature_ok else RED)
        canvas.setFont(font, 7.5)
        canvas.drawString(frame.left, flow.y, checkpoint_line(imprint.checkpoint))
        canvas.setFillColor(black)
    for section in report.sections:
        flow.need(60)
        flow.skip(22)
        canvas.setFillColor(black)
        canvas.setFont(font, 11)
        canvas.drawString(frame.left, flow.y, section.heading)
        flow.skip(8)
        table = Table(flow, [h for h, _ in section.columns], [w for _, w in section.columns], size=7.5,
                      leading=9.5, pad=2)
        table.header()
        for row in section.rows:
            table.row(row, max_lines=section.max_lines)
        if not section.rows:
            flow.need(20)
            flow.skip(14)
            canvas.setFont(font, 9)
            canvas.drawString(frame.left + 6, flow.y, NOTHING)
    canvas.save()
    return buffer.getvalue()


def _scope(flt: services.FindingFilter, department_names: dict[str, str]) -> str:
    parts = []
    if flt.audit:
        parts.append(f"監査: {flt.audit}")
    if flt.department:
        parts.append(f"所属: {department_names.get(flt.department, flt.department)}")
    if flt.fiscal_year:
        parts.append(f"年度: {services.fiscal_year_text(flt.fiscal_year)}")
    parts.append(f"表示: {services.LIST_VIEWS[flt.view]}")
    return "　".join(parts)


def findings_sections(findings, names, as_of) -> list[Section]:
    """The findings table and their history, worded for people (shared by the page's PDF and tests)."""
    rows, history = [], []
    for f in findings:
        state = label(f.status) + ("（期限超過）" if services.is_overdue(f, as_of) else "")
        steps = [f"記録: {wareki_date(f.raised_at)} {names.person(f.raised_by)}"]
        if f.planned_by:
            steps.append(f"計画: {wareki_date(f.planned_at)} {names.person(f.planned_by)}")
        if f.reported_by:
            steps.append(f"措置報告: {wareki_date(f.reported_at)} {names.person(f.reported_by)}")
        if f.sent_back:
            steps.append(f"差戻し: {f.sent_back}回")
        if f.confirmed_by:
            steps.append(f"現地確認: {wareki_date(f.confirmed_at)} {names.person(f.confirmed_by)}")
        rows.append((f"第{f.id}号", f"{f.department.name}", f"{services.SOURCES[f.source]}　{f.audit}",
                     f.summary, services.SEVERITIES[f.severity], wareki_date(f.due_on), state,
                     f"計画: {f.plan or '未提出'}　措置: {f.action or '未報告'}"
                     + (f"　現地確認: {f.confirmation}" if f.confirmation else ""),
                     "　".join(steps)))
        events = events_for(f.audit_subject)
        event_names = names_for_events(events)
        for event in event_rows(events, event_names):
            history.append((f"第{f.id}号", event.at, event.label, event.actor, event.details))
    return [
        Section("指摘事項と措置の状況", (("番号", 34), ("所属", 52), ("出所・監査", 70), ("指摘の内容", 120),
                                      ("重要度", 30), ("改善期限", 56), ("状態", 52), ("改善計画・措置", 130),
                                      ("経過", 110)), rows, max_lines=8),
        Section("経過（監査ログより）", (("番号", 34), ("日時", 80), ("種別", 70), ("実施者", 90), ("内容", 250)),
                history, max_lines=5),
    ]


def findings_report(actor, flt: services.FindingFilter) -> tuple[bytes, str]:
    """The signed PDF of the findings the filter selects, and its file name; an audited read."""

    findings = list(reversed(services.list_findings(actor, flt)))  # oldest first on paper
    as_of = today_jst()
    names = load_names([login for f in findings for login in (f.raised_by, f.planned_by, f.reported_by,
                                                               f.confirmed_by) if login])
    open_count = sum(1 for f in findings if f.status in services.OPEN_STATES)
    overdue = sum(1 for f in findings if services.is_overdue(f, as_of))
    conditions = [_scope(flt, names.departments),
                  f"件数: {len(findings)}件（未完了 {open_count}件・うち期限超過 {overdue}件・完了 "
                  f"{len(findings) - open_count}件）　基準日: {wareki_date(as_of)}"]
    report = SectionReport("指摘事項の措置状況報告書", imprint_for(actor), conditions,
                           findings_sections(findings, names, as_of))
    pdf = sign_pdf(render_sections_pdf(report))
    details = {key: value for key, value in (("department", flt.department), ("audit", flt.audit),
                                             ("year", flt.fiscal_year)) if value}
    record_report(actor, "findings", format="pdf", rows=len(findings), **details)
    return pdf, "findings.pdf"
