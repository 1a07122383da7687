"""Cell wrapping: Japanese breaks anywhere, but not inside a person's 名前（所属）."""
from lifecycle.fonts import japanese_font
from lifecycle.documents.pdfkit import Fitter

NAMES = ("登録 一郎（税務課）", "旅券 二郎（旅券センター）", "システム（自動処理）")


def test_a_name_goes_whole_to_the_next_line_when_it_fits_on_one():
    fitter = Fitter(japanese_font(), 8)
    text = "引継ぎ第1号: 登録 一郎（税務課） から 旅券 二郎（旅券センター） へ引継ぎ、システム（自動処理）が記録"
    for width in (90, 110, 130, 150, 200):
        lines = fitter.wrap(text, width)
        assert "".join(lines) == text
        for name in NAMES:
            if fitter.width(name) <= width:
                assert any(name in line for line in lines), (width, lines)


def test_a_name_longer_than_the_cell_is_still_broken_and_nothing_is_lost():
    fitter = Fitter(japanese_font(), 8)
    text = "保管者 旅券 二郎（旅券センター）"
    lines = fitter.wrap(text, 40)
    assert "".join(lines) == text and all(fitter.width(line) <= 40 for line in lines)
