"""Field checks shared by every service; each refusal names the field in Japanese."""
from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime

from .errors import Invalid
from .checkdigit import contains_number

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def text(value, label: str, *, max_len: int = 200, required: bool = True, field: str | None = None,
         multiline: bool = False) -> str | None:
    """Trimmed, NFC-normalised text without control characters and without a 個人番号.

    Every free-text field of every form, API body and upload passes here, so this is the one
    place that keeps a 個人番号 out of the ledger, its labels and reports, and the audit log that
    is kept for years and cannot be edited (checkdigit.contains_number says what counts)."""
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
    if contains_number(value):
        raise Invalid(f"{label}に個人番号と思われる12桁の数字が含まれています。個人番号はこの欄には記録できません"
                      "（管理簿・帳票・監査ログに暗号化されずに残り、消せないため）。個人番号でない番号（製造番号など）"
                      "が偶然この形に一致した場合は、数字の区切りを文字（「号」など）にするか、システム管理者に"
                      "相談してください。", code="my_number_in_text", field=field)
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


#: The days any date given to the system may fall on. Outside them a date is a typing mistake
#: (no record here is older or newer), and 0001-01-01 or 9999-12-31 would overflow the JST/UTC
#: day arithmetic of the queries. Every date from a form, a query string, JSON or the command
#: line passes through a_date, so this is the one place the range is decided.
EARLIEST_DAY, LATEST_DAY = date(1900, 1, 1), date(2999, 12, 31)


def a_date(value, label: str, *, required: bool = True, field: str | None = None) -> date | None:
    """A date from YYYY-MM-DD (full-width digits too) within EARLIEST_DAY … LATEST_DAY."""
    if isinstance(value, str):
        value = unicodedata.normalize("NFKC", value).strip()
    if value in (None, ""):
        if required:
            raise Invalid(f"{label}を入力してください。", field=field)
        return None
    if isinstance(value, date):
        day = value
    elif isinstance(value, str):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise Invalid(f"{label}は YYYY-MM-DD の形式の正しい日付で入力してください。", field=field) from None
    else:
        raise Invalid(f"{label}は YYYY-MM-DD の形式で入力してください。", field=field)
    if not EARLIEST_DAY <= (day.date() if isinstance(day, datetime) else day) <= LATEST_DAY:
        raise Invalid(f"{label}は{EARLIEST_DAY.year}年から{LATEST_DAY.year}年までの日付で指定してください。",
                      code="date_out_of_range", field=field)
    return day


def code(value, label: str, *, field: str | None = None, max_len: int = 32) -> str:
    value = text(value, label, max_len=max_len, field=field)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", value):
        raise Invalid(f"{label}は半角英数字と - _ . で入力してください。", field=field)
    return value


class FieldErrors:
    """Checks a form's fields one by one and keeps every refusal, so that a person sees all of
    them at once, each beside its field, instead of mending one and being told of the next."""

    def __init__(self) -> None:
        self.messages: dict[str, str] = {}
        self._first: Invalid | None = None

    def check(self, name: str, check, /, *args, **kwargs):
        """check(*args, **kwargs), or None (and the refusal kept under its field, else `name`)."""
        try:
            return check(*args, **kwargs)
        except Invalid as exc:
            self.refuse(exc.field or name, exc)
            return None

    def refuse(self, field: str, exc: Invalid) -> None:
        self.messages.setdefault(field, exc.message)
        self._first = self._first or exc

    def raise_any(self) -> None:
        """One Invalid naming every refused field (`fields`), with the code (and any details) of
        the first refusal and every message in one text, in the order of the form."""
        if self._first is None:
            return
        first = self._first
        raise Invalid("".join(self.messages.values()), code=first.code, field=first.field, fields=dict(self.messages),
                      **first.extra)
