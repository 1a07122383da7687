"""Drawing helpers shared by the report renderers: page numbers, text fitting, flowing tables.

Everything draws straight onto a reportlab canvas. Platypus would lay out the whole table before
drawing (superlinear on tens of thousands of rows); here every row costs the same, so a ledger of
50,000 rows takes five times as long as one of 10,000.
"""
from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from reportlab.lib.colors import Color, black
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from ..fonts import japanese_font

#: Hex digests are printed in a monospaced base-14 font so that digits line up and can be read
#: back character by character; it is plain ASCII, so every PDF reader has it (not embedded).
MONO = "Courier"

GRID = Color(0.55, 0.55, 0.55)
SHADE = Color(0.89, 0.89, 0.89)
MUTED = Color(0.35, 0.35, 0.35)
RED = Color(0.78, 0.0, 0.0)

ELLIPSIS = "…"
#: Characters that must not begin a line (a light 禁則処理): they stay with the character before.
NO_LINE_START = frozenset("、。，．・：；？！ー」』）】〕〉》”’ぁぃぅぇぉっゃゅょァィゥェォッャュョ")
#: Tabs, line breaks and other control characters would print as missing-glyph boxes.
_CONTROLS = {c: " " for c in range(0x20)} | {0x7F: " "}

Footer = Callable[[Canvas, int, int], None]


class DeferredCanvas(Canvas):
    """Keeps finished pages until save(), so each footer can say 「n / N 頁」.

    The total is known only at the end. Keeping each page's drawing state (one shallow dict copy
    per page) and writing the pages out in save() is one pass, linear in the number of pages,
    unlike rendering the whole document twice.
    """

    def __init__(self, *args, footer: Footer, **kwargs):
        super().__init__(*args, **kwargs)
        self._finished_pages: list[dict] = []
        self._footer = footer

    def showPage(self):  # noqa: N802 (reportlab's name)
        self._finished_pages.append(dict(self.__dict__))
        self._startPage()

    def save(self):
        if self._code:
            self.showPage()
        pages = self._finished_pages
        total = len(pages)
        for number, state in enumerate(pages, 1):
            self.__dict__.update(state)
            self._footer(self, number, total)
            Canvas.showPage(self)
        Canvas.save(self)


def new_canvas(pagesize: tuple[float, float], *, title: str, author: str,
               footer: Footer) -> tuple[io.BytesIO, DeferredCanvas]:
    buffer = io.BytesIO()
    canvas = DeferredCanvas(buffer, pagesize=pagesize, footer=footer, pageCompression=1)
    canvas.setTitle(title)
    canvas.setAuthor(author)
    canvas.setCreator("lifecycle")
    canvas.setSubject(title)
    return buffer, canvas


def _max_advance(font: str) -> float:
    """The widest glyph, in 1/1000 em, for the cheap "surely fits" test; inf when unknown."""
    face = getattr(pdfmetrics.getFont(font), "face", None)
    widths = getattr(face, "charWidths", None)
    if not widths:
        return math.inf
    return max(max(widths.values()), getattr(face, "defaultWidth", 0) or 0)


class Fitter:
    """Measures, truncates and wraps text in one font and size.

    Most cells are short: `len(text) * widest glyph` proves they fit without measuring. The
    rest are measured by reportlab's C stringWidth, and truncation is a binary search over it.
    """

    def __init__(self, font: str, size: float):
        self.font = font
        self.size = size
        self._max_char = _max_advance(font) * size / 1000
        self._char_widths: dict[str, float] = {}
        self.ellipsis_width = self.width(ELLIPSIS)

    def width(self, text: str) -> float:
        return pdfmetrics.stringWidth(text, self.font, self.size)

    def clean(self, text: str) -> str:
        return text if text.isprintable() else text.translate(_CONTROLS)

    def fit(self, text: str, width: float) -> str:
        """The text, or its longest prefix that fits with "…" after it."""
        if len(text) * self._max_char <= width:
            return text
        text = self.clean(text)
        if self.width(text) <= width:
            return text
        return self.ellipsize(text, width)

    def ellipsize(self, text: str, width: float) -> str:
        """Always ends in "…": used where something was cut off, even when the rest is short."""
        room = width - self.ellipsis_width
        lo, hi = 0, len(text)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.width(text[:mid]) <= room:
                lo = mid
            else:
                hi = mid - 1
        return text[:lo].rstrip() + ELLIPSIS

    def _char(self, ch: str) -> float:
        w = self._char_widths.get(ch)
        if w is None:
            w = self._char_widths[ch] = self.width(ch)
        return w

    def wrap(self, text: str, width: float, max_lines: int | None = None) -> list[str]:
        """Breaks at any character (Japanese has no spaces), keeping 、。」 off line starts."""
        lines: list[str] = []
        for para in text.splitlines() or [""]:
            para = self.clean(para)
            if len(para) * self._max_char <= width:
                lines.append(para)
                continue
            start, used = 0, 0.0
            for i, ch in enumerate(para):
                w = self._char(ch)
                if used + w > width and i > start:
                    cut = i - 1 if ch in NO_LINE_START and i - 1 > start else i
                    lines.append(para[start:cut])
                    start = cut
                    used = sum(self._char(c) for c in para[start:i])
                used += w
            lines.append(para[start:])
        if max_lines is not None and len(lines) > max_lines:
            rest = "".join(lines[max_lines - 1:])
            lines = lines[:max_lines - 1] + [self.ellipsize(rest, width)]
        return lines


