"""Items made through the real services, with sensible defaults (tests override what they test)."""
from __future__ import annotations

from datetime import timedelta

from lifecycle.clock import today_jst
from lifecycle.contractors.services import CLAUSES, register_contractor
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


ALL_CLAUSES = list(CLAUSES)


def contractor(actor, name=None, services=("erasure",), start=None, end=None, clauses=ALL_CLAUSES):
    """A contractor whose contract is in force from a year ago for two years unless told otherwise."""
    today = today_jst()
    return register_contractor(actor, {
        "name": name or f"委託業者{next(_serial)}株式会社", "services": list(services),
        "contract": {"number": f"K-{next(_serial)}", "start": (start or today - timedelta(days=365)).isoformat(),
                     "end": (end or today + timedelta(days=365)).isoformat(), "clauses": list(clauses)}})


PULPER = "肥後紙業リサイクル株式会社"  #: the demo's pulping contractor (seeds)


def pulper() -> int:
    """The id of the demo's pulping contractor, for batches that pulp."""
    from lifecycle.contractors.services import find_by_name

    return find_by_name(PULPER).id


def text_pdf(*lines: str) -> bytes:
    """A one-page PDF whose text layer holds the lines (ASCII), as a vendor's certificate would."""
    import io

    from reportlab.pdfgen.canvas import Canvas

    buffer = io.BytesIO()
    canvas = Canvas(buffer)
    for n, line in enumerate(lines):
        canvas.drawString(40, 780 - 16 * n, line)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def device(actor, **overrides):
    n = next(_serial)
    data = {"kind": "device", "title": "業務端末 市町課1", "device_type": "業務端末",
            "asset_tag": f"ASSET-{n:05d}", "model": "FMV-D7000", "serial": f"SN{n:08d}",
            "lessor": "九州リース株式会社", "lease_contract": "L-2021-0042",
            "lease_start": "2021-04-01", "lease_end": "2027-03-31", "location": "市町課 執務室",
            "has_storage": True}
    data.update(overrides)
    if data.get("has_storage") and "storage" not in overrides:  # a device with storage names its media
        data["storage"] = [{"media_type": "HDD", "serial": f"HDD-{n:08d}", "make": "東芝", "model": "MQ04ABF100",
                            "capacity_gb": 1000}]
    return register_item(actor, data)
