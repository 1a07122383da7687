"""Drawing helpers shared by the report renderers: page numbers, text fitting, flowing tables.

Everything draws straight onto a reportlab canvas. Platypus would lay out the whole table before
drawing (superlinear on tens of thousands of rows); here every row costs the same, so a ledger of
50,000 rows takes five times as long as one of 10,000.
"""
from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from reportlab.lib.colors import Color, black
from reportlab.lib.rl_accel import escapePDF
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

    Most cells are short: `len(text) * widest glyph` proves they fit without measuring, which
    matters because stringWidth is pure Python unless the optional rl_accel extension is
    installed. The rest are measured once; truncation sums cached per-character widths.
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
        if len(text) * self._max_char <= width and text.isprintable():
            return text
        text = self.clean(text)
        if self.width(text) <= width:
            return text
        return self.ellipsize(text, width)

    def ellipsize(self, text: str, width: float) -> str:
        """Always ends in "…": used where something was cut off, even when the rest is short."""
        room = width - self.ellipsis_width
        used = 0.0
        for i, ch in enumerate(text):
            used += self._char(ch)
            if used > room:
                return text[:i].rstrip() + ELLIPSIS
        return text + ELLIPSIS

    def _char(self, ch: str) -> float:
        w = self._char_widths.get(ch)
        if w is None:
            w = self._char_widths[ch] = self.width(ch)
        return w

    def wrap(self, text: str, width: float, max_lines: int | None = None) -> list[str]:
        """Breaks at any character (Japanese has no spaces), keeping 、。」 off line starts and a
        person's 名前（所属） on one line when it fits on one."""
        lines: list[str] = []
        for para in text.splitlines() or [""]:
            para = self.clean(para)
            if len(para) * self._max_char <= width:
                lines.append(para)
                continue
            start, used, previous = 0, 0.0, 0
            for token_start, token in _tokens(para):
                w = sum(self._char(c) for c in token)
                if len(token) > 1 and w > width:  # a name longer than a line: broken like other text
                    for i, ch in enumerate(token, token_start):
                        cw = self._char(ch)
                        if used + cw > width and i > start:
                            cut = i - 1 if ch in NO_LINE_START and i - 1 > start else i
                            lines.append(para[start:cut])
                            start = cut
                            used = sum(self._char(c) for c in para[start:i])
                        used += cw
                    previous = token_start
                    continue
                if used + w > width and token_start > start:
                    cut = token_start
                    if len(token) == 1 and token in NO_LINE_START and previous > start:
                        cut = previous  # the character (or the whole name) before it goes along
                    lines.append(para[start:cut])
                    start = cut
                    used = sum(self._char(c) for c in para[start:token_start])
                used += w
                previous = token_start
            lines.append(para[start:])
        if max_lines is not None and len(lines) > max_lines:
            rest = "".join(lines[max_lines - 1:])
            lines = lines[:max_lines - 1] + [self.ellipsize(rest, width)]
        return lines


#: A person as pages and reports write one: 登録 一郎（税務課）, or a system actor's name.
_PERSON = re.compile(r"[^\s、。，,:：「」『』（）()]{1,10}[ 　][^\s、。，,:：「」『』（）()]{1,10}（[^（）]{1,30}）"
                     r"|システム（[^（）]{1,12}）")


def _tokens(text: str):
    """(offset, token): each person's name as one token, every other character as its own."""
    at = 0
    for match in _PERSON.finditer(text):
        for i in range(at, match.start()):
            yield i, text[i]
        yield match.start(), match.group()
        at = match.end()
    for i in range(at, len(text)):
        yield i, text[i]


