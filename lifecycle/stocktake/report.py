"""The 棚卸結果報告書 of one stocktake: its data gathered for the pure renderer, and the download
recorded as report:generated (the PDF is signed by the view, like every report)."""
from __future__ import annotations

from typing import Iterator

from .. import states
from ..actors import Actor
from ..auditlog.describe import person_name
from ..audit.events import EventType
from ..audit.services import record_event
from ..extensions import db
from ..documents.imprint import imprint_for
from ..states import KIND_LABELS, Kind, State
from ..wareki import wareki_datetime
from . import queries, services
from ..documents.stocktake import Discrepancy, StocktakeReport, StrayScan, render_stocktake_pdf, stocktake_csv as render_csv


def _person(user) -> str:
    return person_name(user) if user is not None else "—"


def _action(row, cancelled: bool = False) -> str:
    """What became of a line that was not a plain 確認, in words."""
    if row.outcome == services.WRONG_LOCATION:
        parts = []
        if row.seen_location:
            where = f"読み取った場所: {row.seen_location}"
            parts.append(f"{where}。保管場所を訂正済み" if row.location_corrected else f"{where}。保管場所は未訂正")
        if row.holder_problem:
            was = (f"台帳の保管者: {row.recorded_holder}（{row.recorded_holder_department}）、"
                   f"{services.HOLDER_PROBLEMS[row.holder_problem]}")
            parts.append(f"{was}。保管者を{row.holder}（{row.holder_department}）に訂正済み" if row.holder_corrected
                         else f"{was}。保管者は未訂正")
        return "。".join(parts)
    if row.outcome == services.MISSING:
        if row.written_off_at is not None:
            leak = "。個人番号を含むため漏えいのおそれとして報告が必要" if row.possible_leak else ""
            return (f"{wareki_datetime(row.written_off_at)} 亡失処理（{row.written_off_by}（{row.written_off_by_department}）、"
                    f"理由: {row.write_off_reason}）{leak}")
        if row.found_at is not None:
            return f"{wareki_datetime(row.found_at)} 発見（{row.found_reason}）、{states.label(row.status_before)}に戻した"
        leak = "（個人番号を含む）" if row.possible_leak else ""
        return f"所在不明のまま{leak}。発見するか、締めた人以外のセキュリティ管理者が亡失処理します"
    if row.outcome == services.FOUND:
        return "以前の棚卸で所在不明となっていたものを発見し、元の状態に戻した"
    if row.outcome == services.LEFT_SCOPE:
        return f"計画後に「{states.label(row.status_before)}」となったため対象外"
    if not row.expected:
        return "計画時の対象外（計画後に登録・移動など）だが、棚卸の場所で確認"
    return "読取りなし（棚卸は中止）" if cancelled else "読取りなし（締め前）"


def build_report(actor: Actor, stocktake_id) -> StocktakeReport:
    stocktake = services.get_visible_stocktake(actor, stocktake_id)
    c = services.counts(stocktake.id)
    signed = (f"{_person(stocktake.signer)}　{wareki_datetime(stocktake.signed_at)}"
              + (f"　所見: {stocktake.sign_comment}" if stocktake.sign_comment else "")) if stocktake.signed_at else "（未確認）"
    scope = [
        ("所属", stocktake.department.name),
        ("対象の種別", "・".join(KIND_LABELS[k] for k in stocktake.kind_list)),
        ("棚卸の場所", stocktake.location or "（所属のすべての保管場所）"),
        ("実施期限", stocktake.due),
        ("計画", f"{_person(stocktake.planner)}　{wareki_datetime(stocktake.planned_at)}"),
        ("読取り担当", "、".join(person_name(u) for u in stocktake.scanners) or "（計画者・セキュリティ管理者）"),
        ("状態", services.status_label(stocktake.status)),
        ("締め", f"{_person(stocktake.closer)}　{wareki_datetime(stocktake.closed_at)}" if stocktake.closed_at
         else "（未実施）"),
        ("結果の確認（署名）", signed),
    ]
    if stocktake.cancelled_at is not None:
        scope.insert(7, ("中止", f"{_person(stocktake.canceller)}　{wareki_datetime(stocktake.cancelled_at)}　"
                             f"理由: {stocktake.cancel_reason}"))
    sessions = [(f"{s.name}（{s.department}）", s.first, s.last, s.scans)
                for s in queries.scanning_sessions(stocktake.id)]
    counts = [("対象（台帳）", c.expected), ("確認", c.confirmed), ("うち場所違い", c.wrong_location),
              ("所在不明", c.missing), ("台帳外の確認", c.extra), ("台帳にない", c.unknown),
              ("偽造ラベル", c.forged), ("対象外", c.out_of_scope)]
    cancelled = stocktake.status == State.CANCELLED.value
    if stocktake.status == State.OPEN.value or cancelled:
        counts.insert(2, ("未確認", c.remaining))
    discrepancies = [Discrepancy(row.code, KIND_LABELS[Kind(row.kind)], row.title,
                                 services.OUTCOMES.get(row.outcome, "未確認") if row.outcome else "未確認",
                                 _action(row, cancelled))
                     for row in queries.line_rows(stocktake.id, discrepancies=True)]
    strays = [StrayScan(s.scanned_at, s.shown, services.OUTCOMES[s.outcome], s.detail or "",
                        f"{s.scanner}（{s.scanner_department}）" if s.scanner else "—")
              for s in queries.scan_rows(stocktake.id, outcomes=(services.UNKNOWN, services.FORGED,
                                                                 services.OUT_OF_SCOPE))]
    head = ((stocktake.closed_head_seq, stocktake.closed_head_hash)
            if stocktake.closed_head_seq is not None else None)
    return StocktakeReport(number=f"第{stocktake.id}号", department=stocktake.department.name, scope=scope,
                           sessions=sessions, counts=counts, discrepancies=discrepancies, strays=strays,
                           head=head, imprint=imprint_for(actor))


def _audit(actor: Actor, stocktake_id: int, fmt: str, rows: int) -> None:
    with db.transaction():
        record_event(EventType.REPORT_GENERATED, actor=actor, subject=f"stocktake:{stocktake_id}",
                     report="stocktake", format=fmt, rows=rows)


def stocktake_pdf(actor: Actor, stocktake_id) -> tuple[str, bytes]:
    """(file name, unsigned PDF) of one stocktake's report."""
    report = build_report(actor, stocktake_id)
    pdf = render_stocktake_pdf(report)
    _audit(actor, int(stocktake_id), "pdf", len(report.discrepancies))
    return f"stocktake-{int(stocktake_id)}.pdf", pdf


def stocktake_csv(actor: Actor, stocktake_id) -> tuple[str, Iterator[bytes]]:
    report = build_report(actor, stocktake_id)
    _audit(actor, int(stocktake_id), "csv", len(report.discrepancies) + len(report.strays))
    return f"stocktake-{int(stocktake_id)}.csv", render_csv(report)
