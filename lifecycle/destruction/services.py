"""Destruction batches: who may destroy what, how, at which DIN 66399 level, and the witness.

Who creates a batch: a registrar (forms and media), a bulk operator (media and device storage:
市町課 keeps the bulk media and manages the leases) or a security manager (anything) — and only
for items he holds or that belong to his own department (所属). Destruction is the custodian
office's act: a user of another office has no business sweeping someone else's ledger entries
into a batch, and the witness then attests what the holder actually destroyed.

Level classes (DIN 66399, din.py): paper P-, optical discs O-, magnetic data carriers T-, a
device's hard disk H-, its SSD, NVMe or eMMC E- (from the media the device records; a device
that records none is taken to hold a hard disk, as the terminals do). A device with both kinds
must meet both minimums, as MO does. MO (magneto-optical) is both: its data sits in a magnetic layer that is read optically, so a
destruction must satisfy the optical and the magnetic minimum at once. Levels of different
classes are not comparable by their number (O-4 allows particles of 30 mm², T-4 of 160 mm²), so
for MO we compare the DIN maximum particle areas and require the batch's level — given as an O- or
a T- level — to be at least as fine as the finer of the two minimums. With the default minimums
(O-4, T-4) that is 30 mm²: O-4 or T-5 pass, T-4 is refused; the default for MO is O-4.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import bindparam, exists, or_, select
from sqlalchemy.orm import joinedload, lazyload

from ..wareki import wareki_date
from .. import files, states, validation as v
from ..actors import Actor
from ..audit.events import EventType
from ..audit.services import record_event
from ..auth.models import User
from ..roles import require_role, Role
from ..clock import iso, jst_day_start_utc, to_jst, today_jst, utcnow
from ..contractors.models import Contractor
from ..contractors.services import ContractorException, require_coverage
from ..db import row_id
from ..errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    PolicyViolation,
)
from ..extensions import db
from ..items.models import Item
from ..items.services import describe, get_item, next_number, visible_to
from ..policy import services as policy
from ..states import KIND_LABELS, Kind, State
from .din import CLASS_LABELS, area, level_text
from ..files import FileIntegrityError, record_integrity_failure
from .models import DestructionBatch, DestructionBatchItem
from ..items.storage import media_of

METHOD_LABELS = {"shred": "裁断", "pulp": "溶解", "crush": "破砕"}
METHOD_LONG = {"shred": "裁断（シュレッダー）", "pulp": "溶解（委託業者）", "crush": "破砕"}

MATERIAL_LABELS = {
    "hdd": "機器の記憶装置（ハードディスク）",
    "electronic": "機器の記憶装置（SSD・フラッシュメモリ）",
    "hdd_electronic": "機器の記憶装置（ハードディスクとSSD）",
    "paper": "紙（帳票）",
    "optical": "光ディスク（CD-R・DVD-R・BD-R）",
    "mo": "MO（光磁気ディスク）",
    "storage": "機器の記憶装置",
}
#: What each material may be destroyed by. Paper is shredded or pulped by a contractor; optical
#: discs go through a disc shredder or a crusher; an MO cartridge (metal shutter, hub) and a
#: device's disk only through a crusher.
ALLOWED_METHODS = {
    "paper": ("shred", "pulp"),
    "optical": ("shred", "crush"),
    "mo": ("crush",),
    "storage": ("crush",),
    "hdd": ("crush",),
    "electronic": ("crush",),
    "hdd_electronic": ("crush",),
}
DEFAULT_LEVEL = {"paper": "P-4", "optical": "O-4", "mo": "O-4", "hdd": "H-4", "electronic": "E-4",
                 "hdd_electronic": "E-4"}
#: "storage": batches recorded before devices listed their media, when a disk counted as T.
LEVEL_CLASSES = {"paper": ("P",), "optical": ("O",), "mo": ("O", "T"), "storage": ("T",),
                 "hdd": ("H",), "electronic": ("E",), "hdd_electronic": ("H", "E")}
POLICY_KEY = {"P": "destruction.min_level.paper", "O": "destruction.min_level.optical",
              "T": "destruction.min_level.magnetic", "H": "destruction.min_level.hard_disk",
              "E": "destruction.min_level.electronic"}
#: The class of each storage medium a device records (devices.storage.MEDIA_TYPES).
MEDIUM_CLASS = {"HDD": "H", "SSD": "E", "NVMe": "E", "eMMC": "E"}


#: Items in these states cannot join a batch; the message says why in words a clerk knows.
UNAVAILABLE = {
    State.IN_TRANSFER.value: "引継ぎ中です。受領されてから廃棄を申請してください",
    State.PROVIDED.value: "提供中です。返却を記録してから廃棄を申請してください",
    State.DESTROYED.value: "既に廃棄済みです",
    State.AWAITING_DESTRUCTION.value: "既に廃棄の申請中です",
    State.AWAITING_PULPING_CERTIFICATE.value: "溶解の立会いが済み、溶解証明書の受理を待っています",
}
DEVICE_READY = (State.ERASURE_REQUESTED.value, State.ERASURE_CERTIFIED.value)

MAX_ITEMS = 500

INITIALISATION_MESSAGE = (
    "「初期化」や工場出荷時の状態へのリセットは、消去・廃棄の方法として認められていません"
    "（総務省ガイドライン:「OS及び記憶装置の初期化による方法は適当でない」）。"
    "データ消去ソフトによる消去（Clear / Purge）または物理的な破壊を指定してください。")
#: The method values that mean initialisation, as a person would pick or type them. Only a chosen
#: method is compared, whole: free text such as a tool's name ("Information Security 版") or a
#: product's feature ("プリセット消去") is not a method and is never searched for these words.
INITIALISATION_METHODS = frozenset({
    "初期化", "os初期化", "フォーマット", "クイックフォーマット", "リセット", "工場出荷時リセット",
    "工場出荷時の状態に戻す", "工場出荷状態", "工場出荷時設定", "factory reset", "factory_reset",
    "factory", "reset", "format", "quick format", "reformat", "init", "initialise", "initialize",
    "initialisation", "initialization"})


def refuse_initialisation(value, field: str = "method") -> None:
    """Initialisation is not sanitization; say so with the guideline, not just "invalid"."""
    text = re.sub(r"[\s_\-]+", " ", unicodedata.normalize("NFKC", str(value or "")).strip().lower())
    if text in INITIALISATION_METHODS or text.replace(" ", "") in INITIALISATION_METHODS:
        raise Invalid(INITIALISATION_MESSAGE, code="initialisation_not_acceptable", field=field)






# --- reading ----------------------------------------------------------------------------------

def _fresh(query):
    """Rows read for a decision inside a write transaction: never the identity map's old copy."""
    return query.execution_options(populate_existing=True)


