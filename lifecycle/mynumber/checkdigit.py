"""個人番号 normalisation and check digit (総務省令第85号 第5条).

Input typed by people arrives with full-width digits, spaces and hyphens; those are the only
transformations applied. Anything else (letters, other digit scripts, circled numbers) is refused
rather than guessed at, because a wrong number retained is worse than a refused one.
"""
from __future__ import annotations

import re

from ..errors import Invalid

LENGTH = 12
_FULL_WIDTH = str.maketrans("０１２３４５６７８９", "0123456789")
#: Spaces (ASCII, ideographic, no-break) and the hyphen look-alikes people actually type.
_SEPARATORS = re.compile(r"[ \t\u00a0\u3000\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\uff0d\u30fc\uff70]")
_DIGITS = re.compile(r"[0-9]{12}")
_RUNS = re.compile(r"[0-9]+")


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
    """Whether free text holds a valid 個人番号 (a run of exactly 12 digits, separators allowed)."""
    if not text:
        return False
    return any(len(run) == LENGTH and is_valid(run) for run in _RUNS.findall(normalise(text)))


def mask(number: str) -> str:
    """Only the last four digits stay visible: ********9018."""
    return "*" * (LENGTH - 4) + number[-4:]
