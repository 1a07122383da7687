"""個人番号 normalisation, check digit (総務省令第85号 第5条), and finding one in free text.

Input typed by people arrives with full-width digits, spaces and hyphens; those are the only
transformations applied. Anything else (letters, other digit scripts, circled numbers) is refused
rather than guessed at, because a wrong number retained is worse than a refused one.
"""
from __future__ import annotations

import re
import unicodedata

from .errors import Invalid

LENGTH = 12
_FULL_WIDTH = str.maketrans("０１２３４５６７８９", "0123456789")
#: Spaces (ASCII, ideographic, no-break) and the hyphen look-alikes people actually type.
_SEPARATORS = re.compile(r"[ \t\u00a0\u3000\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\uff0d\u30fc\uff70]")
_DIGITS = re.compile(r"[0-9]{12}")
#: What may stand between the digits of a number hidden in free text: white space of every kind
#: (ASCII, ideographic, no-break, tabs, line breaks), hyphens, dashes, minus signs and long-vowel
#: marks of every width, dots and middle dots, slashes, commas and the ideographic comma.
_GAP = (r"[\s\-\u2010-\u2015\u2212\ufe58\ufe63\uff0d\u30fc\uff70.\uff0e\u00b7\u2027\u30fb\uff65"
        r"/\uff0f,\uff0c\u3001]")
#: A maximal chain of digits (of any script and width: Unicode Nd) joined by separators.
_CHAIN = re.compile(rf"\d(?:{_GAP}*\d)*")


def check_digit(first11: str) -> int:
    """The 12th digit: 11 − (Σ Pn×Qn mod 11), or 0 when the remainder is 0 or 1."""
    if len(first11) != LENGTH - 1 or not first11.isascii() or not first11.isdigit():
        raise ValueError("expected 11 ASCII digits")
    total = 0
    for n, char in enumerate(reversed(first11), start=1):
        weight = n + 1 if n <= 6 else n - 5
        total += int(char) * weight
    remainder = total % 11
    return 0 if remainder <= 1 else 11 - remainder


def normalise(raw) -> str:
    """Full-width digits to ASCII, spaces and hyphens removed; nothing else is changed."""
    if not isinstance(raw, str):
        return ""
    return _SEPARATORS.sub("", raw.strip().translate(_FULL_WIDTH))


def is_valid(number: str) -> bool:
    return bool(_DIGITS.fullmatch(number)) and check_digit(number[:-1]) == int(number[-1])


def validate(raw) -> str:
    """The normalised 12-digit number, or a 422 that never repeats what was typed."""
    if raw is not None and not isinstance(raw, str):
        raise Invalid("個人番号は文字列（数字12桁）で指定してください。", code="invalid_my_number",
                      field="my_number")
    number = normalise(raw or "")
    if not number:
        raise Invalid("個人番号を入力してください。", code="invalid_my_number", field="my_number")
    if not number.isascii() or not number.isdigit():
        raise Invalid("個人番号に数字以外の文字が含まれています。数字12桁で入力してください"
                      "（全角数字・空白・ハイフンは使えます）。", code="invalid_my_number", field="my_number")
    if len(number) != LENGTH:
        raise Invalid(f"個人番号は12桁で入力してください（入力は{len(number)}桁です）。",
                      code="invalid_my_number", field="my_number")
    if not is_valid(number):
        raise Invalid("個人番号の検査用数字（12桁目）が一致しません。番号に誤りがないか確認してください。",
                      code="invalid_my_number", field="my_number")
    return number


def contains_number(text: str | None) -> bool:
    """Whether free text holds what may be a 個人番号: 12 consecutive digits with a valid check digit.

    Digits are consecutive across any separators (`1234.5678.9018`, `１２３４／５６７８／９０１８`),
    and every 12-digit window of a longer chain counts, so a digit put next to the number
    (`123456789018 1`) does not hide it. The price is refusing some long numbers that are not
    個人番号: one window in ten has a valid check digit by chance, so a serial, asset tag or a
    date written next to a number with 13 or more digits in one chain is refused now and then
    (13 digits: about one time in five). Refusing those is preferred to keeping a 個人番号 in
    records that cannot be deleted.
    """
    if not text:
        return False
    for chain in _CHAIN.finditer(text):
        if len(chain.group()) < LENGTH:
            continue
        digits = "".join(str(unicodedata.decimal(char)) for char in chain.group() if char.isdecimal())
        if any(is_valid(digits[start:start + LENGTH]) for start in range(len(digits) - LENGTH + 1)):
            return True
    return False


def mask(number: str) -> str:
    """Only the last four digits stay visible: ********9018."""
    return "*" * (LENGTH - 4) + number[-4:]
