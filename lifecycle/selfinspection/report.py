"""The self-inspection result reports (自己点検結果報告書): one department's answers, or the
prefecture's progress and counts for a 年度. A4, 和暦, signed like every report."""
from __future__ import annotations

from ..clock import today_jst
from ..findings import services as findings
from ..findings.report import Section, SectionReport, render_sections_pdf
from ..documents.imprint import imprint_for, record_report
from ..documents.signing import sign_pdf
from ..states import label
from ..wareki import wareki_date, wareki_datetime
from . import services
from .models import SelfInspection
from ..auditlog.describe import load_names

TITLE = "自己点検結果報告書"


def _sample_text(row) -> str:
    if row.sampled_at is None:
        return ""
    verdict = "裏付けあり" if row.supported else f"裏付けなし（指摘事項 第{row.sample_finding_id}号）"
    return f"{verdict}{'：' + row.sample_note if row.sample_note else ''}"


def department_report(actor, inspection: SelfInspection, names) -> SectionReport:
    counts = {key: sum(1 for a in inspection.answers if a.answer == key) for key in services.ANSWERS}
    rows = [(a.item.theme, a.item.question, services.ANSWERS[a.answer], a.note or "",
             f"{a.file.original_name}（SHA-256 {a.file.sha256[:16]}…）" if a.file else
             ("必要（未添付）" if a.item.evidence_required and a.answer == "yes" else "—"),
             f"第{a.finding_id}号" if a.finding_id else "", _sample_text(a))
            for a in sorted(inspection.answers, key=lambda a: (a.item.position, a.item.id))]
    missing = [(item.theme, item.question) for item in services.unanswered(inspection)] \
        if inspection.status != "filed" else []
    filed = (f"提出: {wareki_datetime(inspection.filed_at)} {names.person(inspection.filed_by)}"
             if inspection.filed_at else "未提出（回答中）")
    conditions = [f"所属: {inspection.department.name}　年度: {findings.fiscal_year_text(inspection.fiscal_year)}　"
                  f"状態: {label(inspection.status)}　{filed}",
                  f"回答: はい {counts['yes']}件・いいえ {counts['no']}件・該当なし {counts['na']}件"
                  f"（未回答 {len(missing)}件）　基準日: {wareki_date(today_jst())}"]
    sections = [Section("回答", (("テーマ", 60), ("点検内容", 170), ("回答", 40), ("補足", 110), ("証拠", 110),
                                ("指摘事項", 45), ("監査担当の抽出確認", 100)), rows)]
    if missing:
        sections.append(Section("未回答の項目", (("テーマ", 80), ("点検内容", 400)), missing))
    return SectionReport(TITLE, imprint_for(actor), conditions, sections)


def prefecture_report(actor, year: int) -> SectionReport:
    progress = services.progress(year)
    rows = [(p.department, label(p.status) if p.status else "未着手", f"{p.answered} / {p.total}",
             f"{p.percent}%", str(p.yes), str(p.no), str(p.na), str(p.findings)) for p in progress]
    filed = sum(1 for p in progress if p.status == "filed")
    conditions = [f"年度: {findings.fiscal_year_text(year)}　所属数: {len(progress)}　提出済: {filed}　"
                  f"基準日: {wareki_date(today_jst())}"]
    return SectionReport(f"{TITLE}（全庁）", imprint_for(actor), conditions, [
        Section("所属ごとの進捗と結果", (("所属", 120), ("状態", 60), ("回答数", 60), ("進捗", 45), ("はい", 40),
                                      ("いいえ", 40), ("該当なし", 45), ("指摘事項", 50)), rows)])


def department_pdf(actor, inspection: SelfInspection) -> bytes:

    names = load_names([inspection.filed_by] if inspection.filed_by else [])
    pdf = sign_pdf(render_sections_pdf(department_report(actor, inspection, names)))
    record_report(actor, "self_inspection", format="pdf", rows=len(inspection.answers),
                  department=inspection.department.code, year=inspection.fiscal_year)
    return pdf


def prefecture_pdf(actor, year: int) -> bytes:
    report = prefecture_report(actor, year)
    pdf = sign_pdf(render_sections_pdf(report))
    record_report(actor, "self_inspection", format="pdf", rows=len(report.sections[0].rows), year=year)
    return pdf