def get_batch(batch_id) -> DestructionBatch:
    key = row_id(batch_id)
    batch = db.session.scalar(_fresh(select(DestructionBatch).where(DestructionBatch.id == key))) if key else None
    if batch is None:
        raise NotFound(f"廃棄番号「{batch_id}」の記録はありません。", code="unknown_destruction")
    return batch


def _privileged(user) -> bool:
    return not isinstance(user, User) or user.has_role(Role.SECURITY_MANAGER, Role.AUDITOR, Role.ADMIN)


def may_view(user, batch: DestructionBatch) -> bool:
    """Security managers, auditors and admins see every batch; others theirs and their office's."""
    if _privileged(user):
        return True
    if batch.created_by_id == user.id or batch.department_id == user.department_id:
        return True
    return any(item.department_id == user.department_id for item in batch.items)


def may_download_certificate(user, batch: DestructionBatch) -> bool:
    """The certificate may name contractors' staff and sites: only those who answer for it."""
    return _privileged(user) or batch.created_by_id == user.id


def get_visible_batch(user, batch_id) -> DestructionBatch:
    batch = get_batch(batch_id)
    if not may_view(user, batch):
        raise Forbidden(f"廃棄「{batch.code}」は他の所属の記録のため、表示する権限がありません。")
    return batch


def list_batches(user, *, status: str | None = None, limit: int = 200) -> list[DestructionBatch]:
    query = select(DestructionBatch)
    if status:
        query = query.where(DestructionBatch.status == status)
    if not _privileged(user):
        in_office = exists().where(DestructionBatchItem.batch_id == DestructionBatch.id,
                                   DestructionBatchItem.item_id == Item.id,
                                   Item.department_id == user.department_id)
        query = query.where(or_(DestructionBatch.created_by_id == user.id,
                                DestructionBatch.department_id == user.department_id, in_office))
    return list(db.session.scalars(query.order_by(DestructionBatch.id.desc()).limit(limit)))


# The item page asks both on every view, mostly finding nothing: only the witness, which it
# shows, is joined; anything else loads when touched.
_BATCHES_OF = (select(DestructionBatch).join(DestructionBatchItem)
               .where(DestructionBatchItem.item_id == bindparam("item_id")).order_by(DestructionBatch.id)
               .options(lazyload("*"), joinedload(DestructionBatch.witness).lazyload("*")))
_ACTIVE_BATCH_OF = (select(DestructionBatch).join(DestructionBatchItem)
                    .where(DestructionBatchItem.item_id == bindparam("item_id"),
                           DestructionBatch.status == State.AWAITING_WITNESS.value)
                    .options(lazyload("*")))


def active_batch_of(item: Item) -> DestructionBatch | None:
    """The batch awaiting its witness that holds the item, if any."""
    return db.session.scalar(_ACTIVE_BATCH_OF, {"item_id": item.id})


def batches_of(item) -> list[DestructionBatch]:
    """The batches that hold the item (an Item or its ledger row), oldest first."""
    return list(db.session.scalars(_BATCHES_OF, {"item_id": item.id}))


