"""The storage media a device is registered with (its disks, SSDs, eMMC), each named by type,
make, model, serial and capacity: what an erasure certificate must cover, and what decides the
DIN 66399 class of its physical destruction."""
from __future__ import annotations

import re
import unicodedata

from sqlalchemy import insert, select

from .. import validation as v
from ..errors import Invalid
from ..extensions import db
from .models import DeviceMedium, Item

MEDIA_TYPES = ("HDD", "SSD", "NVMe", "eMMC")
MAX_MEDIA = 16


def _serial(value, label: str, field: str) -> str:
    raw = unicodedata.normalize("NFKC", value) if isinstance(value, str) else value
    text = v.text(raw, label, max_len=100, field=field)
    if re.search(r"\s", text):
        raise Invalid(f"{label}に空白や改行は使えません。", field=field)
    return text.upper()


def parse_storage(value) -> list[dict]:
    """The device's storage media as registered: [{media_type, make, model, serial, capacity_gb}]."""
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        raise Invalid("記憶装置（storage）は一覧で指定してください。", field="storage")
    if len(value) > MAX_MEDIA:
        raise Invalid(f"記憶装置は{MAX_MEDIA}台までです。", field="storage")
    media, seen = [], set()
    for n, entry in enumerate(value, 1):
        where = f"記憶装置{n}の"
        if not isinstance(entry, dict):
            raise Invalid(f"{where}内容が正しくありません。", field="storage")
        kind = unicodedata.normalize("NFKC", str(entry.get("media_type") or "")).strip()
        found = next((t for t in MEDIA_TYPES if t.lower() == kind.lower()), None)
        if found is None:
            raise Invalid(f"{where}種類は {'・'.join(MEDIA_TYPES)} のいずれかです。", field="storage")
        serial = _serial(entry.get("serial"), f"{where}シリアル番号", "storage")
        if serial in seen:
            raise Invalid(f"シリアル番号「{serial}」の記憶装置が重複しています。", field="storage")
        seen.add(serial)
        capacity = entry.get("capacity_gb")
        media.append({
            "position": n, "media_type": found, "serial": serial,
            "make": v.text(entry.get("make"), f"{where}メーカー", max_len=100, required=False, field="storage"),
            "model": v.text(entry.get("model"), f"{where}型番", max_len=100, required=False, field="storage"),
            "capacity_gb": None if capacity in (None, "") else v.integer(
                capacity, f"{where}容量（GB）", minimum=1, maximum=10**6, field="storage"),
        })
    return media


def insert_media(item_code: str, media: list[dict]) -> None:
    """Adds the media rows of a device just inserted (in the caller's transaction)."""
    if not media:
        return
    item_id = db.session.scalar(select(Item.id).where(Item.code == item_code))
    db.session.execute(insert(DeviceMedium.__table__), [{**m, "item_id": item_id} for m in media])


def media_of(item) -> list[DeviceMedium]:
    return list(db.session.scalars(select(DeviceMedium).where(DeviceMedium.item_id == item.id)
                                   .order_by(DeviceMedium.position)))


def medium_json(medium: DeviceMedium) -> dict:
    return {"media_type": medium.media_type, "make": medium.make, "model": medium.model,
            "serial": medium.serial, "capacity_gb": medium.capacity_gb}
