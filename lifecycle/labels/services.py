"""Printing labels and resolving scanned ones. Rendering itself is pure (render.py); this module
looks the items up, enforces who may print or open what, and writes the audit events."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from ..actors import Actor
from ..audit.events import EventType
from ..audit.services import record_event
from ..roles import require_role, Role
from ..clock import to_jst, utcnow
from ..errors import Forbidden, Invalid, NotFound
from ..extensions import db
from ..items.models import Item
from ..items.schemas import qr_url
from ..items.services import describe, get_visible_item, visible_to
from ..checkdigit import contains_number
from ..states import KIND_LABELS, Kind, State
from .. import validation as v
from .layouts import DEFAULT_LAYOUT, Layout, all_layouts, get_layout
from .models import LabelPreference
from .render import LabelData, render_labels

#: One print job; bench/bench_labels.py times 1,000 labels at well under the 2 s target.
MAX_LABELS = 1000
#: Who prints labels: the roles that handle items (docs/design.md, Roles; the same as may hold
#: them in custody). Not the auditor: a printed label is genuine (HMAC-tagged), and one who only
#: reads must not be able to make one, for any department.
PRINT_ROLES = (Role.REGISTRAR, Role.BULK_OPERATOR, Role.SECURITY_MANAGER, Role.ADMIN)
FORGED_MESSAGE = ("偽造または改変されたラベルの可能性があります。このラベルは本システムが発行したものと"
                  "確認できません。媒体・帳票には触れずにそのまま保管し、セキュリティ管理者に連絡してください。")

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CODE = re.compile(r"^[FMD]-\d{4}-\d{6}$")


class LabelForged(NotFound):
    """404 with {"genuine": false}: for a tag that does not verify the label does not exist."""
    code = "label_forged"

    def __init__(self, message: str = FORGED_MESSAGE) -> None:
        super().__init__(message, genuine=False)


@dataclass(frozen=True)
class ScanInput:
    payload: str | None = None  #: "<code>.<tag>" from a label
    code: str | None = None  #: an item code typed by hand


def parse_scan(text) -> ScanInput:
    """What a keyboard-wedge reader or a person typed: the label URL, its bare payload, or a code.

    Readers type through the keyboard layout of the PC: a reader set up for a US keyboard on a
    Japanese (JIS) one turns "_" into "=" and ":" into "+", and a full-width IME mode turns
    everything full-width. Tags are base64url without padding, so "=" can only be such a "_".
    """
    raw = _CONTROL.sub("", unicodedata.normalize("NFKC", str(text or ""))).strip()[:300]
    if not raw:
        return ScanInput()
    if "/s/" in raw:
        payload = raw.rsplit("/s/", 1)[1]
        payload = re.split(r"[?#/\s]", payload, maxsplit=1)[0]
        return ScanInput(payload=payload.replace("=", "_"))
    if "." in raw:
        return ScanInput(payload=raw.replace("=", "_").replace(" ", ""))
    return ScanInput(code=raw.replace(" ", "").upper())


def _signer():
    return current_app.extensions["label_signer"]


def verify_payload(payload: str) -> str | None:
    """The item code if the tag is genuine. A reader with Caps Lock on swaps every letter's case."""
    signer = _signer()
    for candidate in (payload, payload.swapcase()):
        code = signer.verify(candidate)
        if code is not None:
            return code
    return None


def record_forged(actor: Actor, payload: str) -> None:
    """A label that does not verify is an audit event of its own; the claimed code is its subject,
    so the item's timeline shows that someone presented a false label for it."""
    shown = _CONTROL.sub("", str(payload))[:100]
    if contains_number(shown):  # what a reader scanned may be a document, not a label
        shown = "（個人番号と思われる数字を含むため記録しません）"
    claimed = shown.rpartition(".")[0].upper() if "." in shown else ""
    subject = claimed if _CODE.match(claimed) else "label"
    with db.transaction():
        record_event(EventType.LABEL_FORGED, actor=actor, subject=subject, payload=shown)


def resolve_label(actor: Actor, payload: str, *, find=get_visible_item):
    """The item a scanned payload names, after checking its HMAC tag and the user's visibility.
    `find`: get_visible_item for the Item, or get_visible_row for a page that only shows it."""
    code = verify_payload(payload or "")
    if code is None:
        record_forged(actor, payload or "")
        raise LabelForged()
    return find(actor, code)


def layouts() -> list[Layout]:
    return all_layouts()


def find_code(code: str) -> str | None:
    """The item code as stored, for a code typed into the scan box, or None if there is none."""
    return db.session.scalar(select(Item.code).where(Item.code == code[:20]))