def storage_destruction_of(item: Item) -> DestructionBatch | None:
    """A completed, witnessed crush batch that destroyed this device's storage."""
    return db.session.scalar(
        select(DestructionBatch).join(DestructionBatchItem)
        .where(DestructionBatchItem.item_id == item.id, DestructionBatch.method == "crush",
               DestructionBatch.status == State.COMPLETED.value)
        .order_by(DestructionBatch.id.desc()).limit(1))


# --- checks -----------------------------------------------------------------------------------

def material_of(item: Item) -> str:
    kind = Kind(item.kind)
    if kind == Kind.FORM:
        return "paper"
    if kind == Kind.MEDIUM:
        return "mo" if item.media_type == "MO" else "optical"
    if not item.has_storage:
        raise Invalid(f"{describe(item)}には記憶装置がないため、廃棄（記憶装置の破砕）の対象になりません。",
                      code="no_storage", field="items")
    classes = {MEDIUM_CLASS[m.media_type] for m in media_of(item)} or {"H"}
    return {frozenset({"H"}): "hdd", frozenset({"E"}): "electronic"}.get(frozenset(classes), "hdd_electronic")


def parse_method(value) -> str:
    refuse_initialisation(value)
    method = unicodedata.normalize("NFKC", str(value or "")).strip().lower()
    by_label = {label: key for key, label in METHOD_LABELS.items()}
    method = by_label.get(method, method)
    if method not in METHOD_LABELS:
        raise Invalid("廃棄方法は 裁断（shred）・溶解（pulp）・破砕（crush）のいずれかを指定してください。",
                      code="invalid_method", field="method")
    return method


def _level_parts(level: str) -> tuple[str, int]:
    return level[0], int(level[2:])


def _limit(material: str) -> tuple[float, list[str]]:
    """For a material of several classes: the finest of their minimums' particle areas."""
    minimums = [policy.get(POLICY_KEY[c]) for c in LEVEL_CLASSES[material]]
    return min(area(m) for m in minimums), minimums


def default_level(material: str) -> str:
    """The material's default, raised to the policy minimum when an admin has raised that."""
    default = DEFAULT_LEVEL[material]
    cls, number = _level_parts(default)
    if len(LEVEL_CLASSES[material]) > 1:
        limit, _ = _limit(material)
        while area(f"{cls}-{number}") > limit and number < 7:
            number += 1
        return f"{cls}-{number}"
    minimum = _level_parts(policy.get(POLICY_KEY[cls]))[1]
    return f"{cls}-{max(number, minimum)}"


def parse_level(material: str, value) -> str:
    """The batch's DIN 66399 level: the material's class, and not below the policy minimum."""
    typed = v.text(value, "セキュリティレベル", max_len=200, required=False, field="din_level") or ""
    raw = unicodedata.normalize("NFKC", typed).strip().upper().replace("‐", "-").replace("－", "-")
    if not raw:
        return default_level(material)
    if re.fullmatch(r"[A-Z]\d", raw):
        raw = f"{raw[0]}-{raw[1]}"
    classes = LEVEL_CLASSES[material]
    if not re.fullmatch(r"[A-Z]-[1-7]", raw) or raw[0] not in classes:
        wanted = "・".join(f"{c}-1〜{c}-7" for c in classes)
        raise Invalid(f"{MATERIAL_LABELS[material]}のセキュリティレベル（DIN 66399）は {wanted} で指定してください。",
                      code="invalid_din_level", field="din_level")
    cls, number = _level_parts(raw)
    if len(classes) > 1:
        limit, minimums = _limit(material)
        if area(raw) > limit:
            raise PolicyViolation(
                f"{MATERIAL_LABELS[material]}は{'と'.join(CLASS_LABELS[c] for c in classes)}の両方の基準を"
                f"満たす必要があります。{raw}（{level_text(raw)}）は最低基準 {' と '.join(minimums)}"
                f"（粒子 {limit:g} mm² 以下）に達していません。", code="din_level_too_low", field="din_level")
        return raw
    minimum = policy.get(POLICY_KEY[cls])
    if number < _level_parts(minimum)[1]:
        raise PolicyViolation(
            f"セキュリティレベル {raw} は、{MATERIAL_LABELS[material]}の最低基準 {minimum} に達していません"
            f"（保存期間ポリシー）。{minimum} 以上を指定してください。", code="din_level_too_low", field="din_level")
    return raw


def level_options(material: str) -> list[str]:
    """The levels a batch of this material may take (its classes, not below the policy minimum),
    for the page's list; parse_level stays the one rule, so each candidate is put to it."""
    options = []
    for cls in LEVEL_CLASSES[material]:
        for number in range(1, 8):
            try:
                options.append(parse_level(material, f"{cls}-{number}"))
            except Invalid:
                continue
    return options


