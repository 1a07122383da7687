"""管理簿 PDF: what an auditor must find on paper, page after page."""
from __future__ import annotations

import io
import re
from datetime import date, datetime

import pytest
from pypdf import PdfReader

from lifecycle.documents.render import Checkpoint, Imprint, LedgerReport, render_ledger_pdf

COLUMNS = [("管理番号", 9), ("件名", 22), ("所属", 10), ("登録日", 9), ("状態", 6), ("保存期限", 9)]
HEAD = "9f3a0c1d2e3f4a5b" + "77" * 24
IMPRINT = Imprint("○○県総務部市町課", datetime(2026, 11, 22, 5, 5), "山田 太郎",
                  Checkpoint(1234, HEAD, datetime(2026, 11, 21, 18, 0)))


def rows(n: int):
    for i in range(n):
        yield [f"F-2026-{i:06d}", "住民票の写し（広域交付）", "税務課", "令和8年4月1日", "保管中",
               "令和15年3月31日"]


def ledger(n: int = 5, kind: str = "form", imprint: Imprint = IMPRINT) -> LedgerReport:
    return LedgerReport(kind, COLUMNS, list(rows(n)), imprint, date(2026, 4, 1),
                        date(2026, 11, 22), [("所属", "税務課")])


def pages(pdf: bytes) -> list[str]:
    return [p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages]


@pytest.mark.parametrize("kind, title", [("form", "帳票管理簿"), ("medium", "媒体管理簿"),
                                         ("device", "機器管理簿")])
def test_title_follows_the_kind(kind, title):
    assert title in pages(render_ledger_pdf(ledger(kind=kind)))[0]


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        render_ledger_pdf(ledger(kind="my_number_copy"))


def test_header_shows_period_filters_printer_and_checkpoint():
    text = pages(render_ledger_pdf(ledger()))[0]
    assert "期間: 令和8年4月1日～令和8年11月22日" in text
    assert "所属: 税務課" in text
    assert "○○県総務部市町課" in text
    assert "出力日時: 令和8年11月22日 14時05分" in text  # 05:05 UTC is 14:05 JST
    assert "出力者: 山田 太郎" in text
    assert "第1234号" in text and HEAD[:16] in text and "署名検証済" in text
    assert HEAD not in text  # the header shows a prefix only
    assert "件数: 5件" in text


def test_a_bad_checkpoint_signature_is_said_so():
    bad = Imprint("○○県", datetime(2026, 11, 22), "監査 一郎",
                  Checkpoint(7, HEAD, datetime(2026, 11, 21), signature_ok=False))
    text = pages(render_ledger_pdf(ledger(imprint=bad)))[0]
    assert "署名不一致" in text and "署名検証済" not in text


def test_every_row_is_printed_with_its_code_and_wareki_dates():
    text = "".join(pages(render_ledger_pdf(ledger(120))))
    for i in range(120):
        assert f"F-2026-{i:06d}" in text
    assert "令和15年3月31日" in text


def test_page_numbers_and_repeated_header_on_every_page():
    pdf = render_ledger_pdf(ledger(200))
    texts = pages(pdf)
    total = len(texts)
    assert total >= 3
    for number, text in enumerate(texts, 1):
        assert f"{number} / {total} 頁" in text
        for heading, _ in COLUMNS:
            assert heading in text
    assert "帳票管理簿（続き）" in texts[1]
    assert "件数: 200件" in texts[0] and "件数" not in texts[1]


def test_rows_may_come_from_a_generator():
    report = LedgerReport("medium", COLUMNS, rows(80), IMPRINT)
    texts = pages(render_ledger_pdf(report))
    assert "F-2026-000079" in texts[-1]
    assert "期間: 指定なし" in texts[0]


def test_no_rows_prints_nothing_found():
    texts = pages(render_ledger_pdf(ledger(0)))
    assert len(texts) == 1
    assert "該当なし" in texts[0] and "件数: 0件" in texts[0] and "1 / 1 頁" in texts[0]


def test_long_cells_are_cut_with_an_ellipsis():
    long_title = "県営住宅の滞納家賃等の徴収に関する事務に係る照会結果一覧" * 3
    report = LedgerReport("form", COLUMNS, [["F-2026-000001", long_title, "住宅課", "", "", ""]],
                          IMPRINT)
    text = pages(render_ledger_pdf(report))[0]
    line = next(line for line in text.splitlines() if "F-2026-000001" in line)
    assert "…" in line
    assert long_title not in text
    assert "県営住宅の滞納家賃" in line


def test_control_characters_do_not_reach_the_page():
    report = LedgerReport("form", COLUMNS, [["F-2026-000001", "一行目\n二行目\tタブ" * 5, "", "", "", ""]],
                          IMPRINT)
    text = pages(render_ledger_pdf(report))[0]
    assert "一行目 二行目 タブ" in text
    short = LedgerReport("form", COLUMNS, [["F-2026-000002", "上\n下", "", "", "", ""]], IMPRINT)
    assert "上 下" in pages(render_ledger_pdf(short))[0]


def test_japanese_font_is_embedded():
    reader = PdfReader(io.BytesIO(render_ledger_pdf(ledger())))
    embedded = []
    for font in reader.pages[0]["/Resources"]["/Font"].values():
        font = font.get_object()
        descriptor = font.get("/FontDescriptor")
        if descriptor is not None and "/FontFile2" in descriptor.get_object():
            embedded.append(str(font["/BaseFont"]))
    assert any(re.search(r"IPA", name) for name in embedded), embedded
