"""What an erasure certificate must show (NIST SP 800-88 Rev.1 Appendix G) and how it is checked:
the device's storage media, the contractor's coverage, the minimum sanitization level for the data
the device held, and the serial numbers found in the PDF compared with the device's media."""
from __future__ import annotations

import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date

from flask import current_app
from sqlalchemy import select

from .. import files, states, validation as v
from ..contractors.services import find_by_name, require_coverage
from ..errors import Invalid, PolicyViolation
from ..extensions import db
from ..items.models import DeviceMedium, Item
from ..policy import services as policy
from ..states import State
from .models import ErasureCertificate
from ..items.storage import media_of
from ..destruction.services import refuse_initialisation, storage_destruction_of
from ..clock import today_jst

LEVELS = ("clear", "purge", "destroy")  #: NIST SP 800-88, weakest first
LEVEL_LABELS = {"clear": "Clear", "purge": "Purge", "destroy": "Destroy"}
METHODS_USED = {"overwrite": "上書き", "block_erase": "ブロック消去", "crypto_erase": "暗号化消去",
                "degauss": "磁気消去（消磁）", "physical": "物理破壊"}
#: Which techniques can reach which level (SP 800-88 Rev.1 §2.5 and Appendix A): overwriting
#: clears; block erase, cryptographic erase and degaussing purge; destroy is physical.
METHOD_LEVELS = {"overwrite": ("clear",), "block_erase": ("clear", "purge"),
                 "crypto_erase": ("purge",), "degauss": ("purge",), "physical": ("destroy",)}
POLICY_KEY = "device.require_witnessed_storage_destruction"
SANITIZATION_CODE = "sanitization_too_weak"


# --- the minimum level --------------------------------------------------------------------------

def holds_resident_data(item) -> bool:
    return bool(item.holds_my_number_data or item.holds_juki_data)


def storage_destruction_required() -> bool:
    """The policy switch (an admin sets it) or the instance config can turn the requirement on."""
    return bool(policy.get(POLICY_KEY) or current_app.config.get("REQUIRE_WITNESSED_STORAGE_DESTRUCTION"))


def minimum_level(item) -> str:
    """From the policies: Purge by default for 住基ネット or 個人番号 data, Clear otherwise; Destroy
    when the 総務省 guideline switch is on and no witnessed physical destruction is recorded."""

    if not holds_resident_data(item):
        return policy.get("device.min_sanitization.other")
    if storage_destruction_required() and storage_destruction_of(item) is None:
        return "destroy"
    return policy.get("device.min_sanitization.resident_data")


def require_level(item, level: str) -> None:
    minimum = minimum_level(item)
    if LEVELS.index(level) < LEVELS.index(minimum):
        held = "住基ネット・個人番号のデータを保持していた" if holds_resident_data(item) else ""
        raise PolicyViolation(
            f"消去レベル {LEVEL_LABELS[level]} は、{held}この機器の最低基準 {LEVEL_LABELS[minimum]} に達していません"
            f"（NIST SP 800-88、ポリシー）。{LEVEL_LABELS[minimum]} 以上の消去証明書を提出してもらってください。",
            code=SANITIZATION_CODE, field="level", minimum=minimum)


# --- the certificate's evidence -----------------------------------------------------------------

def _method_used(value, level: str) -> str | None:

    if value in (None, ""):
        return None
    refuse_initialisation(value, "method_used")
    method = unicodedata.normalize("NFKC", str(value)).strip().lower().replace("-", "_").replace(" ", "_")
    if method not in METHODS_USED:
        raise Invalid("消去の手法（method_used）は " + "・".join(METHODS_USED) + " のいずれかです"
                      "（初期化・工場出荷時リセットは認められません）。", code="invalid_method", field="method_used")
    if level not in METHOD_LEVELS[method]:
        raise Invalid(f"手法「{METHODS_USED[method]}」では消去レベル {LEVEL_LABELS[level]} になりません"
                      f"（NIST SP 800-88: {'・'.join(LEVEL_LABELS[x] for x in METHOD_LEVELS[method])}）。",
                      code="method_level_mismatch", field="method_used")
    return method