def _check_method_fits(material: str, method: str) -> None:
    if method not in ALLOWED_METHODS[material]:
        allowed = "・".join(METHOD_LONG[m] for m in ALLOWED_METHODS[material])
        raise Invalid(f"{MATERIAL_LABELS[material]}は「{METHOD_LABELS[method]}」では廃棄できません。"
                      f"使える方法: {allowed}。", code="method_unsuitable", field="method")


def _may_destroy(actor: Actor, item) -> None:
    kind = Kind(item.kind)
    roles = {Kind.FORM: (Role.REGISTRAR, Role.SECURITY_MANAGER),
             Kind.MEDIUM: (Role.REGISTRAR, Role.BULK_OPERATOR, Role.SECURITY_MANAGER),
             Kind.DEVICE: (Role.BULK_OPERATOR, Role.SECURITY_MANAGER)}[kind]
    if not actor.has_role(*roles):
        who = "・".join({Role.REGISTRAR: "登録担当", Role.BULK_OPERATOR: "一括利用担当",
                         Role.SECURITY_MANAGER: "セキュリティ管理者"}[r] for r in roles)
        raise Forbidden(f"{KIND_LABELS[kind]}の廃棄を申請できるのは{who}です（{item.code}）。")
    if item.holder_id != actor.id and item.department_id != actor.department_id:
        raise Forbidden(f"{describe(item)}は他の所属の管理簿にあります。"
                        "廃棄を申請できるのは、保管者本人か同じ所属の職員です。")


def _check_available(item: Item, batches: list[DestructionBatch] | None = None) -> None:
    """`batches`: all of the item's batches when the caller has just read them (a page, never a
    write: there only the locked re-read counts)."""
    if batches is None:
        batch = active_batch_of(item)
    else:
        batch = next((b for b in batches if b.status == State.AWAITING_WITNESS.value), None)
    if batch is not None:
        raise Conflict(f"{describe(item)}は既に廃棄「{batch.code}」に含まれています。", code="item_in_batch",
                       item=item.code)
    if Kind(item.kind) == Kind.DEVICE:
        done = storage_destruction_of(item)
        if done is not None:
            raise Conflict(f"{describe(item)}の記憶装置は廃棄「{done.code}」で既に破砕済みです。",
                           code="item_unavailable", item=item.code)
        if item.status not in DEVICE_READY:
            raise Conflict(f"{describe(item)}は現在「{states.label(item.status)}」です。記憶装置の破砕は、"
                           "消去依頼の後（返却前）に行います。", code="item_unavailable", item=item.code)
        return
    if item.status in UNAVAILABLE:
        raise Conflict(f"{describe(item)}は{UNAVAILABLE[item.status]}。", code="item_unavailable",
                       item=item.code, current_state=item.status)
    if not states.can(item.kind, item.status, State.AWAITING_DESTRUCTION):
        raise Conflict(states.refusal_message(Kind(item.kind), item.code, item.status,
                                              State.AWAITING_DESTRUCTION),
                       code="item_unavailable", item=item.code, current_state=item.status)


def parse_codes(value) -> list[str]:
    """Codes from a JSON list or pasted/scanned text; a code scanned twice counts once."""
    if isinstance(value, str):
        value = re.split(r"[\s,、，]+", value)
    if not isinstance(value, (list, tuple)):
        raise Invalid("廃棄する対象（items）を管理番号の一覧で指定してください。", field="items")
    codes: list[str] = []
    for raw in value:
        if not isinstance(raw, str):
            raise Invalid("管理番号は文字列で指定してください。", field="items")
        code = unicodedata.normalize("NFKC", raw).strip().upper()
        if code and code not in codes:
            codes.append(code)
    if not codes:
        raise Invalid("廃棄する対象を1件以上選んでください。", code="no_items", field="items")
    if len(codes) > MAX_ITEMS:
        raise Invalid(f"1回の廃棄に含められるのは{MAX_ITEMS}件までです。", field="items")
    return codes


def _load_items(codes: list[str]) -> list[Item]:
    items = []
    for code in codes:
        try:
            item = get_item(code)
        except NotFound:
            raise Invalid(f"管理番号「{code[:20]}」の登録はありません。", code="unknown_item",
                          field="items") from None
        db.session.refresh(item)
        items.append(item)
    return items


def _next_code(year: int) -> str:
    return f"DS-{year}-{next_number('DS', year):06d}"


def _planned(value) -> date | None:
    planned = v.a_date(value, "予定日", required=False, field="planned_on")
    if planned is not None:
        today = today_jst()
        if planned < today:
            raise Invalid("予定日に過去の日付は指定できません。", field="planned_on")
        if planned > today + timedelta(days=366):
            raise Invalid("予定日は1年以内の日付にしてください。", field="planned_on")
    return planned


def contracted_service(material: str) -> str:
    """What a contractor does when it destroys this material: disks go to the erasure vendor."""
    return "erasure" if material == "storage" else "pulping"


