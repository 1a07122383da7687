"""The 使用伺い簿 as the paper book was kept: A4 landscape, one row per use, 和暦.

`book_lines` words the rows (plain data, from the book's query rows); `render_book_pdf` and
`book_csv` only lay them out, like documents/render.py.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from reportlab.lib.colors import black
from reportlab.lib.pagesizes import A4, landscape

from ..clock import jst_wall
from ..fonts import japanese_font
from ..documents import csvkit
from ..documents.pdfkit import MUTED, RED, Fitter, Frame, Table
from ..documents.render import Imprint, NOTHING, checkpoint_line, open_report, period_text
from ..states import State, label
from ..wareki import wareki_date, wareki_datetime

TITLE = "端末の使用伺い簿"

#: The book's own columns, in its order, with their relative widths.
COLUMNS = (("年月日", 62), ("利用者", 80), ("利用事務", 96), ("利用時間", 56), ("持込み確認", 58),
           ("承認者", 80), ("終了確認", 72), ("出力帳票", 80), ("端末", 50), ("状態・備考", 76))
CSV_COLUMNS = ("番号", "年月日", "端末", "端末の所属", "設置場所", "利用者", "利用者の所属", "利用事務", "使用目的",
               "使用開始（予定）", "使用終了（予定）", "使用開始（実績）", "使用終了（実績）", "持込み確認",
               "承認者", "承認日時", "状態", "却下の理由", "出力帳票", "出力したもの（その他）")


@dataclass(frozen=True)
class BookLine:
    cells: tuple[str, ...]  #: COLUMNS
    csv: tuple[str, ...]  #: CSV_COLUMNS


def _hm(value) -> str:
    local = jst_wall(value)
    return f"{local.hour}:{local.minute:02d}"


def _person(name: str | None, department: str | None) -> str:
    if not name:
        return ""
    return f"{name}（{department}）" if department else name


def book_lines(rows: Iterable, forms: dict[int, list[str]]) -> Iterator[BookLine]:
    for u in rows:
        start, end = u.started_at or u.starts_at, u.ended_at or u.ends_at
        period = f"{_hm(start)}～{_hm(end)}"  # the actual times once the end is recorded
        checked = "なし（確認済）" if u.no_camera_phone_usb else ""
        approver = _person(u.approver_name, u.approver_department_name) if u.approved_at else ""
        if u.status == State.CLOSED.value:
            closed = f"{wareki_date(u.closed_at)} {_hm(u.ended_at)} 終了"
        else:
            closed = ""
        note = label(u.status)
        if u.status == State.REFUSED.value and u.refusal_reason:
            note += f"（{u.refusal_reason}）"
        if u.status == State.CLOSED.value and u.approved_at is None:
            note = "承認のない使用"
        elif u.approved_at is not None and u.started_at is not None and u.approved_at > u.started_at:
            note += "・承認前に使用開始"
        codes = forms.get(u.id, [])
        output = "、".join(codes) or ("なし" if u.status == State.CLOSED.value else "")
        if u.output_note:
            output = f"{output}、{u.output_note}" if codes else u.output_note
        cells = (wareki_date(u.starts_at), _person(u.user_name, u.department_name), u.business_name, period,
                 checked, approver, closed, output, u.terminal_code, note)
        csv = (str(u.id), wareki_date(u.starts_at), u.terminal_code, u.terminal_department_name,
               u.terminal_location, u.user_name, u.department_name, u.business_name, u.purpose or "",
               wareki_datetime(u.starts_at), wareki_datetime(u.ends_at), wareki_datetime(u.started_at),
               wareki_datetime(u.ended_at), "なし（確認済）" if u.no_camera_phone_usb else "",
               _person(u.approver_name, u.approver_department_name) if u.decided_at else "",
               wareki_datetime(u.approved_at), label(u.status), u.refusal_reason or "", " ".join(codes),
               u.output_note or "")
        yield BookLine(cells, csv)


@dataclass(frozen=True)
class Book:
    imprint: Imprint
    scope: str  #: which terminals or department, in words
    period_from: date | None
    period_to: date | None
    lines: Sequence[BookLine]


def render_book_pdf(book: Book) -> bytes:
    """A4 landscape, the book's columns; cells wrap (a business name is long) up to three lines."""
    pagesize = landscape(A4)
    frame = Frame.of(pagesize, margin=28, bottom=36)
    imprint = book.imprint
    font = japanese_font()

    buffer, canvas, flow = open_report(pagesize, frame, TITLE, imprint, continued=f"{TITLE}（続き）　{book.scope}",
                                       title_size=16, gap=10)
    flow.skip(13)
    conditions = f"対象: {book.scope}　期間: {period_text(book.period_from, book.period_to)}　件数: {len(book.lines):,}件"
    canvas.setFont(font, 8.5)
    canvas.drawString(frame.left, flow.y, Fitter(font, 8.5).fit(conditions, frame.inner_width))
    if imprint.checkpoint is not None:
        flow.skip(11)
        canvas.setFillColor(MUTED if imprint.checkpoint.signature_ok else RED)
        canvas.setFont(font, 7.5)
        canvas.drawString(frame.left, flow.y, checkpoint_line(imprint.checkpoint))
        canvas.setFillColor(black)
    flow.skip(8)
    table = Table(flow, [h for h, _ in COLUMNS], [w for _, w in COLUMNS], size=7.5, leading=9, pad=2)
    table.header()
    for line in book.lines:
        table.row(line.cells, max_lines=3)
    if not book.lines:
        flow.need(24)
        flow.skip(16)
        canvas.setFont(font, 10)
        canvas.drawString(frame.left + 6, flow.y, NOTHING)
    canvas.save()
    return buffer.getvalue()


def book_csv(lines: Iterable[BookLine]) -> Iterator[bytes]:
    return csvkit.iter_csv(CSV_COLUMNS, (line.csv for line in lines))
