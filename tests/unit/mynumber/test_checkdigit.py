import random

import pytest

from lifecycle.errors import Invalid
from lifecycle.checkdigit import check_digit, is_valid, mask, normalise, validate

P_WEIGHTS = [2, 3, 4, 5, 6, 7, 2, 3, 4, 5, 6]  # Q1..Q11 of 総務省令第85号 第5条


def reference_check_digit(first11: str) -> int:
    """The ordinance read literally: Pn is the n-th digit counted from the right."""
    p = [int(d) for d in reversed(first11)]
    remainder = sum(pn * qn for pn, qn in zip(p, P_WEIGHTS)) % 11
    return 0 if remainder <= 1 else 11 - remainder


def test_the_example_of_the_ordinance_is_valid():
    assert check_digit("12345678901") == 8
    assert is_valid("123456789018")


def test_matches_the_ordinance_on_many_numbers():
    rng = random.Random(85)
    remainders_le_1 = 0
    for _ in range(5000):
        first = "".join(rng.choice("0123456789") for _ in range(11))
        assert check_digit(first) == reference_check_digit(first)
        valid = [d for d in "0123456789" if is_valid(first + d)]
        assert valid == [str(reference_check_digit(first))]
        p = [int(d) for d in reversed(first)]
        remainders_le_1 += sum(a * b for a, b in zip(p, P_WEIGHTS)) % 11 <= 1
    assert remainders_le_1 > 0  # the "0 when the remainder is 0 or 1" branch was exercised


@pytest.mark.parametrize("typed", ["123456789018", "１２３４５６７８９０１８", "1234 5678 9018",
                                   "1234-5678-9018", "１２３４－５６７８－９０１８", "1234\u30005678\u30009018",
                                   " 123456789018 "])
def test_full_width_spaces_and_hyphens_are_normalised(typed):
    assert validate(typed) == "123456789018"


@pytest.mark.parametrize("typed,fragment", [
    ("", "入力してください"),
    (None, "入力してください"),
    ("   ", "入力してください"),
    ("12345678901", "12桁"),
    ("1234567890185", "12桁"),
    ("12345678901a", "数字以外"),
    ("abcdefghijkl", "数字以外"),
    ("①23456789018", "数字以外"),
    ("１２３４５６７８９０１８x", "数字以外"),
    ("123456789019", "検査用数字"),
    ("123456789010", "検査用数字"),
])
def test_refusals_are_japanese_and_do_not_repeat_the_input(typed, fragment):
    with pytest.raises(Invalid) as caught:
        validate(typed)
    assert caught.value.code == "invalid_my_number" and caught.value.field == "my_number"
    assert fragment in caught.value.message
    assert "1234" not in caught.value.message and "9018" not in caught.value.message


@pytest.mark.parametrize("value", [123456789018, 12.5, True, ["123456789018"]])
def test_non_strings_are_refused(value):
    with pytest.raises(Invalid) as caught:
        validate(value)
    assert caught.value.code == "invalid_my_number"


def test_normalise_only_removes_what_it_promises():
    assert normalise("12-34 ５６") == "123456"
    assert normalise("12.34") == "12.34"
    assert normalise(None) == ""


def test_mask_keeps_the_last_four_digits_only():
    assert mask("123456789018") == "********9018"