def _contractor(method: str, material: str, value, on: date):
    """The contractor named for the batch, covered for the work on that day; pulping needs one."""
    if value in (None, "") and method != "pulp":
        return None
    return require_coverage(value, contracted_service(material), on)


# --- actions ----------------------------------------------------------------------------------

def create_batch(actor: Actor, *, items, method, place, din_level=None, planned_on=None,
                 contractor=None) -> DestructionBatch:
    """Puts items into a batch awaiting its witness; every item moves to awaiting_destruction.
    `contractor`: the id of the contractor who performs it (required for pulping)."""
    with db.transaction() as session:
        require_role(actor, Role.REGISTRAR, Role.BULK_OPERATOR, Role.SECURITY_MANAGER,
                     message="廃棄の申請には登録担当・一括利用担当・セキュリティ管理者のいずれかの権限が必要です。")
        method = parse_method(method)
        place = v.text(place, "実施場所", max_len=200, field="place")
        planned = _planned(planned_on)
        loaded = _load_items(parse_codes(items))
        for item in loaded:
            _may_destroy(actor, item)
        for item in loaded:
            _check_available(item)
        materials = {material_of(item) for item in loaded}
        if len(materials) > 1:
            names = "・".join(MATERIAL_LABELS[m] for m in sorted(materials))
            raise Invalid(f"材質の異なるもの（{names}）は、廃棄方法とセキュリティレベルが異なるため"
                          "別々の廃棄にしてください。", code="mixed_material", field="items")
        material = materials.pop()
        _check_method_fits(material, method)
        level = parse_level(material, din_level)
        now = utcnow()
        batch = DestructionBatch(
            code=_next_code(to_jst(now).year), status=states.INITIAL[Kind.DESTRUCTION].value,
            method=method, material=material, din_level=level, place=place, planned_on=planned,
            created_by_id=actor.id,
            created_by=actor.login,
            department_id=loaded[0].department_id if actor.is_system else actor.department_id,
            created_at=now)
        batch.contractor = _contractor(method, material, contractor, planned or today_jst())
        session.add(batch)
        session.flush()
        for position, item in enumerate(loaded):
            session.add(DestructionBatchItem(batch=batch, item=item, position=position))
            details = dict(batch=batch.code, method=method, din_level=level)
            if Kind(item.kind) == Kind.DEVICE:
                record_event(EventType.DESTRUCTION_REQUESTED, actor=actor, subject=item.code,
                             scope="storage", **details)
            else:
                states.transition(item, State.AWAITING_DESTRUCTION, actor=actor,
                                  event=EventType.DESTRUCTION_REQUESTED, **details)
        session.flush()
        record_event(EventType.DESTRUCTION_REQUESTED, actor=actor, subject=batch.audit_subject,
                     items=[item.code for item in loaded], method=method, material=material,
                     din_level=level, place=place, planned_on=planned.isoformat() if planned else None,
                     contractor=batch.contractor.name if batch.contractor else None)
        return batch


def _answers_for(actor: Actor, batch: DestructionBatch) -> bool:
    """Who may cancel a batch or attach its certificate: the one who asked for it, a security
    manager or an administrator."""
    return actor.is_system or actor.id == batch.created_by_id or actor.has_role(Role.SECURITY_MANAGER, Role.ADMIN)


def may_witness(actor: Actor, batch: DestructionBatch) -> bool:
    """For the batch page: a batch awaiting its witness, and a security manager other than the
    one who asked for it (separation of duties). witness_batch checks the same."""
    return (batch.status == State.AWAITING_WITNESS.value and actor.has_role(Role.SECURITY_MANAGER)
            and batch.created_by_id != actor.id)


def may_cancel(actor: Actor, batch: DestructionBatch) -> bool:
    """For the batch page: a batch awaiting its witness, by those _answers_for names."""
    return batch.status == State.AWAITING_WITNESS.value and _answers_for(actor, batch)


def may_attach(actor: Actor, batch: DestructionBatch) -> bool:
    """For the batch page: a batch not cancelled and without a certificate yet."""
    return (batch.certificate_id is None and batch.status != State.CANCELLED.value
            and _answers_for(actor, batch))


def witness_warnings(batch: DestructionBatch, today: date) -> list[str]:
    """What a witness is told but not stopped by: a 溶解 witnessed before its scheduled day, or
    before the contractor's certificate arrived (the batch then stays on the exceptions list)."""
    if batch.method != "pulp":
        return []
    warnings = []
    if batch.planned_on and today < batch.planned_on:
        warnings.append(f"予定日（{wareki_date(batch.planned_on)}）より前の立会いです。"
                        "実際に溶解した日に立ち会ったことを確認してください。")
    if batch.certificate_id is None:
        warnings.append("委託先の溶解証明書はまだ添付されていません。証明書を添付して受理するまで、"
                        "この廃棄は例外一覧に残り、対象は「溶解証明待ち」のままです。")
    return warnings


