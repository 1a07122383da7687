"""Signed checkpoints of the chain head and the self-contained export auditors verify offline.

The signed message and the event encoding are spelled out in tools/verify_audit_export.py, which
must keep working on a machine without this package: change both together or neither.
"""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from .. import crypto
from ..clock import iso, utcnow
from ..extensions import db
from .events import EventType
from .models import AuditCheckpoint, AuditEvent
from .services import head, record_event

VERIFIER = Path(__file__).resolve().parents[2] / "tools" / "verify_audit_export.py"


def checkpoint_message(seq: int, head_hash: str, created_at_iso: str) -> bytes:
    return f"lifecycle-checkpoint\x1f{seq}\x1f{head_hash}\x1f{created_at_iso}".encode()


def _key_id(public_pem: bytes) -> str:
    return hashlib.sha256(public_pem).hexdigest()[:16]


def sign_checkpoint(actor) -> AuditCheckpoint:
    """Signs the current head; the checkpoint event itself becomes the next link."""
    instance = current_app.instance_path
    with db.transaction() as session:
        seq, head_hash = head()
        created = utcnow()
        signature = crypto.signing_key(instance).sign(
            checkpoint_message(seq, head_hash, created.isoformat(timespec="microseconds")))
        checkpoint = AuditCheckpoint(seq=seq, head_hash=head_hash, created_at=created,
                                     key_id=_key_id(crypto.public_key_pem(instance)),
                                     signature=signature.hex())
        session.add(checkpoint)
        session.flush()
        record_event(EventType.CHECKPOINT_SIGNED, actor=actor, subject=f"checkpoint:{checkpoint.id}",
                     seq=seq, head=head_hash)
        return checkpoint


def latest_checkpoint() -> AuditCheckpoint | None:
    return db.session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1))


def list_checkpoints(limit: int = 100) -> list[AuditCheckpoint]:
    return list(db.session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(limit)))


def checkpoint_line(checkpoint: AuditCheckpoint | None) -> str | None:
    """One line for the foot of printed reports."""
    if checkpoint is None:
        return None
    from ..wareki import wareki_datetime
    return (f"監査ログ確認点 第{checkpoint.id}号（{wareki_datetime(checkpoint.created_at)}）: "
            f"記録 {checkpoint.seq} 件、末尾ハッシュ {checkpoint.head_hash[:16]}…、署名鍵 {checkpoint.key_id}")


def checkpoint_json(checkpoint: AuditCheckpoint) -> dict:
    return {"id": checkpoint.id, "seq": checkpoint.seq, "head": checkpoint.head_hash,
            "created_at": checkpoint.created_at.isoformat(timespec="microseconds"),
            "created_at_jst": iso(checkpoint.created_at), "key_id": checkpoint.key_id,
            "signature": checkpoint.signature}


def write_export(target) -> int:
    """Writes the zip: events.jsonl, checkpoints.json, public_key.pem and the verifier script."""
    count = 0
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("events.jsonl", "w", force_zip64=True) as handle:
            stream = io.TextIOWrapper(handle, encoding="utf-8", newline="\n")
            db.begin_stream()  # events and checkpoints from the same moment
            rows = db.session.execute(
                select(AuditEvent.seq, AuditEvent.at, AuditEvent.type, AuditEvent.actor,
                       AuditEvent.subject, AuditEvent.data, AuditEvent.hash)
                .order_by(AuditEvent.seq).execution_options(yield_per=20000))
            for seq, at, type_, actor, subject, data, digest in rows:
                stream.write(json.dumps({"seq": seq, "at": at.isoformat(timespec="microseconds"),
                                         "type": type_, "actor": actor, "subject": subject,
                                         "data": data, "hash": digest}, ensure_ascii=False))
                stream.write("\n")
                count += 1
            stream.flush()
            stream.detach()
        checkpoints = [checkpoint_json(c) for c in reversed(list_checkpoints(limit=100000))]
        archive.writestr("checkpoints.json", json.dumps(checkpoints, ensure_ascii=False, indent=1))
        archive.writestr("public_key.pem", crypto.public_key_pem(current_app.instance_path))
        archive.write(VERIFIER, "verify_audit_export.py")
        archive.writestr("README.txt", EXPORT_README)
    return count


EXPORT_README = """lifecycle 監査ログ出力

  events.jsonl      監査イベント（1行1件、連番順）
  checkpoints.json  署名付き確認点（連番・末尾ハッシュ・日時・Ed25519署名）
  public_key.pem    確認点の署名検証用の公開鍵
  verify_audit_export.py  検証スクリプト（Python 3 標準ライブラリ + cryptography のみ）

検証方法:  python3 verify_audit_export.py この zip ファイル
  （公開鍵は、システムから受け取った別経路の写しを --public-key で指定することを推奨します）
"""


def record_export(actor, count: int) -> None:
    with db.transaction():
        record_event(EventType.AUDIT_EXPORTED, actor=actor, subject="audit", events=count)


def signature_ok(checkpoint: AuditCheckpoint) -> bool:
    """Checked whenever a checkpoint is printed, so a forged checkpoint row shows as a warning."""
    message = checkpoint_message(checkpoint.seq, checkpoint.head_hash,
                                 checkpoint.created_at.isoformat(timespec="microseconds"))
    try:
        return crypto.verify_signature(crypto.public_key_pem(current_app.instance_path),
                                       bytes.fromhex(checkpoint.signature), message)
    except (ValueError, OSError):
        return False