def _claimed(value) -> list[str] | None:
    """The serials a certificate says it covers: a JSON list, or one per line / comma."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        text = v.text(value, "対象の記憶装置", max_len=10_000, required=False, field="media", multiline=True) or ""
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise Invalid("対象の記憶装置（media）はシリアル番号の一覧で指定してください。", field="media") from None
        else:
            value = [part for part in re.split(r"[\s,、]+", text) if part]
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise Invalid("対象の記憶装置（media）はシリアル番号の一覧で指定してください。", field="media")
    return list(dict.fromkeys(unicodedata.normalize("NFKC", x).strip().upper() for x in value if x.strip()))


@dataclass
class Evidence:
    """What one certificate adds to the row and to its audit event, checked before the file is stored."""
    contractor: object
    vendor: str
    media: list[DeviceMedium]
    method_used: str | None
    title: str | None
    organisation: str | None
    destination: str | None
    missing_from_pdf: list[str] = field(default_factory=list)
    unknown_to_device: list[str] = field(default_factory=list)

    def compare_pdf(self, item, stored) -> None:
        data, _ = files.read_verified(stored)
        self.missing_from_pdf, self.unknown_to_device = compare_serials(
            pdf_text(data or b""), [m.serial for m in self.media],
            [m.serial for m in media_of(item)] + ([item.serial] if item.serial else []))

    def apply(self, cert: ErasureCertificate) -> None:
        cert.contractor_id = self.contractor.id
        cert.media = list(self.media)
        cert.method_used = self.method_used
        cert.operator_title = self.title
        cert.operator_organisation = self.organisation
        cert.destination = self.destination
        cert.serials_missing_from_pdf = json.dumps(self.missing_from_pdf, ensure_ascii=False)
        cert.serials_unknown_to_device = json.dumps(self.unknown_to_device, ensure_ascii=False)

    def details(self) -> dict:
        return {"contractor": self.contractor.name, "method_used": self.method_used,
                "media": [m.serial for m in self.media], "serials_missing_from_pdf": self.missing_from_pdf,
                "serials_unknown_to_device": self.unknown_to_device}


def evidence_for(item, data: dict, level: str | None, performed_on: date | None,
                 errors: v.FieldErrors) -> Evidence | None:
    """Checks the certificate's contractor, level, technique and media before anything is stored,
    each refusal kept in `errors` beside its field; a level or date already refused (None) leaves
    out the checks that need it. None when anything was refused."""
    check = errors.check
    organisation = check("performed_by_organisation", v.text, data.get("performed_by_organisation"),
                         "作業者の所属（組織）", max_len=200, required=False, field="performed_by_organisation")
    vendor = check("vendor", v.text, data.get("vendor"), "消去業者", max_len=200, required=False, field="vendor")
    contractor = None
    contractor_id = data.get("contractor")
    if contractor_id in (None, ""):
        # A certificate that names its vendor only as text: the registered contractor of that name.
        named = find_by_name(vendor)
        if named is None:
            errors.refuse("contractor", Invalid("消去を行った委託先（contractor）を指定してください。登録されていない"
                                                "業者の証明書は受け付けられません。", code="contractor_not_covered",
                                                field="contractor"))
        contractor_id = named.id if named else None
    if contractor_id is not None and performed_on is not None:
        contractor = check("contractor", require_coverage, contractor_id, "erasure", performed_on,
                           performer=organisation)
    method_used = None
    if level is not None:
        check("level", require_level, item, level)
        method_used = check("method_used", _method_used, data.get("method_used"), level)
    covered = check("media", _covered_media, item, data.get("media"))
    title = check("performed_by_title", v.text, data.get("performed_by_title"), "作業者の役職", max_len=100,
                  required=False, field="performed_by_title")
    destination = check("destination", v.text, data.get("destination"), "記憶装置の行き先", max_len=200,
                        required=False, field="destination")
    if errors.messages or contractor is None:
        return None
    return Evidence(contractor=contractor, vendor=vendor or contractor.name, media=covered, method_used=method_used,
                    title=title, organisation=organisation, destination=destination)


def _covered_media(item, value) -> list[DeviceMedium]:
    """The device's media the certificate covers: those it names, else all of them."""
    device_media = media_of(item)
    claimed = _claimed(value)
    if claimed is None:
        return device_media
    by_serial = {m.serial: m for m in device_media}
    unknown = [s for s in claimed if s not in by_serial]
    if unknown:
        raise Invalid(f"この機器に登録されていない記憶装置のシリアル番号です: {'、'.join(unknown)[:200]}。"
                      "機器の記憶装置の登録を確認してください。", code="unknown_medium", field="media")
    return [by_serial[s] for s in claimed]