def witness_batch(actor: Actor, batch_id) -> DestructionBatch:
    """The witness attests the destruction: the batch completes and every item is destroyed."""
    with db.transaction():
        require_role(actor, Role.SECURITY_MANAGER, message="廃棄の立会いはセキュリティ管理者が行います。")
        batch = get_batch(batch_id)
        if batch.created_by_id == actor.id:
            raise Forbidden("廃棄を申請・実施した本人は、その廃棄の立会者になれません（職務の分離）。"
                            "別のセキュリティ管理者に立会いを依頼してください。", code="separation_of_duties")
        if batch.contractor_id is not None:  # the contract must still cover the work on the day
            require_coverage(batch.contractor_id, contracted_service(batch.material), today_jst())
        states.transition(batch, State.COMPLETED, actor=actor, event=EventType.DESTRUCTION_WITNESSED,
                          performer=batch.created_by, items=[i.code for i in batch.items],
                          method=batch.method, din_level=batch.din_level)
        batch.witness = None if actor.is_system else actor
        batch.witnessed_at = utcnow()
        for item in batch.items:
            db.session.refresh(item)
            details = dict(batch=batch.code, method=batch.method, din_level=batch.din_level)
            if Kind(item.kind) == Kind.DEVICE:
                record_event(EventType.DESTRUCTION_WITNESSED, actor=actor, subject=item.code,
                             scope="storage", **details)
            elif batch.method == "pulp":  # destroyed once the contractor's certificate is accepted
                states.transition(item, State.AWAITING_PULPING_CERTIFICATE, actor=actor,
                                  event=EventType.DESTRUCTION_WITNESSED, **details)
            else:
                states.transition(item, State.DESTROYED, actor=actor, event=EventType.ITEM_DESTROYED,
                                  **details)
        return batch


def cancel_batch(actor: Actor, batch_id, reason) -> DestructionBatch:
    """Before the witness only; the items go back into custody."""
    with db.transaction():
        batch = get_batch(batch_id)
        if not _answers_for(actor, batch):
            raise Forbidden("廃棄を取り消せるのは、申請した本人・セキュリティ管理者・システム管理者です。")
        reason = v.text(reason, "取消しの理由", max_len=500, field="reason", multiline=True)
        states.transition(batch, State.CANCELLED, actor=actor, event=EventType.DESTRUCTION_CANCELLED,
                          reason=reason)
        batch.cancelled_by = actor.login
        batch.cancelled_at = utcnow()
        batch.cancel_reason = reason
        for item in batch.items:
            db.session.refresh(item)
            if Kind(item.kind) == Kind.DEVICE:
                record_event(EventType.DESTRUCTION_CANCELLED, actor=actor, subject=item.code,
                             batch=batch.code, scope="storage")
            else:
                states.transition(item, State.IN_CUSTODY, actor=actor,
                                  event=EventType.DESTRUCTION_CANCELLED, batch=batch.code)
        return batch


def attach_certificate(actor: Actor, batch_id, stream, filename) -> DestructionBatch:
    """The contractor's certificate (PDF); once attached it cannot be replaced, only reported."""
    with db.transaction():
        batch = get_batch(batch_id)
        if not _answers_for(actor, batch):
            raise Forbidden("証明書を添付できるのは、申請した本人・セキュリティ管理者・システム管理者です。")
        if batch.status == State.CANCELLED.value:
            raise Conflict(f"廃棄「{batch.code}」は取り消されているため、証明書は添付できません。",
                           code="invalid_transition", current_state=batch.status)
        if batch.certificate_id is not None:
            raise Conflict(f"廃棄「{batch.code}」には既に証明書（{batch.certificate.original_name}）が添付されています。"
                           "差し替えはできません。", code="certificate_exists")
        stored = files.store_pdf(stream, filename, actor=actor)
        batch.certificate = stored
        record_event(EventType.DESTRUCTION_CERTIFICATE_ATTACHED, actor=actor, subject=batch.audit_subject,
                     file_id=stored.id, file_name=stored.original_name, sha256=stored.sha256,
                     size=stored.size)
        return batch


