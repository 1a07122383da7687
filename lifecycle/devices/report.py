"""消去証明受領記録 (per device): data for the pure renderer, from the accepted certificate. As for
a batch's record (destruction/report.py), the stored certificate is re-hashed every time."""
from __future__ import annotations

from .. import states
from ..actors import Actor
from ..destruction.report import certificate_integrity, audit_printed, shown_person
from ..destruction.services import storage_destruction_of
from ..documents.imprint import imprint_for
from ..documents.render import DestructionItem, DestructionRecord, render_destruction_pdf
from ..errors import Conflict, Forbidden
from ..items.services import get_visible_item
from ..roles import Role
from ..states import KIND_LABELS, Kind
from ..wareki import wareki_date
from .services import ERASURE_METHODS, accepted_certificate


def erasure_pdf(actor: Actor, code) -> tuple[str, bytes]:
    """(file name, PDF) of a device's 消去証明受領記録, from its accepted certificate."""

    if not actor.has_role(Role.SECURITY_MANAGER, Role.AUDITOR, Role.ADMIN, Role.BULK_OPERATOR):
        raise Forbidden("消去証明受領記録を出力できるのは、セキュリティ管理者・監査担当・システム管理者・一括利用担当です。")
    item = get_visible_item(actor, code)
    if Kind(item.kind) != Kind.DEVICE:
        raise Conflict(f"「{item.code}」はリース機器ではありません。", code="not_a_device")
    cert = accepted_certificate(item)
    if cert is None:
        raise Conflict(f"機器「{item.code}」には受理された消去証明書がありません。", code="no_accepted_certificate")
    integrity, sentence, ok = certificate_integrity(cert.file)
    destruction = storage_destruction_of(item)
    extra = [
        ("機器", f"{item.device_type or ''} {item.model or ''}（製造番号 {item.serial or '—'}、資産番号 {item.asset_tag or '—'}）"),
        ("リース会社", f"{item.lessor or '—'}（契約 {item.lease_contract or '—'}）"),
        ("リース期間", f"{_day(item.lease_start)}～{_day(item.lease_end)}"),
        ("記憶媒体の種類", cert.media_type or "—"),
        ("消去ツール", f"{cert.tool} {cert.tool_version or ''}".strip()),
        ("検証方法・結果", f"{cert.verification}　結果: {cert.verification_result or '（記載なし）'}"),
        ("消去業者・証明書番号", f"{cert.vendor}　第 {cert.certificate_no} 号"),
        ("業者側の作業者", cert.operator or "—"),
        ("証明書の登録", shown_person(cert.uploader, cert.uploaded_by)),
        ("記憶装置の物理破壊", f"廃棄 {destruction.code}（立会い済み）" if destruction else "記録なし"),
        ("機器の状態", states.label(item.status)),
    ]
    record = DestructionRecord(
        batch_id=f"{item.code} / 証明書 第{cert.id}号",
        method=ERASURE_METHODS.get(cert.method, cert.method),
        place=cert.vendor,
        performer=f"{cert.vendor}" + (f"（{cert.operator}）" if cert.operator else ""),
        witness=shown_person(cert.decider, cert.decided_by) + "（証明書の確認・受理）",
        status=states.label(cert.status),
        items=[DestructionItem(item.code, KIND_LABELS[Kind.DEVICE], item.title, item.department.name)],
        imprint=imprint_for(actor),
        erasure=True,
        din_level=None,
        planned_on=None,
        performed_at=cert.performed_on,  # the vendor certifies a day, not an hour
        certificate_name=cert.file.original_name,
        certificate_sha256=cert.file.sha256,
        integrity=sentence,
        integrity_ok=ok,
        extra=[("受理日時", cert.decided_at), *extra],
    )
    pdf = render_destruction_pdf(record)
    audit_printed(actor, item.code, "erasure", cert.file, integrity)
    return f"erasure-{item.code}.pdf", pdf


def _day(value) -> str:
    return wareki_date(value) if value else "—"
