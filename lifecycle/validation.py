"""Field checks shared by every service; each refusal names the field in Japanese."""
from __future__ import annotations

import re
import unicodedata
from datetime import date

from .errors import Invalid

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def text(value, label: str, *, max_len: int = 200, required: bool = True, field: str | None = None,
         multiline: bool = False) -> str | None:
    """Trimmed, NFC-normalised text without control characters."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Invalid(f"{label}は文字列で入力してください。", field=field)
    value = unicodedata.normalize("NFC", value).strip()
    if multiline:
        value = value.replace("\r\n", "\n")
        bad = _CONTROL.search(value.replace("\n", "").replace("\t", ""))
    else:
        bad = _CONTROL.search(value)
    if bad:
        raise Invalid(f"{label}に使用できない制御文字が含まれています。", field=field)
    if not value:
        if required:
            raise Invalid(f"{label}を入力してください。", field=field)
        return None
    if len(value) > max_len:
        raise Invalid(f"{label}は{max_len}文字以内で入力してください（現在{len(value)}文字）。", field=field)
    return value


def integer(value, label: str, *, minimum: int, maximum: int, field: str | None = None) -> int:
    if isinstance(value, bool):
        raise Invalid(f"{label}は整数で入力してください。", field=field)
    if isinstance(value, str):
        value = unicodedata.normalize("NFKC", value).strip()
        if not re.fullmatch(r"-?\d{1,12}", value):
            raise Invalid(f"{label}は整数で入力してください。", field=field)
        value = int(value)
    if not isinstance(value, int):
        raise Invalid(f"{label}は整数で入力してください。", field=field)
    if value < minimum or value > maximum:
        raise Invalid(f"{label}は{minimum}から{maximum}までの数で入力してください。", field=field)
    return value


def boolean(value, label: str, *, field: str | None = None) -> bool:
    if isinstance(value, bool):
        return value
    if value in (None, "", "0", "false", "off", "no"):
        return False
    if value in ("1", "true", "on", "yes", "y"):
        return True
    raise Invalid(f"{label}は「はい」か「いいえ」で指定してください。", field=field)


def a_date(value, label: str, *, required: bool = True, field: str | None = None) -> date | None:
    if isinstance(value, date):
        return value
    if value in (None, ""):
        if required:
            raise Invalid(f"{label}を入力してください。", field=field)
        return None
    if not isinstance(value, str):
        raise Invalid(f"{label}は YYYY-MM-DD の形式で入力してください。", field=field)
    try:
        return date.fromisoformat(unicodedata.normalize("NFKC", value).strip())
    except ValueError:
        raise Invalid(f"{label}は YYYY-MM-DD の形式の正しい日付で入力してください。", field=field) from None


def code(value, label: str, *, field: str | None = None, max_len: int = 32) -> str:
    value = text(value, label, max_len=max_len, field=field)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", value):
        raise Invalid(f"{label}は半角英数字と - _ . で入力してください。", field=field)
    return value