def accept_pulping_certificate(actor: Actor, batch_id) -> DestructionBatch:
    """A security manager other than the one who attached it accepts the contractor's 溶解証明書
    of a witnessed pulping: only now are its items destroyed. The file is re-hashed first."""
    with db.transaction():
        require_role(actor, Role.SECURITY_MANAGER, message="溶解証明書の受理はセキュリティ管理者が行います。")
        batch = get_batch(batch_id)
        if not batch.certificate_to_accept:
            why = ("溶解の廃棄ではありません" if not batch.certificate_required else
                   "立会いが済んでいません" if batch.status != State.COMPLETED.value else
                   "証明書が添付されていません" if batch.certificate_id is None else "証明書は既に受理されています")
            raise Conflict(f"廃棄「{batch.code}」の溶解証明書は受理できません（{why}）。",
                           code="invalid_transition", current_state=batch.status)
        if batch.certificate.uploaded_by_id is not None and batch.certificate.uploaded_by_id == actor.id:
            raise Forbidden("溶解証明書を添付した本人は、その証明書を受理できません（職務の分離）。"
                            "別のセキュリティ管理者に受理を依頼してください。", code="separation_of_duties")
        integrity = files.check_integrity(batch.certificate)
        if not integrity.ok:
            raise FileIntegrityError(integrity.message + "受理できません。")
        batch.certificate_accepted_by_id = actor.id
        batch.certificate_accepted_at = utcnow()
        details = dict(batch=batch.code, method=batch.method)
        record_event(EventType.DESTRUCTION_CERTIFICATE_ACCEPTED, actor=actor, subject=batch.audit_subject,
                     file_name=batch.certificate.original_name, sha256=batch.certificate.sha256,
                     items=[i.code for i in batch.items])
        for item in batch.items:
            db.session.refresh(item)
            if item.status == State.AWAITING_PULPING_CERTIFICATE.value:
                states.transition(item, State.DESTROYED, actor=actor, event=EventType.ITEM_DESTROYED, **details)
        return batch


def certificate_bytes(actor: Actor, batch_id) -> tuple[DestructionBatch, bytes]:
    """The certificate for download, re-hashed first: a changed file is refused and audited."""
    batch = get_visible_batch(actor, batch_id)
    if not may_download_certificate(actor, batch):
        raise Forbidden("証明書ファイルを閲覧できるのは、セキュリティ管理者・監査担当・システム管理者"
                        "と、廃棄を申請した本人です。")
    if batch.certificate is None:
        raise NotFound(f"廃棄「{batch.code}」には証明書が添付されていません。", code="no_certificate")
    data, integrity = files.read_verified(batch.certificate)
    if data is None:
        record_integrity_failure(actor, batch.certificate, integrity, subject=batch.audit_subject,
                                 context="download")
        raise FileIntegrityError(integrity.message)
    return batch, data


# --- exceptions report ------------------------------------------------------------------------

@dataclass(frozen=True)
class BatchException:
    batch: DestructionBatch
    category: str  #: "awaiting_witness" or "certificate_missing" (reports.render.ExceptionCategory)
    department: str
    detail: str


def list_destruction_exceptions(as_of: date) -> list[BatchException]:
    """Batches past their planned date without a witness, and pulping without its certificate
    or with one not yet accepted."""

    rows: list[BatchException] = []
    waiting = db.session.scalars(select(DestructionBatch).where(
        DestructionBatch.status == State.AWAITING_WITNESS.value).order_by(DestructionBatch.id))
    for batch in waiting:
        due = batch.planned_on or to_jst(batch.created_at).date()
        if due < as_of:
            rows.append(BatchException(batch, "awaiting_witness", _dept(batch),
                                       f"予定日 {wareki_date(due)}（{(as_of - due).days}日経過）、"
                                       f"{METHOD_LABELS[batch.method]} {len(batch.entries)}件"))
    missing = db.session.scalars(select(DestructionBatch).where(
        DestructionBatch.status == State.COMPLETED.value, DestructionBatch.method == "pulp",
        DestructionBatch.certificate_id.is_(None)).order_by(DestructionBatch.id))
    for batch in missing:
        rows.append(BatchException(batch, "certificate_missing", _dept(batch),
                                   f"溶解 {wareki_date(batch.witnessed_at)} 立会い済み、委託業者の証明書が未受領"))
    # Attached but not accepted: the items stay 溶解証明待ち, not destroyed, until someone does.
    unaccepted = db.session.scalars(select(DestructionBatch).where(
        DestructionBatch.status == State.COMPLETED.value, DestructionBatch.method == "pulp",
        DestructionBatch.certificate_id.is_not(None), DestructionBatch.certificate_accepted_at.is_(None))
        .order_by(DestructionBatch.id))
    for batch in unaccepted:
        rows.append(BatchException(batch, "certificate_missing", _dept(batch),
                                   f"溶解 {wareki_date(batch.witnessed_at)} 立会い済み、証明書は添付済みで受理待ち"
                                   f"（{len(batch.entries)}件が溶解証明待ち）"))
    return rows


def late_pulping_batches(as_of: date, *, contractor_id: int | None = None,
                         created_by_id: int | None = None) -> list[DestructionBatch]:
    """Pulping witnessed more than the policy's days before `as_of` whose 溶解証明書 had not been
    attached and accepted by the end of that day: the contractor is late with its proof."""
    days = policy.get("contractor.pulping_certificate_days")
    query = select(DestructionBatch).where(
        DestructionBatch.method == "pulp", DestructionBatch.status == State.COMPLETED.value,
        DestructionBatch.witnessed_at < jst_day_start_utc(as_of - timedelta(days=days)),
        or_(DestructionBatch.certificate_accepted_at.is_(None),
            DestructionBatch.certificate_accepted_at >= jst_day_start_utc(as_of + timedelta(days=1))))
    if contractor_id is not None:
        query = query.where(DestructionBatch.contractor_id == contractor_id)
    if created_by_id is not None:
        query = query.where(DestructionBatch.created_by_id == created_by_id)
    return list(db.session.scalars(query.order_by(DestructionBatch.witnessed_at, DestructionBatch.id)))


