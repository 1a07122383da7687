"""Items made through the real services, with sensible defaults (tests override what they test)."""
from __future__ import annotations

from datetime import timedelta

from lifecycle.clock import today_jst
from lifecycle.items.services import register_item

_serial = iter(range(1, 10**9))


def form(actor, **overrides):
    data = {"kind": "form", "title": "自動車税 課税台帳 出力", "business": "car-tax", "sheets": 3,
            "contains_my_number": False, "location": "税務課 書庫A-3"}
    data.update(overrides)
    return register_item(actor, data)


def medium(actor, **overrides):
    data = {"kind": "medium", "title": "旅券 一括提供データ", "business": "passport",
            "media_type": "CD-R", "record_count": 1200, "recipient": "教育委員会",
            "encrypted": True, "due_back": (today_jst() + timedelta(days=14)).isoformat()}
    data.update(overrides)
    return register_item(actor, data)


def device(actor, **overrides):
    n = next(_serial)
    data = {"kind": "device", "title": "業務端末 市町課1", "device_type": "業務端末",
            "asset_tag": f"ASSET-{n:05d}", "model": "FMV-D7000", "serial": f"SN{n:08d}",
            "lessor": "九州リース株式会社", "lease_contract": "L-2021-0042",
            "lease_start": "2021-04-01", "lease_end": "2027-03-31", "location": "市町課 執務室",
            "has_storage": True}
    data.update(overrides)
    return register_item(actor, data)