@dataclass(frozen=True)
class Frame:
    """The printable area of a page, in points from the lower-left corner."""

    width: float
    height: float
    left: float
    right: float
    top: float
    bottom: float

    @property
    def inner_width(self) -> float:
        return self.right - self.left

    @classmethod
    def of(cls, pagesize: tuple[float, float], margin: float, bottom: float) -> Frame:
        w, h = pagesize
        return cls(w, h, margin, w - margin, h - margin, bottom)


class Flow:
    """A top-down cursor that starts a new page, with its continuation heading, when full."""

    def __init__(self, canvas: Canvas, frame: Frame, continuation: Callable[[Canvas], float]):
        self.canvas = canvas
        self.frame = frame
        self.y = frame.top
        self._continuation = continuation

    def need(self, height: float) -> bool:
        """Breaks the page unless `height` fits; True when it did."""
        if self.y - height >= self.frame.bottom:
            return False
        self.new_page()
        return True

    def new_page(self) -> None:
        self.canvas.showPage()
        self.y = self._continuation(self.canvas)

    def skip(self, height: float) -> None:
        self.y -= height


def draw_footer(canvas: Canvas, frame: Frame, page: int, total: int, left: str, right: str) -> None:
    """「1 / 12 頁」 in the middle, the report and the organisation at the sides."""
    font = japanese_font()
    y = frame.bottom - 16
    canvas.setFillColor(MUTED)
    canvas.setFont(font, 7)
    canvas.drawString(frame.left, y, left)
    canvas.drawRightString(frame.right, y, right)
    canvas.setFillColor(black)
    canvas.setFont(font, 8)
    canvas.drawCentredString(frame.width / 2, y, f"{page} / {total} 頁")


def column_positions(left: float, total_width: float, weights: Sequence[float]) -> list[float]:
    """Left edges of the columns plus the right edge of the last one."""
    scale = total_width / (sum(weights) or 1)
    xs = [left]
    for w in weights:
        xs.append(xs[-1] + w * scale)
    return xs