def late_pulping_certificates(contractor: Contractor, as_of: date) -> list[ContractorException]:
    """The contractor rule of late_pulping_batches, one exception per batch (registered with the
    contractor register's rules, so the register's page and the exceptions list both show it)."""
    days = policy.get("contractor.pulping_certificate_days")
    rows = []
    for batch in late_pulping_batches(as_of, contractor_id=contractor.id):
        witnessed = to_jst(batch.witnessed_at).date()
        if batch.certificate_id is None:
            where = "受領していません"
        elif batch.certificate_accepted_at is None:
            where = "添付済みですが受理されていません"
        else:
            where = f"受理していません（{wareki_date(to_jst(batch.certificate_accepted_at).date())} 受理）"
        rows.append(ContractorException(contractor, "pulping_certificate_late",
                                        f"溶解 {batch.code}（{wareki_date(witnessed)} 立会い、{len(batch.entries)}件）の"
                                        f"溶解証明書を、立会いから{days}日を過ぎても{where}"
                                        f"（{(as_of - witnessed).days}日経過）。"))
    return rows


def _dept(batch: DestructionBatch) -> str:
    return batch.department.name if batch.department else "（所属なし）"


def batch_json(batch: DestructionBatch) -> dict:

    cert = batch.certificate
    return {
        "id": batch.id,
        "code": batch.code,
        "status": batch.status,
        "status_label": states.label(batch.status),
        "method": batch.method,
        "method_label": METHOD_LABELS[batch.method],
        "material": batch.material,
        "din_level": batch.din_level,
        "place": batch.place,
        "planned_on": batch.planned_on.isoformat() if batch.planned_on else None,
        "created_by": batch.created_by,
        "created_at": iso(batch.created_at),
        "witness": batch.witness.login if batch.witness else None,
        "witnessed_at": iso(batch.witnessed_at),
        "cancelled_by": batch.cancelled_by,
        "cancelled_at": iso(batch.cancelled_at),
        "cancel_reason": batch.cancel_reason,
        "items": [{"code": i.code, "kind": str(Kind(i.kind)), "title": i.title, "status": i.status}
                  for i in batch.items],
        "contractor": None if batch.contractor is None else {"id": batch.contractor.id,
                                                             "name": batch.contractor.name},
        "certificate_required": batch.certificate_required,
        "certificate_accepted_at": iso(batch.certificate_accepted_at),
        "certificate_to_accept": batch.certificate_to_accept,
        "certificate_missing": batch.certificate_missing,
        "certificate": None if cert is None else {
            "id": cert.id, "file_name": cert.original_name, "sha256": cert.sha256, "size": cert.size,
            "uploaded_by": cert.uploaded_by, "uploaded_at": iso(cert.uploaded_at)},
    }


# --- the selection page -----------------------------------------------------------------------

@dataclass(frozen=True)
class SelectionRow:
    code: str
    item: Item | None
    material: str | None
    problem: str | None  #: why it cannot be destroyed now, in Japanese; None when it can


def preview_selection(user, codes: list[str]) -> list[SelectionRow]:
    """What the create form will meet, shown before submitting (read only; the create re-checks)."""

    rows = []
    for code in codes:
        try:
            item = get_item(code)
        except NotFound as exc:
            rows.append(SelectionRow(code, None, None, exc.message))
            continue
        if not visible_to(user, item):
            rows.append(SelectionRow(code, None, None, "他の所属の管理簿にあるため、表示できません。"))
            continue
        rows.append(selection_row(user, item))
    return rows


def selection_row(user, item: Item, batches: list[DestructionBatch] | None = None) -> SelectionRow:
    """Whether `user` may put this (visible) item into a new batch now, and if not, why.
    `batches`: the item's batches, when the caller has them (see _check_available)."""
    problem, material = None, None
    try:
        material = material_of(item)
        _may_destroy(user, item)
        _check_available(item, batches)
    except DomainError as exc:
        problem = exc.message
    return SelectionRow(item.code, item, material, problem)


def note_forged_labels(actor: Actor, payloads: list[str]) -> None:
    """A label whose tag does not verify was scanned into a batch: recorded, never trusted."""
    if not payloads:
        return
    with db.transaction():
        for payload in payloads:
            record_event(EventType.LABEL_FORGED, actor=actor, subject=None, payload=payload[:40],
                         context="destruction_selection")
