"""The fast QR path must produce exactly the qrcode library's symbols, and draw them as one path."""
from __future__ import annotations

import io
import random
import shutil
import string
import subprocess

import pytest
import qrcode
from pypdf import PdfReader
from pypdf.generic import ContentStream
from qrcode import util
from reportlab.pdfgen.canvas import Canvas

from lifecycle.labels import qr
from lifecycle.labels.qr import ERROR_CORRECTION, QUIET_ZONE, draw_qr, qr_matrix

URL = "http://127.0.0.1:5000/s/F-2026-000123.Ab3dEf5hIj7kLm9nOp1qRsTuVwX"


def samples() -> list[str]:
    rnd = random.Random(18004)
    alphabet = string.ascii_letters + string.digits + "-_"
    urls = [f"http://127.0.0.1:5000/s/{kind}-2026-{i:06d}."
            + "".join(rnd.choices(alphabet, k=rnd.randint(20, 34)))
            for i, kind in enumerate("FMD" * 10)]
    return urls + [
        "a", "F-2026-000001", "0123456789" * 8, "HTTP://EXAMPLE.ORG/S/" + "AB12" * 20,
        "https://lifecycle.pref.example.lg.jp/s/" + "x" * 140,  # version ≥ 7: version information
        "住民基本台帳ネットワーク" * 10, "".join(rnd.choices(string.printable, k=600)),
    ]


def library_matrix(data: str) -> tuple[list[list[bool]], qrcode.QRCode]:
    code = qrcode.QRCode(error_correction=ERROR_CORRECTION, border=0)
    code.add_data(data)
    code.make()
    return [[bool(module) for module in row] for row in code.get_matrix()], code


@pytest.mark.parametrize("data", samples())
def test_matrix_is_the_qrcode_librarys_symbol(data):
    expected, _ = library_matrix(data)
    assert qr_matrix(data) == expected


def test_samples_cover_small_and_large_versions():
    versions = {library_matrix(data)[1].version for data in samples()}
    assert min(versions) <= 2 and max(versions) >= 7


@pytest.mark.parametrize("data", [URL, "0123456789" * 8, "https://example.org/" + "y" * 150])
def test_penalty_of_every_mask_equals_lost_point(data):
    code = qrcode.QRCode(error_correction=ERROR_CORRECTION)
    code.add_data(data)
    code.make()
    version, codewords = qr._encode(data)
    assert version == code.version
    grid = qr._grid(version, ERROR_CORRECTION)
    placed = qr._placed(grid, codewords)
    for mask in range(8):
        code.makeImpl(True, mask)  # the layout the library scores: format area light
        ours = qr._penalty(grid.function | (placed ^ grid.masks[mask]), grid)
        assert ours == util.lost_point(code.modules), f"mask {mask}"


@pytest.mark.parametrize("data", samples()[::4])
def test_codewords_equal_create_data(data):
    code = qrcode.QRCode(error_correction=ERROR_CORRECTION)
    code.add_data(data)
    version = code.best_fit()
    assert qr._encode(data) == (version, util.create_data(version, ERROR_CORRECTION, code.data_list))


def test_too_much_data_is_refused():
    with pytest.raises(qrcode.exceptions.DataOverflowError):
        qr_matrix("x" * 3000)


def page_with_qr(data: str, size: float, compress: bool = False) -> bytes:
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(size, size), pageCompression=compress)
    draw_qr(canvas, data, 0, 0, size)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def test_draw_is_one_filled_path_of_row_runs():
    matrix = qr_matrix(URL)
    runs = sum(1 for row in matrix for c, dark in enumerate(row) if dark and (c == 0 or not row[c - 1]))
    page = PdfReader(io.BytesIO(page_with_qr(URL, 100))).pages[0]
    operators = [op for _, op in ContentStream(page.get_contents(), page.pdf).operations]

    assert operators.count(b"re") == runs < sum(map(sum, matrix))  # merged, not one per module
    assert sum(operators.count(op) for op in (b"f", b"f*", b"F")) == 1  # one path, one fill
    assert not {b"S", b"B", b"B*"} & set(operators)  # and no stroke to fatten the modules
    assert b"Do" not in operators and b"BI" not in operators  # no raster image
    assert "/XObject" not in page["/Resources"]


def rasterise(pdf: bytes, tmp_path, dpi: int = 300):
    if not shutil.which("pdftoppm"):
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    from PIL import Image

    (tmp_path / "in.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(tmp_path / "in.pdf"), str(tmp_path / "page")],
                   check=True)
    return [Image.open(path).convert("L") for path in sorted(tmp_path.glob("page*.png"))]


def test_quiet_zone_is_inside_the_size_and_the_symbol_decodes(tmp_path):
    pyzbar = pytest.importorskip("pyzbar.pyzbar", reason="pyzbar / libzbar is not installed")
    size = 90  # points; the page is exactly the QR square
    [image] = rasterise(page_with_qr(URL, size), tmp_path)
    modules = len(qr_matrix(URL)) + 2 * QUIET_ZONE
    pixels_per_module = image.width / modules

    left, top, right, bottom = image.point(lambda v: 255 if v < 128 else 0).getbbox()
    for edge in (left, top, image.width - right, image.height - bottom):
        assert edge == pytest.approx(QUIET_ZONE * pixels_per_module, abs=1.5)
    assert [symbol.data.decode() for symbol in pyzbar.decode(image)] == [URL]