# --- serial numbers in the PDF ------------------------------------------------------------------

_LABELLED = re.compile(
    r"(?<![A-Z0-9])(?:S/N|SERIAL(?:\s*(?:NO\.?|NUMBER|#))?|シリアル(?:番号|NO\.?)?|製造番号)\s*[:：#.]?\s*"
    r"([A-Z0-9][A-Z0-9\-_]{3,})")


def pdf_text(data: bytes) -> str:
    """The text layer of the PDF (a scan without one yields nothing, and every serial is then missing)."""
    try:
        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(data), strict=False)
        return "\n".join(page.extract_text() or "" for page in reader.pages)
    except Exception:  # an unreadable text layer is the same finding as none
        return ""


def _squeeze(text: str) -> str:
    return re.sub(r"[\s\-_]", "", unicodedata.normalize("NFKC", text).upper())


def compare_serials(text: str, covered: list[str], known: list[str]) -> tuple[list[str], list[str]]:
    """(the covered serials the text does not mention, the labelled serials in the text that are
    none of the device's). Spaces, hyphens and case do not count."""
    squeezed = _squeeze(text)
    missing = [s for s in covered if _squeeze(s) not in squeezed]
    known_squeezed = {_squeeze(s) for s in known}
    labelled = _LABELLED.findall(unicodedata.normalize("NFKC", text).upper())
    unknown = list(dict.fromkeys(s for s in labelled if _squeeze(s) not in known_squeezed))
    return missing, unknown


def uncovered_media(item, accepting: ErasureCertificate | None = None) -> list[DeviceMedium]:
    """The device's media no accepted certificate (or the one being accepted) covers."""
    covered = {m.id for m in accepting.media} if accepting else set()
    for cert in db.session.scalars(select(ErasureCertificate).where(
            ErasureCertificate.item_id == item.id, ErasureCertificate.status == State.ACCEPTED.value)):
        covered.update(m.id for m in cert.media)
    return [m for m in media_of(item) if m.id not in covered]


def lessor_for_return(item, contractor_id) -> object:
    """The lessor the device goes back to, covered for leasing today: the one named, or the
    registered contractor whose name is the device's リース会社."""

    if contractor_id in (None, ""):
        named = find_by_name(item.lessor)
        if named is None:
            raise Invalid(f"リース会社「{item.lessor or '—'}」は委託先に登録されていません。委託先の登録簿に登録するか、"
                          "返却先の委託先（contractor）を指定してください。", code="contractor_not_covered",
                          field="contractor")
        contractor_id = named.id
    return require_coverage(contractor_id, "leasing", today_jst())


def loads(value: str | None) -> list[str]:
    return json.loads(value) if value else []


@dataclass(frozen=True)
class WeakErasure:
    item: Item
    department: str
    detail: str  #: Japanese, for the exceptions report


def list_weak_erasures() -> list[WeakErasure]:
    """Devices certified or returned to the lessor on certificates weaker than the minimum their
    data asks for now: accepted before the rule existed, or under an older policy (例外一覧)."""

    rows = []
    done = (State.ERASURE_CERTIFIED.value, State.RETURNED_TO_LESSOR.value)
    for item in db.session.scalars(select(Item).where(Item.kind == states.Kind.DEVICE, Item.status.in_(done))
                                   .order_by(Item.code)):
        levels = list(db.session.scalars(select(ErasureCertificate.method).where(
            ErasureCertificate.item_id == item.id, ErasureCertificate.status == State.ACCEPTED.value)))
        if not levels:
            continue
        weakest, minimum = min(levels, key=LEVELS.index), minimum_level(item)
        if LEVELS.index(weakest) < LEVELS.index(minimum):
            rows.append(WeakErasure(item, item.department.name,
                                    f"消去証明 {LEVEL_LABELS[weakest]}（この機器の最低基準 {LEVEL_LABELS[minimum]}）、"
                                    f"状態: {states.label(item.status)}、リース会社: {item.lessor or '—'}"))
    return rows
