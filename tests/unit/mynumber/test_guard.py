"""The one guard that keeps a 個人番号 out of free text: checkdigit.contains_number, applied by
validation.text to every free-text field."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle import validation as v
from lifecycle.errors import Invalid
from lifecycle.checkdigit import check_digit, contains_number

NUMBER = "123456789018"
#: Every separator the guard must see through (issue 26), one per kind.
SEPARATORS = [" ", "\u3000", "\u00a0", "\t", "\n", "-", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014",
              "\u2015", "\u2212", "\uff0d", "\u30fc", "\uff70", ".", "\uff0e", "\u30fb", "/", "\uff0f", ",",
              "\uff0c", "\u3001"]
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@pytest.mark.parametrize("separator", SEPARATORS, ids=[f"U+{ord(s):04X}" for s in SEPARATORS])
def test_every_separator_is_seen_through(separator):
    assert contains_number(separator.join(["1234", "5678", "9018"]))
    assert contains_number("番号" + separator.join(NUMBER) + "の件")
    assert contains_number(f"1234{separator}{separator} 5678{separator}9018")


@pytest.mark.parametrize("text", [
    NUMBER, NUMBER.translate(FULL_WIDTH), "１２３４56７８9018", "個人番号123456789018", "No.123456789018です",
    "1234.5678.9018", "1234/5678/9018", "１２３４／５６７８／９０１８", "1234・5678・9018", "1234、5678、9018",
    "1234 - 5678 - 9018", "1234-5678-9018 1", "123456789018 1", "1 123456789018", "1234567890181",
    "01234567890180", "件名\n1234\n5678\n9018", "\U0001d7cf23456789018",  # MATHEMATICAL BOLD DIGIT ONE
])
def test_a_valid_number_is_found(text):
    assert contains_number(text)


@pytest.mark.parametrize("text", [
    None, "", "123456789019", "1234-5678-9019", "12345678901", "1234-5678-901", "電話 096-123-4567",
    "伝票 123456789012", "1234a5678b9018", "1234年5678号9018", "2026-04-01 10:30", "①２３４５６７８９０１８",
])
def test_no_valid_number_is_not_found(text):
    assert not contains_number(text)


def test_every_window_of_a_long_run_counts():
    # A conservative choice, documented at contains_number: any 12 consecutive digits count.
    assert contains_number("SN-99" + NUMBER + "77")
    assert not contains_number("SN-99" + NUMBER[:-1] + "977")


def test_text_refuses_a_number_with_a_japanese_message_that_names_the_field():
    with pytest.raises(Invalid) as refused:
        v.text("件名 1234.5678.9018", "件名", field="title")
    assert refused.value.status == 422 and refused.value.code == "my_number_in_text"
    assert refused.value.field == "title"
    assert refused.value.message.startswith("件名に個人番号と思われる12桁の数字が含まれています。")
    assert "1234" not in refused.value.message and "9018" not in refused.value.message


def test_text_refuses_before_length_and_emptiness_are_judged():
    for kwargs in ({"max_len": 5}, {"required": False}, {"multiline": True}):
        with pytest.raises(Invalid) as refused:
            v.text(" " + NUMBER + " ", "備考", field="note", **kwargs)
        assert refused.value.code == "my_number_in_text"
    with pytest.raises(Invalid) as refused:
        v.code(NUMBER, "所属コード", field="code")
    assert refused.value.code == "my_number_in_text"


def test_ordinary_text_still_passes():
    assert v.text("  税務課 書庫A-3 （2026-04-01 搬入）", "保管場所") == "税務課 書庫A-3 （2026-04-01 搬入）"
    assert v.text("伝票 123456789012", "備考") == "伝票 123456789012"


digits = st.integers(0, 10**11 - 1).map(lambda n: f"{n:011d}").map(lambda first: first + str(check_digit(first)))
widths = st.lists(st.booleans(), min_size=12, max_size=12)
gaps = st.lists(st.text(st.sampled_from(SEPARATORS), max_size=2), min_size=11, max_size=11)
#: Anything a person might type around it, digits and separators included.
surroundings = st.text(st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")), max_size=12)


def written(number: str, full: list[bool], between: list[str]) -> str:
    chars = [d.translate(FULL_WIDTH) if wide else d for d, wide in zip(number, full)]
    return chars[0] + "".join(gap + char for gap, char in zip(between, chars[1:]))


@settings(max_examples=200, deadline=None)
@given(digits, widths, gaps, surroundings, surroundings)
def test_a_valid_number_however_written_is_found(number, full, between, before, after):
    text = before + written(number, full, between) + after
    assert contains_number(text)
    with pytest.raises(Invalid) as refused:
        v.text(text, "備考", max_len=500, multiline=True, field="note")
    assert refused.value.code == "my_number_in_text"


@settings(max_examples=200, deadline=None)
@given(digits, st.integers(0, 9), gaps)
def test_a_wrong_check_digit_is_not_found(number, wrong, between):
    if wrong == int(number[-1]):
        wrong = (wrong + 1) % 10
    assert not contains_number(written(number[:-1] + str(wrong), [False] * 12, between))
