"""研修受講状況: per department, who attended this 年度's training and whose roles count, as a
page, a CSV and a signed PDF for the council (A4 portrait, 和暦). Renderers are pure: they take
the rows of people/queries.py and return bytes."""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from reportlab.lib.pagesizes import A4

from ..wareki import wareki_date
from .csvkit import iter_csv
from .pdfkit import Flow, Frame, Table, new_canvas
from .render import Imprint, _checkpoint, _continuation, _finish, _footer, _heading, _nothing, _title_block

COLUMNS = ("所属", "氏名", "権限", "今年度の受講日", "研修の名称", "有効期限", "状況")


@dataclass(frozen=True)
class TrainingReport:
    year_label: str  #: 令和8年度
    as_of: date
    rows: Sequence  #: people.queries.TrainingRow, grouped by department in order
    imprint: Imprint


def cells(row) -> list[str]:
    return [row.department, row.name, row.roles,
            "、".join(wareki_date(d) for d, _ in row.attended) or "未受講",
            "、".join(course for _, course in row.attended),
            wareki_date(row.valid_until) if row.valid_until else "—", row.status]


def iter_training_csv(rows: Iterable) -> Iterator[bytes]:
    return iter_csv(COLUMNS, (cells(row) for row in rows))


def summary(rows: Sequence) -> list[tuple[str, int, int, int]]:
    """(department, people, attended this 年度, roles effective today) in the order of the rows."""
    found: dict[str, list[int]] = {}
    for row in rows:
        counts = found.setdefault(row.department, [0, 0, 0])
        counts[0] += 1
        counts[1] += bool(row.attended)
        counts[2] += row.current
    return [(name, *counts) for name, counts in found.items()]


def render_training_pdf(report: TrainingReport) -> bytes:
    title = "研修受講状況"
    imprint = report.imprint
    frame = Frame.of(A4, margin=36, bottom=44)
    buffer, canvas = new_canvas(A4, title=title, author=imprint.organisation, footer=_footer(frame, title, imprint))
    flow = Flow(canvas, frame, _continuation(frame, title, imprint))
    _title_block(flow, title, imprint, subtitle=f"（{report.year_label}、{wareki_date(report.as_of)}現在）")
    _checkpoint(flow, imprint.checkpoint, 7)
    _heading(flow, "所属別の受講者数")
    if not report.rows:
        _nothing(flow)
        return _finish(buffer, canvas)
    table = Table(flow, ["所属", "人数", "今年度の受講者", "未受講", "権限が有効"], [16, 5, 7, 5, 6], size=8,
                  align=["left", "right", "right", "right", "right"])
    table.header()
    for name, people, attended, current in summary(report.rows):
        table.row([name, f"{people}", f"{attended}", f"{people - attended}", f"{current}"])
    department = None
    for row in report.rows:
        if row.department != department:
            department = row.department
            _heading(flow, department, 10)
            table = Table(flow, list(COLUMNS[1:]), [8, 9, 10, 12, 7, 8], size=7.5)
            table.header()
        table.row(cells(row)[1:], max_lines=3)
    return _finish(buffer, canvas)