class Table:
    """A ruled table whose header repeats after every page break.

    `row()` wraps text and suits short tables; `single_line_rows()` is the fast path for ledgers:
    one line per row, one text object and one path of rules per page.
    """

    PAD = 2.5

    def __init__(self, flow: Flow, headers: Sequence[str], weights: Sequence[float], *,
                 size: float = 8, leading: float | None = None, left: float | None = None,
                 width: float | None = None):
        self.flow = flow
        self.headers = list(headers)
        frame = flow.frame
        self.xs = column_positions(frame.left if left is None else left,
                                   frame.inner_width if width is None else width, weights)
        self.font = japanese_font()
        self.fitter = Fitter(self.font, size)
        self.size = size
        self.leading = leading or round(size * 1.3, 2)
        self._header_lines = [self.fitter.wrap(h, w, 3) for h, w in zip(headers, self.cell_widths())]
        self.header_height = max(map(len, self._header_lines), default=1) * self.leading + 2 * self.PAD
        self._top = flow.y  # top of the part of the table on the current page

    def cell_widths(self) -> list[float]:
        return [b - a - 2 * self.PAD for a, b in zip(self.xs, self.xs[1:])]

    def header(self) -> None:
        """Draws the column headings; call once, the page breaks repeat them."""
        self.flow.need(self.header_height + self.leading + 2 * self.PAD)
        self._draw_header()

    def _draw_header(self) -> None:
        c, y = self.flow.canvas, self.flow.y
        xs, h = self.xs, self.header_height
        self._top = y
        c.setFillColor(SHADE)
        c.setStrokeColor(GRID)
        c.setLineWidth(0.4)
        c.rect(xs[0], y - h, xs[-1] - xs[0], h, stroke=1, fill=1)
        c.setFillColor(black)
        c.setFont(self.font, self.size)
        for (x0, x1), lines in zip(zip(xs, xs[1:]), self._header_lines):
            base = y - self.PAD - self.size
            for line in lines:
                c.drawCentredString((x0 + x1) / 2, base, line)
                base -= self.leading
        self.flow.y = y - h

    def _rules(self, bottom: float) -> None:
        """The vertical rules of the part of the table on this page, as one path."""
        c = self.flow.canvas
        c.setStrokeColor(GRID)
        c.setLineWidth(0.4)
        c.lines([(x, self._top, x, bottom) for x in self.xs])

    def row(self, cells: Sequence[str], *, max_lines: int = 8, note: str | None = None,
            note_font: str | None = None, note_size: float | None = None,
            note_from: int = 0, colour: Color | None = None) -> None:
        """One wrapped row; `note` is an extra line spanning the columns from `note_from`."""
        widths = self.cell_widths()
        wrapped = [self.fitter.wrap(text or "", w, max_lines) for text, w in zip(cells, widths)]
        lines = max(len(w) for w in wrapped)
        note_size = note_size or self.size
        height = lines * self.leading + 2 * self.PAD + (note_size * 1.35 if note else 0)
        if self.flow.need(height):
            self._draw_header()
        c, y = self.flow.canvas, self.flow.y
        c.setFillColor(colour or black)
        c.setFont(self.font, self.size)
        for x, cell_lines in zip(self.xs, wrapped):
            base = y - self.PAD - self.size
            for line in cell_lines:
                c.drawString(x + self.PAD, base, line)
                base -= self.leading
        if note:
            x = self.xs[note_from] + self.PAD
            base = y - self.PAD - lines * self.leading - note_size * 0.9
            font = note_font or self.font
            c.setFont(font, note_size)
            room = self.xs[-1] - self.PAD - x
            if note_font:
                note = Fitter(font, note_size).fit(note, room)
            else:
                note = self.fitter.fit(note, room)
            c.drawString(x, base, note)
        c.setFillColor(black)
        bottom = y - height
        c.setStrokeColor(GRID)
        c.setLineWidth(0.4)
        c.line(self.xs[0], bottom, self.xs[-1], bottom)
        self.flow.y = bottom
        self._rules(bottom)
        self._top = bottom

    def single_line_rows(self, rows: Iterable[Sequence[str]]) -> int:
        """Draws rows of one line each, truncating long cells with "…"; returns how many."""
        flow, frame = self.flow, self.flow.frame
        fit = self.fitter.fit
        pad, size = self.PAD, self.size
        step = self.leading + 2 * pad
        xs = [x + pad for x in self.xs[:-1]]
        widths = self.cell_widths()
        columns = list(zip(xs, widths))
        count = 0
        text = None
        rules: list[tuple[float, float, float, float]] = []
        y = flow.y

        def finish_page() -> None:
            c = flow.canvas
            c.drawText(text)
            c.setStrokeColor(GRID)
            c.setLineWidth(0.4)
            rules.extend((x, self._top, x, y) for x in self.xs)
            c.lines(rules)
            rules.clear()

        for cells in rows:
            if text is None or y - step < frame.bottom:
                if text is not None:
                    finish_page()
                    flow.new_page()
                    self._draw_header()
                y = flow.y
                text = flow.canvas.beginText()
                text.setFont(self.font, size)
            base = y - pad - size
            for (x, width), cell in zip(columns, cells):
                if cell:
                    text.setTextOrigin(x, base)
                    text.textOut(fit(cell, width))
            y -= step
            rules.append((self.xs[0], y, self.xs[-1], y))
            count += 1
        if text is not None:
            finish_page()
        flow.y = y
        return count
