"""Layouts are data files; a broken one is refused with a Japanese message naming the problem."""
from __future__ import annotations

import json

import pytest
from reportlab.lib.units import mm

from lifecycle.labels.layouts import (DEFAULT_LAYOUT, DEFAULT_FOLDER, Layout, all_layouts, get_layout,
                                      load_layouts)


def a4_12() -> dict:
    return json.loads((DEFAULT_FOLDER / "a4-12.json").read_text(encoding="utf-8"))


def write(folder, name: str, data) -> None:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    (folder / f"{name}.json").write_text(text, encoding="utf-8")


def test_shipped_layouts_load_and_include_the_default():
    layouts = load_layouts()
    assert {"a4-12", "roll-62mm"} <= set(layouts)
    assert DEFAULT_LAYOUT in layouts
    assert all(isinstance(layout, Layout) for layout in layouts.values())
    assert all_layouts()[0].name == DEFAULT_LAYOUT


def test_a4_12_is_a_full_a4_sheet_of_86_4_by_42_3_labels():
    layout = get_layout("a4-12")
    assert (layout.page_width_mm, layout.page_height_mm) == (210, 297)
    assert (layout.columns, layout.rows, layout.per_page) == (2, 6, 12)
    assert (layout.label_width_mm, layout.label_height_mm) == (86.4, 42.3)
    right = layout.page_width_mm - layout.margin_left_mm - layout.pitch_x_mm - layout.label_width_mm
    bottom = layout.page_height_mm - layout.margin_top_mm - 5 * layout.pitch_y_mm - layout.label_height_mm
    assert right == pytest.approx(layout.margin_left_mm)  # centred, as the sheets are
    assert bottom == pytest.approx(layout.margin_top_mm)
    assert "A4 12面" in layout.title


def test_roll_is_one_62mm_label_per_page():
    layout = get_layout("roll-62mm")
    assert layout.page_width_mm == layout.label_width_mm == 62
    assert layout.per_page == 1
    assert layout.slot_origin(0) == (0, 0)


def test_slots_fill_row_by_row_from_the_top_left():
    layout = get_layout("a4-12")
    (x0, y0), (x1, y1), (x2, y2) = (layout.slot_origin(i) for i in range(3))
    assert x0 == pytest.approx(layout.margin_left_mm * mm)
    assert y0 + layout.label_height_mm * mm == pytest.approx((297 - layout.margin_top_mm) * mm)
    assert y1 == y0 and x1 == pytest.approx(x0 + layout.pitch_x_mm * mm)  # next: to the right
    assert x2 == x0 and y2 == pytest.approx(y0 - layout.pitch_y_mm * mm)  # then the row below


def test_unknown_layout_is_a_key_error():
    with pytest.raises(KeyError):
        get_layout("a4-99")


def test_missing_fields_are_named(tmp_path):
    data = a4_12()
    del data["columns"], data["pitch_y_mm"]
    write(tmp_path, "a4-12", data)
    with pytest.raises(ValueError, match="a4-12.json.*必須項目がありません: columns, pitch_y_mm"):
        load_layouts(tmp_path)


def test_misspelt_field_is_refused(tmp_path):
    data = a4_12()
    data["colums"] = data.pop("columns")
    write(tmp_path, "a4-12", data)
    with pytest.raises(ValueError, match="必須項目がありません: columns / 不明な項目.*: colums"):
        load_layouts(tmp_path)


def test_broken_json_is_a_value_error(tmp_path):
    write(tmp_path, "a4-12", '{"name": "a4-12",')
    with pytest.raises(ValueError, match="読み込めません"):
        load_layouts(tmp_path)


@pytest.mark.parametrize("field, value, message", [
    ("columns", 0, "1 以上の整数"),
    ("rows", 2.5, "1 以上の整数"),
    ("label_width_mm", "86.4", "数値"),
    ("qr_size_mm", -1, "正の数"),
    ("title", "", "空でない文字列"),
    ("name", "a4-twelve", "ファイル名と一致しません"),
    ("pitch_x_mm", 80, "重なります"),
    ("margin_top_mm", 60, "縦方向にラベルが用紙からはみ出します"),
    ("qr_size_mm", 40, "QR コード"),
    ("code_font_pt", 60, "高さが足りません"),
])
def test_impossible_values_are_refused(tmp_path, field, value, message):
    data = a4_12()
    data[field] = value
    write(tmp_path, "a4-12", data)
    with pytest.raises(ValueError, match=message):
        load_layouts(tmp_path)


def test_a_valid_new_layout_file_is_picked_up(tmp_path):
    data = a4_12() | {"name": "a4-12-gap", "margin_left_mm": 16.3, "pitch_x_mm": 91.0}
    write(tmp_path, "a4-12-gap", data)
    (tmp_path / "README.md").write_text("not a layout", encoding="utf-8")
    assert list(load_layouts(tmp_path)) == ["a4-12-gap"]