def _layout(name) -> Layout:
    if name in (None, ""):
        name = DEFAULT_LAYOUT
    if not isinstance(name, str):
        raise Invalid("ラベルの様式（layout）は文字列で指定してください。", code="unknown_layout", field="layout")
    try:
        return get_layout(name)
    except KeyError:
        raise Invalid(f"ラベルの様式「{name[:40]}」はありません。", code="unknown_layout",
                      field="layout") from None
    except ValueError as exc:  # a broken layout file: its message names the file and the field
        raise Invalid(str(exc), code="layout_broken", field="layout") from None


def _codes(codes) -> list[str]:
    if isinstance(codes, str):
        codes = [codes]
    if not isinstance(codes, (list, tuple)) or not codes:
        raise Invalid("印刷する管理番号（codes）を1件以上指定してください。", code="no_codes", field="codes")
    wanted: list[str] = []
    for code in codes:
        if not isinstance(code, str):
            raise Invalid("管理番号は文字列で指定してください。", field="codes")
        normal = unicodedata.normalize("NFKC", code).strip().upper()[:20]
        if normal and normal not in wanted:
            wanted.append(normal)
    if not wanted:
        raise Invalid("印刷する管理番号（codes）を1件以上指定してください。", code="no_codes", field="codes")
    if len(wanted) > MAX_LABELS:
        raise Invalid(f"一度に印刷できるラベルは{MAX_LABELS}枚までです（指定 {len(wanted)} 件）。",
                      code="too_many_labels", field="codes")
    return wanted


#: Items whose label may still be printed (to file with the records) but only marked, so a
#: reprinted label is never taken for that of an item still in use.
ENDED_MARKS = {State.DESTROYED.value: "廃棄済", State.RETURNED_TO_LESSOR.value: "返却済"}


def label_data(item: Item) -> LabelData:
    return LabelData(code=item.code, kind_label=KIND_LABELS[Kind(item.kind)], title=item.title,
                     department=item.department.name, registered_on=to_jst(item.created_at).date(),
                     qr_url=qr_url(item.code), mark=ENDED_MARKS.get(str(item.status)))


def last_layout(user) -> str:
    """The layout this person last printed with (the label forms preselect it), else the default."""
    user_id = getattr(user, "id", None)
    found = db.session.scalar(select(LabelPreference.layout).where(LabelPreference.user_id == user_id)) \
        if user_id else None
    return found if found in {layout.name for layout in all_layouts()} else DEFAULT_LAYOUT


def _start(value, layout: Layout) -> int:
    """The first position to print on, 1 … labels per sheet (a half-used sheet is not wasted)."""
    if value in (None, ""):
        return 1
    return v.integer(value, "印刷開始位置", minimum=1, maximum=layout.per_page, field="start")


def may_print(user) -> bool:
    """Whether the user prints labels at all (which items: those visible_to him)."""
    return user.has_role(*PRINT_ROLES)


def print_labels(actor: Actor, codes, layout_name=None, start=None) -> tuple[bytes, Layout]:
    """The PDF of the items' labels, in the order asked; each printed label is an audit event.
    Only PRINT_ROLES print, and only items visible_to the actor.

    Rendering happens before the write transaction so that the serialised write lock is not held
    for the second a large sheet takes; nothing is returned unless the events were recorded.
    """
    require_role(actor, *PRINT_ROLES, message="ラベルを印刷する権限がありません。ラベルは登録担当・一括利用担当・"
                                              "セキュリティ管理者・システム管理者が印刷します（監査担当は閲覧のみです）。")
    wanted = _codes(codes)
    layout = _layout(layout_name)
    first = _start(start, layout)
    found = {item.code: item for item in db.session.scalars(select(Item).where(Item.code.in_(wanted)))}
    missing = [code for code in wanted if code not in found]
    if missing:
        more = f" ほか{len(missing) - 3}件" if len(missing) > 3 else ""
        raise NotFound(f"管理番号「{'」「'.join(missing[:3])}」{more}の登録はありません。", code="unknown_item")
    items = [found[code] for code in wanted]
    hidden = [item for item in items if not visible_to(actor, item)]
    if hidden:
        raise Forbidden(f"{describe(hidden[0])}は他の所属の管理簿にあるため、ラベルを印刷する権限がありません。")
    labels = [label_data(item) for item in items]
    pdf = render_labels(labels, layout, start=first)
    printed = [(label.code, label.mark) for label in labels]  # the transaction below expires the items
    with db.transaction() as session:
        for code, mark in printed:
            extra = {"start": first} if first > 1 else {}
            if mark:
                extra["mark"] = mark
            record_event(EventType.LABEL_PRINTED, actor=actor, subject=code, layout=layout.name,
                         batch=len(printed), **extra)
        if not actor.is_system:
            _remember(session, actor, layout.name)
    return pdf, layout


def _remember(session, actor: Actor, layout: str) -> None:
    preference = session.get(LabelPreference, actor.id, with_for_update=True)
    if preference is None:
        session.add(LabelPreference(user_id=actor.id, layout=layout, updated_at=utcnow()))
    elif preference.layout != layout:
        preference.layout, preference.updated_at = layout, utcnow()
