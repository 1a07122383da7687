"""The pages' fields as the services take them, and the book's search from a query string
(validation itself is the services'; these only pick the fields)."""
from __future__ import annotations

from collections.abc import Mapping

from .. import validation as v
from ..auth.models import Department
from ..errors import Invalid
from ..extensions import db
from ..states import State
from .queries import BookFilter

TERMINAL_FIELDS = ("code", "name", "department", "location", "device")
REQUEST_FIELDS = ("terminal", "business", "starts_at", "ends_at", "purpose")
CLOSE_FIELDS = ("started_at", "ended_at", "output_note")
BOOK_STATES = (State.REQUESTED, State.APPROVED, State.REFUSED, State.CANCELLED, State.CLOSED)


def pick(form: Mapping, names) -> dict:
    return {name: form.get(name) for name in names}


def book_filter(args: Mapping, *, terminal_id: int | None = None) -> BookFilter:
    """The book's search (department, status, from, to, q); every refused value at once (422)."""
    errors = v.FieldErrors()
    department_id = None
    code = errors.check("department", v.text, args.get("department"), "所属", max_len=32, required=False,
                        field="department")
    if code:
        from sqlalchemy import select

        department_id = db.session.scalar(select(Department.id).where(Department.code == code))
        if department_id is None:
            errors.refuse("department", Invalid(f"所属「{code[:32]}」は登録されていません。", field="department"))
    status = (args.get("status") or "").strip() or None
    if status is not None and status not in {s.value for s in BOOK_STATES}:
        errors.refuse("status", Invalid("状態は一覧から選んでください。", field="status"))
    day_from = errors.check("from", v.a_date, args.get("from"), "期間（開始）", required=False, field="from")
    day_to = errors.check("to", v.a_date, args.get("to"), "期間（終了）", required=False, field="to")
    if day_from and day_to and day_to < day_from:
        errors.refuse("to", Invalid("期間（終了）は期間（開始）以降の日付にしてください。", field="to"))
    q = errors.check("q", v.text, args.get("q"), "検索語", max_len=100, required=False, field="q")
    errors.raise_any()
    return BookFilter(department_id=department_id, terminal_id=terminal_id, status=status,
                      day_from=day_from, day_to=day_to, q=q)
