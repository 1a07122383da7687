"""Label layouts as data: one JSON file per label stock in <repo>/labels (see labels/README.md).

Layouts are files rather than code so that a department buying a different sheet can add one
without a release. A broken file is refused loudly, with a Japanese message naming the file and
the field, because a silently wrong pitch wastes a whole pack of label sheets.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, fields
from pathlib import Path

from reportlab.lib.units import mm

DEFAULT_LAYOUT = "a4-12"
DEFAULT_FOLDER = Path(__file__).resolve().parents[2] / "labels"

#: A grid may overshoot the page by rounding in the manufacturer's figures, not more.
_TOLERANCE_MM = 0.05
#: Narrower than this, a title shows only a character or two next to the QR code.
_MIN_TEXT_WIDTH_MM = 15.0


@dataclass(frozen=True)
class Layout:
    name: str  # the file name without .json; what API callers pass as "layout"
    title: str  # shown in the print dialog, e.g. "A4 12面（2列×6段）"
    paper: str  # which stock it fits, e.g. "A-One 72212 と同寸の A4 12面シート"
    page_width_mm: float
    page_height_mm: float
    columns: int
    rows: int
    label_width_mm: float
    label_height_mm: float
    margin_left_mm: float  # page edge to the first label's left edge
    margin_top_mm: float  # page top to the first label's top edge
    pitch_x_mm: float  # left edge to left edge of neighbouring labels (width + gap)
    pitch_y_mm: float
    qr_size_mm: float  # the QR square including its 4-module quiet zone
    padding_mm: float  # kept clear inside each label edge: printers and die cuts drift
    code_font_pt: float  # item code, the largest text (shrunk further if it would not fit)
    text_font_pt: float  # kind, title, department and date

    @property
    def per_page(self) -> int:
        return self.columns * self.rows

    def slot_origin(self, slot: int) -> tuple[float, float]:
        """Lower-left corner of the slot-th label on a page, in points; row by row from the top."""
        row, column = divmod(slot, self.columns)
        x = (self.margin_left_mm + column * self.pitch_x_mm) * mm
        top = self.margin_top_mm + row * self.pitch_y_mm
        y = (self.page_height_mm - top - self.label_height_mm) * mm
        return x, y

    def text_height_needed_pt(self) -> float:
        """What render.py stacks in a label: kind tag, code, then title, department and date."""
        return (self.text_font_pt + 3) + 2 + self.code_font_pt + 2 + 3 * self.text_font_pt * 1.3


_TEXT_FIELDS = ("name", "title", "paper")
_COUNT_FIELDS = ("columns", "rows")
_MARGIN_FIELDS = ("margin_left_mm", "margin_top_mm")


def load_layouts(folder: Path | None = None) -> dict[str, Layout]:
    """Every *.json in the folder, by name; ValueError (in Japanese) for the first broken one.
    A file added or edited is used at once, without a restart."""
    folder = DEFAULT_FOLDER if folder is None else Path(folder)
    return {layout.name: layout for layout in
            (_load_cached(path, path.stat().st_mtime_ns) for path in sorted(folder.glob("*.json")))}


@functools.lru_cache(maxsize=256)
def _load_cached(path: Path, _mtime_ns: int) -> Layout:
    """Parsed once per file version: every item page offers the layouts, and an edited file
    (a new mtime) is read again without a restart. Broken files are not cached (they raise)."""
    return _load(path)


def all_layouts(folder: Path | None = None) -> list[Layout]:
    """For choosers in the pages: the default layout first, then by name."""
    layouts = load_layouts(folder)
    return sorted(layouts.values(), key=lambda layout: (layout.name != DEFAULT_LAYOUT, layout.name))


def get_layout(name: str) -> Layout:
    """KeyError for an unknown name, so a view can answer 400/404 rather than print the default."""
    layouts = load_layouts()
    if name not in layouts:
        raise KeyError(name)
    return layouts[name]


def _load(path: Path) -> Layout:
    where = f"ラベルレイアウト {path.name}"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{where} を読み込めません: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: 内容が JSON のオブジェクト（{{…}}）ではありません")

    names = [f.name for f in fields(Layout)]
    missing = [n for n in names if n not in raw]
    unknown = sorted(set(raw) - set(names))
    problems = []
    if missing:
        problems.append(f"必須項目がありません: {', '.join(missing)}")
    if unknown:  # most often a misspelt required field, so name both in one message
        problems.append(f"不明な項目があります（綴りを確認してください）: {', '.join(unknown)}")
    if problems:
        raise ValueError(f"{where}: {' / '.join(problems)}")

    values = {}
    for key in names:
        value = raw[key]
        if key in _TEXT_FIELDS:
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{where}: {key} は空でない文字列にしてください")
        elif key in _COUNT_FIELDS:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{where}: {key} は 1 以上の整数にしてください（{value!r}）")
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{where}: {key} は数値にしてください（{value!r}）")
            value = float(value)
            if value < 0 or (value == 0 and key not in _MARGIN_FIELDS):
                raise ValueError(f"{where}: {key} は正の数にしてください（{value!r}）")
        values[key] = value
    layout = Layout(**values)

    if layout.name != path.stem:
        raise ValueError(f"{where}: name「{layout.name}」がファイル名と一致しません")
    _check_geometry(layout, where)
    return layout


def _check_geometry(layout: Layout, where: str) -> None:
    for axis, count, margin, pitch, size, page in (
        ("横", layout.columns, layout.margin_left_mm, layout.pitch_x_mm,
         layout.label_width_mm, layout.page_width_mm),
        ("縦", layout.rows, layout.margin_top_mm, layout.pitch_y_mm,
         layout.label_height_mm, layout.page_height_mm),
    ):
        if count > 1 and pitch + _TOLERANCE_MM < size:
            raise ValueError(f"{where}: {axis}のピッチ {pitch}mm がラベルの大きさ {size}mm より小さく、"
                             "ラベルが重なります")
        extent = margin + pitch * (count - 1) + size
        if extent > page + _TOLERANCE_MM:
            raise ValueError(f"{where}: {axis}方向にラベルが用紙からはみ出します"
                             f"（{extent:.1f}mm ＞ 用紙 {page}mm）")

    inner_width = layout.label_width_mm - 2 * layout.padding_mm
    inner_height = layout.label_height_mm - 2 * layout.padding_mm
    if layout.qr_size_mm > inner_height:
        raise ValueError(f"{where}: QR コード {layout.qr_size_mm}mm が余白を除いたラベルの高さ "
                         f"{inner_height:.1f}mm に入りません")
    if inner_width - layout.qr_size_mm < _MIN_TEXT_WIDTH_MM:
        raise ValueError(f"{where}: QR コードの横に文字を置く幅が {_MIN_TEXT_WIDTH_MM:g}mm 未満です")
    if layout.text_height_needed_pt() > inner_height * mm:
        raise ValueError(f"{where}: 文字の大きさ（code_font_pt / text_font_pt）に対して"
                         "ラベルの高さが足りません")
