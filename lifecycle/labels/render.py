"""Label PDFs. Pure: plain data in, PDF bytes out; the callers look the items up and build the URLs."""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date
from typing import Sequence

from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from ..fonts import japanese_font
from ..wareki import wareki_date
from .layouts import Layout
from .qr import draw_qr

ELLIPSIS = "…"
#: For a 1,000-label sheet compression costs ~0.2 s (0.6 → 0.8 s) and shrinks the PDF from 4.8 to
#: 1.1 MB (bench/bench_labels.py): the PDF goes over the network to the browser and the print
#: spooler, so the size matters more. Most of that 0.2 s is reportlab's pure-Python ASCII85 pass
#: (rl_config.useA85), a process-wide setting this module leaves alone.
PAGE_COMPRESSION = True

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_GAP_PT = 2  # between the kind tag, the code and the lines below


@dataclass(frozen=True)
class LabelData:
    code: str  # "F-2026-000123"
    kind_label: str  # 帳票 / 媒体 / 機器
    title: str
    department: str
    registered_on: date
    qr_url: str  # what the QR encodes: <base_url>/s/<payload>
    mark: str | None = None  # 廃棄済 / 返却済: printed beside the kind for an item no longer in use


def render_labels(labels: Sequence[LabelData], layout: Layout, start: int = 1) -> bytes:
    """PDF bytes; on sheets the grid fills row by row from the top-left, with pages added as needed.
    `start` (1 … per_page): the first sheet begins at that position, the ones before it already used."""
    if not labels:
        raise ValueError("印刷するラベルがありません")
    if not 1 <= start <= layout.per_page:
        raise ValueError(f"start must be 1…{layout.per_page}")
    font = japanese_font()
    buffer = io.BytesIO()
    # invariant: no timestamp or random document id, so the same labels give the same bytes.
    canvas = Canvas(buffer, pagesize=(layout.page_width_mm * mm, layout.page_height_mm * mm),
                    pageCompression=PAGE_COMPRESSION, invariant=True,
                    initialFontName=font)  # else an unused, unembedded Helvetica is listed
    canvas.setTitle(f"管理ラベル {layout.title}")
    canvas.setCreator("lifecycle")
    for index, label in enumerate(labels, start=start - 1):
        slot = index % layout.per_page
        if index > start - 1 and not slot:
            canvas.showPage()
        x, y = layout.slot_origin(slot)
        _draw_label(canvas, label, layout, x, y, font)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def fit_text(text: str, font: str, size: float, width: float) -> str:
    """The text, or its longest prefix + "…" that fits: a label has no room for a second line."""
    text = _CONTROL.sub(" ", text).strip()
    if stringWidth(text, font, size) <= width:
        return text
    low, high = 0, len(text)  # text[:low] + "…" fits; text[:high] + "…" does not
    while high - low > 1:
        middle = (low + high) // 2
        if stringWidth(text[:middle] + ELLIPSIS, font, size) <= width:
            low = middle
        else:
            high = middle
    return text[:low].rstrip() + ELLIPSIS


def _draw_label(canvas: Canvas, label: LabelData, layout: Layout, x: float, y: float,
                font: str) -> None:
    padding = layout.padding_mm * mm
    qr_size = layout.qr_size_mm * mm
    height = layout.label_height_mm * mm
    draw_qr(canvas, label.qr_url, x + padding, y + (height - qr_size) / 2, qr_size)

    # The QR's own quiet zone already separates it from the text.
    left = x + padding + qr_size
    width = x + layout.label_width_mm * mm - padding - left
    top = y + height - padding
    text_size = layout.text_font_pt

    # Kind as a black tag, readable at a glance across a shelf.
    kind = fit_text(label.kind_label, font, text_size, width - 4)
    tag_height = text_size + 3
    canvas.rect(left, top - tag_height, stringWidth(kind, font, text_size) + 4, tag_height,
                stroke=0, fill=1)
    canvas.setFillColorRGB(1, 1, 1)
    canvas.setFont(font, text_size)
    canvas.drawString(left + 2, top - tag_height + 1.5 + 0.12 * text_size, kind)
    canvas.setFillColorRGB(0, 0, 0)
    if label.mark:  # 廃棄済 / 返却済 in an outlined box beside the kind: seen before the code is read
        mark_left = left + stringWidth(kind, font, text_size) + 4 + _GAP_PT
        mark = fit_text(label.mark, font, text_size, max(left + width - mark_left - 4, 1))
        canvas.setLineWidth(0.8)
        canvas.rect(mark_left, top - tag_height, stringWidth(mark, font, text_size) + 4, tag_height, stroke=1, fill=0)
        canvas.drawString(mark_left + 2, top - tag_height + 1.5 + 0.12 * text_size, mark)

    # The code is what people read out and type: as large as the layout allows, never cut.
    code = _CONTROL.sub(" ", label.code).strip()
    code_size = min(layout.code_font_pt, width / max(stringWidth(code, font, 1), 1e-6))
    canvas.setFont(font, code_size)
    canvas.drawString(left, top - tag_height - _GAP_PT - 0.88 * code_size, code)

    # Title, department and date sit on the bottom edge; the validation in layouts.py keeps
    # them clear of the code.
    canvas.setFont(font, text_size)
    baseline = y + padding + 0.12 * text_size
    for line in (f"登録 {wareki_date(label.registered_on)}", label.department, label.title):
        canvas.drawString(left, baseline, fit_text(line, font, text_size, width))
        baseline += text_size * 1.3