class TextRun:
    """Writes one page's table text as a single BT…ET block of PDF operators.

    Going through reportlab's text object costs, per cell, a second stringWidth (textOut moves
    the cursor), number formatting in pure Python and a fresh subset split. Ledgers repeat the
    same values (所属, 状態, dates) thousands of times, so the operators of each distinct string
    are built once per document, following the protocol reportlab's ttfonts documents for
    dynamic fonts (splitString → subset name + escaped bytes). Fonts that are not TrueType
    subsets (the CID fallback) take the ordinary text object path.
    """

    def __init__(self, canvas: Canvas, font: str, size: float):
        self.canvas = canvas
        self.size = size
        self.font = pdfmetrics.getFont(font)
        self.fast = bool(getattr(self.font, "_dynamicFont", False))
        self._names: dict[int, str] = {}
        self._ops: dict[str, list[tuple[int, str]]] = {}
        self._parts: list[str] = []
        self._subset = -1
        self._slow = None

    def begin(self) -> None:
        if self.fast:
            self._parts = ["q BT"]
            self._subset = -1
        else:
            self._slow = self.canvas.beginText()
            self._slow.setFont(self.font.fontName, self.size)

    def draw(self, x: str, y: str, text: str) -> None:
        """`x` and `y` are already formatted, as the caller reuses them across cells."""
        if not self.fast:
            self._slow.setTextOrigin(float(x), float(y))
            self._slow.textOut(text)
            return
        ops = self._ops.get(text)
        if ops is None:
            if len(self._ops) > 50_000:  # unique values (codes) must not grow it without bound
                self._ops.clear()
            doc = self.canvas._doc
            ops = self._ops[text] = [(subset, f"({escapePDF(chunk)}) Tj")
                                     for subset, chunk in self.font.splitString(text, doc)]
        parts = self._parts
        parts.append(f"1 0 0 1 {x} {y} Tm")
        for subset, op in ops:
            if subset != self._subset:
                name = self._names.get(subset)
                if name is None:
                    name = self._names[subset] = self.font.getSubsetInternalName(
                        subset, self.canvas._doc)
                parts.append(f"{name} {self.size} Tf")
                self._subset = subset
            parts.append(op)

    def end(self) -> None:
        if self.fast:
            self._parts.append("ET Q")
            self.canvas.addLiteral("\n".join(self._parts))
            self._parts = []
        else:
            self.canvas.drawText(self._slow)
            self._slow = None


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
    number = f"{page} / {total} 頁"
    centre = frame.width / 2
    # A side text too long for its half would run into the page number: it goes a line higher.
    room = centre - pdfmetrics.stringWidth(number, font, 8) / 2 - 6
    canvas.setFillColor(MUTED)
    canvas.setFont(font, 7)
    canvas.drawString(frame.left, y if frame.left + pdfmetrics.stringWidth(left, font, 7) <= room else y + 9, left)
    canvas.drawRightString(frame.right, y if frame.right - pdfmetrics.stringWidth(right, font, 7) >= frame.width - room
                           else y + 9, right)
    canvas.setFillColor(black)
    canvas.setFont(font, 8)
    canvas.drawCentredString(centre, y, number)


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
                 width: float | None = None, align: Sequence[str] | None = None,
                 pad: float | None = None):
        self.flow = flow
        if pad is not None:
            self.PAD = pad
        self.align = list(align or ["left"] * len(headers))
        self.headers = list(headers)
        frame = flow.frame
        self.xs = column_positions(frame.left if left is None else left,
                                   frame.inner_width if width is None else width, weights)
        self.font = japanese_font()
        self.fitter = Fitter(self.font, size)
        self.size = size
        self.leading = leading or round(size * 1.3, 2)
        widths = self.cell_widths()
        self._header_lines = [self.fitter.wrap(h, w, 3) for h, w in zip(headers, widths)]
        lines = max(map(len, self._header_lines), default=1)
        self.header_height = lines * self.leading + 2 * self.PAD
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

    def row(self, cells: Sequence[str], *, max_lines: int = 8,
            note: tuple[str, str] | None = None, note_font: str = MONO, note_size: float = 7,
            note_from: int = 0) -> None:
        """One wrapped row. `note` is (Japanese label, value): an extra line under the cells
        from column `note_from` on, the value in `note_font` (a digest that must stay whole)."""
        widths = self.cell_widths()
        wrapped = [self.fitter.wrap(text or "", w, max_lines) for text, w in zip(cells, widths)]
        lines = max(len(w) for w in wrapped)
        cells_height = lines * self.leading + 2 * self.PAD
        height = cells_height + (note_size * 1.5 if note else 0)
        if self.flow.need(height):
            self._draw_header()
        c, y, pad = self.flow.canvas, self.flow.y, self.PAD
        c.setFillColor(black)
        c.setFont(self.font, self.size)
        for x0, x1, align, cell_lines in zip(self.xs, self.xs[1:], self.align, wrapped):
            base = y - pad - self.size
            for line in cell_lines:
                if align == "right":
                    c.drawRightString(x1 - pad, base, line)
                elif align == "centre":
                    c.drawCentredString((x0 + x1) / 2, base, line)
                else:
                    c.drawString(x0 + pad, base, line)
                base -= self.leading
        bottom = y - height
        c.setStrokeColor(GRID)
        c.setLineWidth(0.4)
        if note:
            label, value = note
            x = self.xs[note_from] + pad
            base = y - cells_height - note_size * 0.95
            c.setFont(self.font, note_size)
            c.drawString(x, base, label)
            x += pdfmetrics.stringWidth(label + " ", self.font, note_size)
            c.setFont(note_font, note_size)
            c.drawString(x, base, Fitter(note_font, note_size).fit(value, self.xs[-1] - pad - x))
            outer = self.xs[:note_from + 1] + self.xs[-1:]
            c.lines([(x, self._top, x, bottom) for x in outer]
                    + [(x, self._top, x, y - cells_height) for x in self.xs[note_from + 1:-1]])
        else:
            self._rules(bottom)
        c.line(self.xs[0], bottom, self.xs[-1], bottom)
        self.flow.y = self._top = bottom

    def single_line_rows(self, rows: Iterable[Sequence[str]]) -> int:
        """Draws rows of one line each, truncating long cells with "…"; returns how many."""
        flow, frame = self.flow, self.flow.frame
        fit = self.fitter.fit
        pad, size = self.PAD, self.size
        step = self.leading + 2 * pad
        # Per column: formatted x, width, and the fitted form of each value seen (bounded).
        columns = [(f"{x + pad:.2f}", w, {}) for x, w in zip(self.xs, self.cell_widths())]
        run = TextRun(flow.canvas, self.font, size)
        rules: list[tuple[float, float, float, float]] = []
        count = 0
        started = False
        y = flow.y

        def finish_page() -> None:
            c = flow.canvas
            run.end()
            c.setStrokeColor(GRID)
            c.setLineWidth(0.4)
            rules.extend((x, self._top, x, y) for x in self.xs)
            c.lines(rules)
            rules.clear()

        for cells in rows:
            if not started or y - step < frame.bottom:
                if started:
                    finish_page()
                    flow.new_page()
                    self._draw_header()
                started = True
                y = flow.y
                flow.canvas.setFillColor(black)
                run.begin()
            base = f"{y - pad - size:.2f}"
            for (x, width, fitted), cell in zip(columns, cells):
                if cell:
                    shown = fitted.get(cell)
                    if shown is None:
                        if len(fitted) > 20_000:
                            fitted.clear()
                        shown = fitted[cell] = fit(cell, width)
                    run.draw(x, base, shown)
            y -= step
            rules.append((self.xs[0], y, self.xs[-1], y))
            count += 1
        if started:
            finish_page()
        flow.y = y
        return count
