"""Signed checkpoints of the chain head, the verification against them, and the self-contained
export auditors verify offline.

The signed message and the event encoding are spelled out in tools/verify_audit_export.py, which
must keep working on a machine without this package: change both together or neither. The lines
of the checkpoint log (CHECKPOINT_LOG) have the fields of the export's checkpoints.json.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from .. import crypto
from ..actors import Actor
from ..clock import iso, utcnow
from ..errors import AuditLogFault, Invalid
from ..extensions import db
from ..wareki import wareki_datetime
from . import merkle
from .events import EventType
from .models import AuditCheckpoint, AuditEvent
from .services import GENESIS, SignedHead, Verification, head, record_event, verify_chain

VERIFIER = Path(__file__).resolve().parents[2] / "tools" / "verify_audit_export.py"
#: Events per read of verify_from_checkpoint's walk (and per read of the tree nodes over them).
VERIFY_BATCH = 20000


def checkpoint_message(seq: int, head_hash: str, created_at_iso: str, root: str | None = None) -> bytes:
    """What a checkpoint signs. Since the Merkle tree, also the tree size (= seq) and its root; a
    checkpoint without a root (in an older export) was signed with the first form."""
    if root is None:
        return f"lifecycle-checkpoint\x1f{seq}\x1f{head_hash}\x1f{created_at_iso}".encode()
    return f"lifecycle-checkpoint-v2\x1f{seq}\x1f{head_hash}\x1f{created_at_iso}\x1f{seq}\x1f{root}".encode()


def _key_id(public_pem: bytes) -> str:
    return hashlib.sha256(public_pem).hexdigest()[:16]


def sign_checkpoint(actor: Actor) -> AuditCheckpoint:
    """Signs the current head; the checkpoint event itself becomes the next link.

    Once committed, the checkpoint is also appended to the checkpoint log outside the database
    (append_to_log). A crash between the commit and the append leaves a checkpoint in the database
    without its line in the file; verifying against the file checks the lines it has.
    """
    if db.in_write():
        raise RuntimeError("a checkpoint is signed in a transaction of its own: its line follows the commit")
    instance = current_app.instance_path
    # The tree's root is computed from the committed head before the write lock, which then only
    # covers the signature and two rows: the checkpoint may trail events appended meanwhile.
    db.end_read()
    seq, head_hash = head()
    root = merkle.roots_at([seq])[seq].hex()
    with db.transaction() as session:
        created = utcnow()
        signature = crypto.signing_key(instance).sign(
            checkpoint_message(seq, head_hash, created.isoformat(timespec="microseconds"), root))
        checkpoint = AuditCheckpoint(seq=seq, head_hash=head_hash, root=root, created_at=created,
                                     key_id=_key_id(crypto.public_key_pem(instance)),
                                     signature=signature.hex())
        session.add(checkpoint)
        session.flush()
        record_event(EventType.CHECKPOINT_SIGNED, actor=actor, subject=f"checkpoint:{checkpoint.id}",
                     seq=seq, head=head_hash, root=root)
    append_to_log(checkpoint)
    return checkpoint


def checkpoint_log() -> Path:
    """The file every signed checkpoint is appended to (CHECKPOINT_LOG, relative to instance/)."""
    return Path(current_app.instance_path) / current_app.config["CHECKPOINT_LOG"]


def append_to_log(checkpoint: AuditCheckpoint) -> None:
    """Appends the checkpoint as one JSON line and waits until it is on disk: a copy of the
    evidence that deleting rows from the database does not delete."""
    path = checkpoint_log()
    record = {"id": checkpoint.id, "seq": checkpoint.seq, "head": checkpoint.head_hash,
              "created_at": checkpoint.created_at.isoformat(timespec="microseconds"),
              "tree_size": checkpoint.seq, "root": checkpoint.root,
              "key_id": checkpoint.key_id, "signature": checkpoint.signature}
    line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        created = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            if os.write(fd, line) != len(line):  # one O_APPEND write: lines appended at once stay whole
                raise OSError(0, "短い書込み")
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:  # the new file's name must survive a crash too
            folder = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
    except OSError as exc:
        raise AuditLogFault(f"確認点 第{checkpoint.id}号はデータベースに記録しましたが、確認点ファイル {path} に"
                            f"書き込めませんでした（{exc.strerror or exc}）。ファイルの場所と権限を確認し、"
                            "システム管理者に連絡してください。") from exc


def _signed(public_pem: bytes, seq: int, head_hash: str, created_at: str, signature: str,
            root: str | None = None) -> bool:
    try:
        return crypto.verify_signature(public_pem, bytes.fromhex(signature),
                                       checkpoint_message(seq, head_hash, created_at, root))
    except ValueError:
        return False


def _database_checkpoints(public_pem: bytes) -> list[SignedHead]:
    rows = db.session.execute(select(AuditCheckpoint.id, AuditCheckpoint.seq, AuditCheckpoint.head_hash,
                                     AuditCheckpoint.created_at, AuditCheckpoint.signature, AuditCheckpoint.root)
                              .order_by(AuditCheckpoint.id))
    return [SignedHead(f"確認点 第{id_}号", seq, head_hash, _signed(
                public_pem, seq, head_hash, created.isoformat(timespec="microseconds"), signature, root))
            for id_, seq, head_hash, created, signature, root in rows]


def read_checkpoint_file(file: str | os.PathLike, public_pem: bytes) -> list[SignedHead]:
    """The checkpoints of a checkpoint log (or a copy of one). A last line without its newline is
    an append a crash cut short and is passed over; any other line that cannot be read is refused."""
    checkpoints = []
    with open(file, encoding="utf-8") as handle:
        lines = handle.readlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip() or (number == len(lines) and not line.endswith("\n")):
            continue
        try:
            entry = json.loads(line)
            seq, head_hash = int(entry["seq"]), str(entry["head"])
            created, signature = str(entry["created_at"]), str(entry["signature"])
            root = None if entry.get("root") is None else str(entry["root"])
            same_size = int(entry.get("tree_size", seq)) == seq  # the signature covers seq as the size
        except (ValueError, KeyError, TypeError):
            raise Invalid(f"確認点ファイル {file} の {number} 行目を読み取れません（1行に1件の JSON のはずです）。") from None
        checkpoints.append(SignedHead(f"確認点ファイル {number} 行目（確認点 第{entry.get('id')}号）", seq, head_hash,
                                      same_size and _signed(public_pem, seq, head_hash, created, signature, root)))
    return checkpoints


def verify_log(actor: Actor, *, checkpoint_file: str | os.PathLike | None = None) -> Verification:
    """Verifies the chain against every signed checkpoint of the database, and of a checkpoint
    file when one is given, and records the verification: the page, the API and the CLI all
    verify through this."""
    public_pem = crypto.public_key_pem(current_app.instance_path)
    db.end_read()  # the checkpoints as of now, not of the request's first read
    checkpoints = _database_checkpoints(public_pem)
    if checkpoint_file is not None:
        checkpoints += read_checkpoint_file(checkpoint_file, public_pem)
    result = verify_chain(checkpoints)
    try:
        with db.transaction():
            record_event(EventType.AUDIT_VERIFIED, actor=actor, ok=result.ok, events=result.events,
                         broken_at=result.broken_at, checkpoints=len(checkpoints))
    except AuditLogFault:
        if result.ok:
            raise
        # The head row is gone or moved back, as the result names: nothing can be appended until
        # an administrator has put it right.
    return result


def verify_from_checkpoint(actor: Actor, checkpoint_id) -> tuple[Verification, int]:
    """Verifies only what came after a signed checkpoint: its signature, that the event it names
    still has the signed hash, that the stored Merkle tree has the signed root at its size, then
    the chain of the later events (and the later checkpoints) and the tree nodes over them. A
    nightly run stays fast as the log grows; the full walk (verify_log) remains for the rest.
    Returns the verification and how many events it walked; records it like verify_log."""
    try:
        number = int(str(checkpoint_id).strip())
    except ValueError:
        raise Invalid("確認点の番号は整数で指定してください。", field="from_checkpoint") from None
    db.end_read()
    checkpoint = db.session.get(AuditCheckpoint, number, populate_existing=True)  # as stored now
    if checkpoint is None:
        raise Invalid(f"確認点 第{number}号はありません。", field="from_checkpoint")
    name, seq = f"確認点 第{checkpoint.id}号", checkpoint.seq
    public_pem = crypto.public_key_pem(current_app.instance_path)
    stored = db.session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == seq)) if seq else GENESIS
    result: Verification | None = None
    if not signature_ok(checkpoint):
        result = Verification(False, seq, checkpoint.head_hash, seq,
                              f"{name}の署名が正しくありません。確認点が偽造または改変されています"
                              "（このシステムの公開鍵で検証できません）。")
    elif stored != checkpoint.head_hash:
        result = Verification(False, max(seq - 1, 0), checkpoint.head_hash, seq,
                              f"第 {seq} 番の記録が見つからないか、そのハッシュが{name}に署名されたハッシュと"
                              "一致しません。記録が改変または削除されています。")
    elif merkle.roots_at([seq])[seq].hex() != checkpoint.root:
        result = Verification(False, seq, checkpoint.head_hash, seq,
                              f"保存された Merkle 木の根が、{name}に署名された根と一致しません。"
                              "木の節が改変された可能性があります。")
    walked = 0
    if result is None:
        later = [c for c in _database_checkpoints(public_pem) if c.seq > seq]
        # One pass: each batch of events is read once, for its links and for the tree over it.
        result = verify_chain(later, VERIFY_BATCH, after=seq, after_hash=checkpoint.head_hash,
                              tree_check=merkle.StoredTreeCheck(seq))
        walked = result.events - seq
    try:
        with db.transaction():
            record_event(EventType.AUDIT_VERIFIED, actor=actor, ok=result.ok, events=result.events,
                         broken_at=result.broken_at, checkpoints=1, from_checkpoint=checkpoint.id,
                         walked=walked)
    except AuditLogFault:
        if result.ok:
            raise
    return result, walked


def latest_checkpoint() -> AuditCheckpoint | None:
    return db.session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1))


def list_checkpoints(limit: int = 100) -> list[AuditCheckpoint]:
    return list(db.session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(limit)))


def checkpoint_line(checkpoint: AuditCheckpoint | None) -> str | None:
    """One line for the foot of printed reports."""
    if checkpoint is None:
        return None
    return (f"監査ログ確認点 第{checkpoint.id}号（{wareki_datetime(checkpoint.created_at)}）: "
            f"記録 {checkpoint.seq} 件、末尾ハッシュ {checkpoint.head_hash[:16]}…、署名鍵 {checkpoint.key_id}")


def checkpoint_json(checkpoint: AuditCheckpoint) -> dict:
    return {"id": checkpoint.id, "seq": checkpoint.seq, "head": checkpoint.head_hash,
            "created_at": checkpoint.created_at.isoformat(timespec="microseconds"),
            "created_at_jst": iso(checkpoint.created_at), "tree_size": checkpoint.seq,
            "root": checkpoint.root, "key_id": checkpoint.key_id, "signature": checkpoint.signature}


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


def record_export(actor: Actor, count: int) -> None:
    with db.transaction():
        record_event(EventType.AUDIT_EXPORTED, actor=actor, subject="audit", events=count)


def signature_ok(checkpoint: AuditCheckpoint) -> bool:
    """Checked whenever a checkpoint is printed, so a forged checkpoint row shows as a warning."""
    try:
        public_pem = crypto.public_key_pem(current_app.instance_path)
    except (ValueError, OSError):
        return False
    return _signed(public_pem, checkpoint.seq, checkpoint.head_hash,
                   checkpoint.created_at.isoformat(timespec="microseconds"), checkpoint.signature,
                   checkpoint.root)
