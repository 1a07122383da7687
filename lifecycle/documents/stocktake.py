"""The 棚卸結果報告書: plain data in, PDF or CSV bytes out (no database here, STYLE rule 7)."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from reportlab.lib.colors import black
from reportlab.lib.pagesizes import A4

from ..fonts import japanese_font
from . import csvkit
from .pdfkit import MONO, MUTED, RED, Fitter, Flow, Frame, Table, draw_footer, new_canvas
from .render import NOTHING, Imprint, Value, _field_grid, checkpoint_line, printed_line, when
from ..wareki import wareki_datetime

TITLE = "棚卸結果報告書"


@dataclass(frozen=True)
class Discrepancy:
    code: str
    kind: str  #: 帳票 / 媒体 / 機器
    title: str
    outcome: str  #: 場所違い / 所在不明 / …
    action: str  #: what was done about it, in words


@dataclass(frozen=True)
class StrayScan:
    """A scan that matched nothing expected: 台帳にない, 偽造ラベル, 対象外."""
    at: Value
    shown: str
    outcome: str
    detail: str
    scanner: str


@dataclass(frozen=True)
class StocktakeReport:
    number: str  #: 第N号
    department: str
    scope: Sequence[tuple[str, Value]]  #: (label, value): 対象の種別, 場所, 期限, 計画, 担当, 状態, 締め, 確認…
    sessions: Sequence[tuple[str, Value, Value, int]]  #: (名前（所属）, first, last, scans)
    counts: Sequence[tuple[str, int]]
    discrepancies: Sequence[Discrepancy]
    strays: Sequence[StrayScan]
    head: tuple[int, str] | None  #: the audit chain head at closing
    imprint: Imprint


def _text(canvas, x, y, text, size, *, colour=black, font=None, align="left"):
    canvas.setFillColor(colour)
    canvas.setFont(font or japanese_font(), size)
    {"left": canvas.drawString, "right": canvas.drawRightString}[align](x, y, text)
    canvas.setFillColor(black)


def _heading(flow: Flow, text: str) -> None:
    flow.need(60)
    flow.skip(17)
    flow.canvas.rect(flow.frame.left, flow.y - 1.5, 3, 11.5, stroke=0, fill=1)
    _text(flow.canvas, flow.frame.left + 7, flow.y, text, 10.5)
    flow.skip(7)




def _nothing(flow: Flow) -> None:
    flow.need(24)
    flow.skip(15)
    _text(flow.canvas, flow.frame.left + 6, flow.y, NOTHING, 9.5)
    flow.skip(4)


def render_stocktake_pdf(report: StocktakeReport) -> bytes:
    """A4 portrait: scope, who scanned when, counts, every discrepancy and what was done about it,
    the strays, and the chain head at closing."""
    imprint = report.imprint
    frame = Frame.of(A4, margin=36, bottom=44)
    name = f"{TITLE} {report.number}"
    font = japanese_font()

    def footer(canvas, page: int, total: int) -> None:
        draw_footer(canvas, frame, page, total, f"{name}　{wareki_datetime(imprint.printed_at)} 出力",
                    imprint.organisation)

    def continuation(canvas) -> float:
        y = frame.top - 10
        _text(canvas, frame.left, y, f"{name}（続き）　{report.department}", 10)
        return y - 10

    buffer, canvas = new_canvas(A4, title=name, author=imprint.organisation, footer=footer)
    flow = Flow(canvas, frame, continuation)
    flow.skip(18)
    _text(canvas, frame.left, flow.y, TITLE, 16)
    _text(canvas, frame.left + Fitter(font, 16).width(TITLE) + 10, flow.y, f"{report.number}　{report.department}", 10)
    flow.skip(16)
    _text(canvas, frame.left, flow.y, imprint.organisation, 9.5)
    _text(canvas, frame.right, flow.y, printed_line(imprint), 8, align="right")
    if imprint.checkpoint is not None:
        flow.skip(11)
        _text(canvas, frame.left, flow.y, checkpoint_line(imprint.checkpoint), 7,
              colour=MUTED if imprint.checkpoint.signature_ok else RED)

    _heading(flow, "計画と実施")
    _field_grid(flow, report.scope, label_width=120)
    if report.head is not None:
        flow.need(18)
        flow.skip(13)
        _text(canvas, frame.left, flow.y, f"締めた時点の監査ログ: 第{report.head[0]}号まで", 8.5)
        flow.skip(11)
        _text(canvas, frame.left + 10, flow.y, f"ハッシュ {report.head[1]}", 7.5, font=MONO)

    _heading(flow, "読み取った人と日時")
    if report.sessions:
        table = Table(flow, ["読取り者", "最初の読取り", "最後の読取り", "件数"], [14, 12, 12, 4], size=8,
                      align=["left", "left", "left", "right"])
        table.header()
        for who, first, last, n in report.sessions:
            table.row([who, when(first), when(last), f"{n:,}"])
    else:
        _nothing(flow)

    _heading(flow, "件数")
    table = Table(flow, [label for label, _n in report.counts], [1] * len(report.counts), size=7.5,
                  align=["right"] * len(report.counts))
    table.header()
    table.row([f"{n:,}" for _label, n in report.counts])

    _heading(flow, f"相違と対応（{len(report.discrepancies)}件）")
    if report.discrepancies:
        table = Table(flow, ["管理番号", "種別", "件名", "結果", "対応"], [9, 3, 14, 6, 18], size=7.5)
        table.header()
        for d in report.discrepancies:
            table.row([d.code, d.kind, d.title, d.outcome, d.action], max_lines=4)
    else:
        _nothing(flow)

    _heading(flow, f"台帳にない・偽造・対象外の読取り（{len(report.strays)}件）")
    if report.strays:
        table = Table(flow, ["日時", "読み取った内容", "結果", "内容", "読取り者"], [9, 12, 5, 16, 9], size=7.5)
        table.header()
        for s in report.strays:
            table.row([when(s.at), s.shown, s.outcome, s.detail, s.scanner], max_lines=3)
    else:
        _nothing(flow)
    canvas.save()
    return buffer.getvalue()


CSV_COLUMNS = ("区分", "管理番号", "種別", "件名", "結果", "対応・内容", "日時", "読取り者")


def stocktake_csv(report: StocktakeReport) -> Iterator[bytes]:
    rows = [("相違", d.code, d.kind, d.title, d.outcome, d.action, "", "") for d in report.discrepancies]
    rows += [("読取り", "", "", "", s.outcome, f"{s.shown}　{s.detail}".strip(), when(s.at), s.scanner)
             for s in report.strays]
    rows += [("件数", "", "", label, str(n), "", "", "") for label, n in report.counts]
    return csvkit.iter_csv(CSV_COLUMNS, rows)
