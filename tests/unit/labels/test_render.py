"""Label PDFs read back for real: rasterised at 300 dpi and scanned, text extracted, fonts checked."""
from __future__ import annotations

import io
import shutil
import subprocess
from datetime import date

import pytest
from pypdf import PdfReader
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth

from lifecycle.fonts import FALLBACK_CID, japanese_font
from lifecycle.labels.layouts import get_layout
from lifecycle.labels.render import ELLIPSIS, LabelData, fit_text, render_labels

TITLE = "住民票の写し（広域交付）"
LONG_TITLE = "課税資料（自動車税）令和8年度 第2四半期分 納税義務者一覧 及び 滞納者に係る照会結果の写し 一式"


def label(i: int, title: str = TITLE) -> LabelData:
    code = f"F-2026-{i:06d}"
    return LabelData(code=code, kind_label="帳票", title=title, department="県北広域本部 福祉課",
                     registered_on=date(2026, 11, 22),
                     qr_url=f"http://127.0.0.1:5000/s/{code}.Ab3dEf5hIj7kLm9nOp1qRsT{i:03d}")


def rasterise(pdf: bytes, tmp_path):
    if not shutil.which("pdftoppm"):
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    from PIL import Image

    (tmp_path / "labels.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "300", "-png", str(tmp_path / "labels.pdf"), str(tmp_path / "page")],
                   check=True)
    return [Image.open(path) for path in sorted(tmp_path.glob("page*.png"))]


def scan(image) -> list[str]:
    pyzbar = pytest.importorskip("pyzbar.pyzbar", reason="pyzbar / libzbar is not installed")
    return [symbol.data.decode() for symbol in pyzbar.decode(image) if symbol.type == "QRCODE"]


def scan_slots(image, layout, count: int) -> list[list[str]]:
    """What a reader finds in each label of the page, cut out along the layout's grid.

    Label by label, as a handheld reader sees them: zbar scanning a whole page of 12 symbols now
    and then misses one (about 1 in 200, a different one at another resolution) although the same
    pixels cropped to the label decode.
    """
    scale = image.width / layout.page_width_mm  # pixels per mm
    found = []
    for slot in range(count):
        row, column = divmod(slot, layout.columns)  # row by row, from the top left
        left = layout.margin_left_mm + column * layout.pitch_x_mm
        top = layout.margin_top_mm + row * layout.pitch_y_mm
        box = (left, top, left + layout.label_width_mm, top + layout.label_height_mm)
        found.append(scan(image.crop(tuple(round(v * scale) for v in box))))
    return found


def test_every_qr_on_a_sheet_decodes_to_its_own_url(tmp_path):
    layout = get_layout("a4-12")
    labels = [label(i) for i in range(14)]
    first, second = rasterise(render_labels(labels, layout), tmp_path)

    # Slot by slot: this also checks that the grid fills row by row from the top left.
    assert scan_slots(first, layout, 12) == [[x.qr_url] for x in labels[:12]]
    assert scan_slots(second, layout, 12) == [[x.qr_url] for x in labels[12:]] + [[]] * 10


def test_sheet_is_rasterised_at_the_layouts_size(tmp_path):
    [page] = rasterise(render_labels([label(1)], get_layout("a4-12")), tmp_path)
    assert page.size == pytest.approx((210 / 25.4 * 300, 297 / 25.4 * 300), abs=1)


def test_roll_label_is_one_62mm_page_that_scans(tmp_path):
    labels = [label(1), label(2)]
    pdf = render_labels(labels, get_layout("roll-62mm"))
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 2
    box = reader.pages[0].mediabox
    assert (float(box.width), float(box.height)) == pytest.approx((62 * mm, 40 * mm))

    for page, expected in zip(rasterise(pdf, tmp_path), labels):
        assert scan(page) == [expected.qr_url]


def pages_text(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


@pytest.mark.parametrize("layout", ["a4-12", "roll-62mm"])
def test_label_text_is_in_the_pdf(layout):
    [text] = pages_text(render_labels([label(123)], get_layout(layout)))
    for expected in ("F-2026-000123", "帳票", TITLE, "県北広域本部 福祉課", "登録 令和8年11月22日"):
        assert expected in text


def test_long_title_is_cut_with_an_ellipsis():
    [text] = pages_text(render_labels([label(1, LONG_TITLE)], get_layout("a4-12")))
    line = next(line for line in text.splitlines() if line.startswith("課税資料"))
    assert line.endswith(ELLIPSIS) and LONG_TITLE.startswith(line[:-1]) and len(line) < len(LONG_TITLE)


def test_fit_text_measures_the_width():
    font = japanese_font()
    fitted = fit_text(LONG_TITLE, font, 8, 100)
    assert fitted.endswith(ELLIPSIS)
    assert stringWidth(fitted, font, 8) <= 100
    one_more = LONG_TITLE[:len(fitted)] + ELLIPSIS  # the longest prefix that fits was taken
    assert stringWidth(one_more, font, 8) > 100
    assert fit_text("短い件名", font, 8, 100) == "短い件名"
    assert fit_text("改行\nを含む", font, 8, 100) == "改行 を含む"


def test_japanese_font_is_embedded():
    if japanese_font() == FALLBACK_CID:
        pytest.skip("no Japanese TrueType font installed (fonts-ipaexfont); the CID fallback is not embedded")
    page = PdfReader(io.BytesIO(render_labels([label(1)], get_layout("a4-12")))).pages[0]
    fonts = [ref.get_object() for ref in page["/Resources"]["/Font"].values()]
    assert fonts
    for font in fonts:
        assert "/FontFile2" in font["/FontDescriptor"], font["/BaseFont"]


def test_labels_beyond_twelve_go_to_a_second_page():
    texts = pages_text(render_labels([label(i) for i in range(13)], get_layout("a4-12")))
    assert len(texts) == 2
    assert "F-2026-000011" in texts[0] and "F-2026-000012" not in texts[0]
    assert "F-2026-000012" in texts[1] and "F-2026-000011" not in texts[1]


def test_exactly_twelve_labels_make_one_page():
    assert len(pages_text(render_labels([label(i) for i in range(12)], get_layout("a4-12")))) == 1


def test_qr_codes_are_vectors_not_images():
    page = PdfReader(io.BytesIO(render_labels([label(1)], get_layout("a4-12")))).pages[0]
    assert "/XObject" not in page["/Resources"]


def test_same_labels_give_the_same_bytes():
    labels = [label(i) for i in range(3)]
    assert render_labels(labels, get_layout("a4-12")) == render_labels(labels, get_layout("a4-12"))


def test_nothing_to_print_is_refused():
    with pytest.raises(ValueError, match="ラベルがありません"):
        render_labels([], get_layout("a4-12"))
