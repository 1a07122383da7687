"""End to end in a real Chromium: register a form, print its label, scan it, land on the item."""
from __future__ import annotations

import shutil
import subprocess

import pytest

pytestmark = pytest.mark.browser


def decode_label(pdf: bytes, tmp_path) -> str:
    """The URL in the label's QR code, read the way a reader would: from the printed image."""
    if not shutil.which("pdftoppm"):
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    pyzbar = pytest.importorskip("pyzbar.pyzbar", reason="pyzbar / libzbar is not installed")
    from PIL import Image

    (tmp_path / "label.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "300", "-png", "-f", "1", "-l", "1", str(tmp_path / "label.pdf"),
                    str(tmp_path / "page")], check=True)
    image = Image.open(next(tmp_path.glob("page*.png")))
    found = [s.data.decode() for s in pyzbar.decode(image) if s.type == "QRCODE"]
    assert len(found) == 1, found
    return found[0]


def test_register_print_scan_and_land_on_the_item(new_page, live_server, tmp_path):
    page = new_page("registrar")
    page.goto(live_server + "/items/new?kind=form")
    page.fill("input[name=title]", "ブラウザ試験 課税台帳")
    page.select_option("select[name=business]", "car-tax")
    page.fill("input[name=sheets]", "2")
    page.fill("input[name=location]", "税務課 書庫B-1")
    page.click("button[type=submit].primary")
    page.wait_for_url(lambda url: "/items/F-" in url)
    code = page.url.rsplit("/", 1)[1]
    assert "を登録しました" in page.locator(".flash").inner_text()
    assert page.locator("h1 .code").inner_text() == code

    # 印刷: the button opens the label PDF in a new tab
    with page.expect_popup() as popup:
        page.click("#print-label")
    label_url = popup.value.url
    assert f"/labels/{code}.pdf" in label_url
    response = page.context.request.get(label_url)
    assert response.ok and response.headers["content-type"] == "application/pdf"
    scanned = decode_label(response.body(), tmp_path)
    assert scanned.startswith(live_server + "/s/" + code + ".")

    # 読取り: a keyboard-wedge reader types the bare payload into the scan box and presses Enter
    page.goto(live_server + "/items?kind=form")
    page.fill("#scan-input", scanned.rsplit("/s/", 1)[1])
    page.press("#scan-input", "Enter")
    page.wait_for_url(live_server + f"/items/{code}")
    assert "ブラウザ試験 課税台帳" in page.locator("h1").inner_text()
    timeline = page.locator("table.timeline").inner_text()
    assert "登録" in timeline and "ラベル印刷" in timeline

    # ... or the whole URL, as most readers send it
    page.goto(live_server + "/")
    page.fill("#scan-input", scanned)
    page.press("#scan-input", "Enter")
    page.wait_for_url(live_server + f"/items/{code}")


def test_a_forged_label_shows_the_warning(new_page, live_server):
    page = new_page("registrar")
    page.fill("#scan-input", live_server + "/s/F-2026-000001.AAAAAAAAAAAAAAAA")
    page.press("#scan-input", "Enter")
    page.wait_for_load_state()
    assert "偽造または改変されたラベルの可能性があります" in page.locator(".forged h1").inner_text()
