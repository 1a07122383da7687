"""The store of uploaded certificates: content-addressed PDFs under instance/uploads/.

A file is named by its SHA-256 (uploads/<sha256[:2]>/<sha256>.pdf), so the same certificate
uploaded twice is stored once, a stored file can never be silently replaced by another upload,
and the backup can enumerate and check every file without the database (iter_stored_files).
A file written for a request whose transaction then rolls back stays on disk unreferenced; that
is harmless (it is only ever found through a row that names its digest).
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Iterator

from flask import current_app
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy import DateTime, ForeignKey, Integer, String

from . import validation as v
from .clock import utcnow
from .errors import Conflict, Invalid, TooLarge
from .extensions import db
from .actors import Actor
from .audit.events import EventType
from .audit.services import record_event
from .db import Base

log = logging.getLogger(__name__)

PDF_MAGIC = b"%PDF-"
CHUNK = 1024 * 1024
_SHA = re.compile(r"[0-9a-f]{64}")
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


def uploads_root() -> Path:
    return Path(current_app.instance_path) / "uploads"


def path_for(sha256: str, root: Path | None = None) -> Path:
    if not _SHA.fullmatch(sha256 or ""):
        raise ValueError("not a SHA-256 hex digest")
    return (root or uploads_root()) / sha256[:2] / f"{sha256}.pdf"


def max_bytes() -> int:
    return int(current_app.config["UPLOAD_MAX_BYTES"])


def _limit_text(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit:,} バイト"


def clean_name(name: str | None) -> str:
    """The uploaded name for display and download: no path, no control characters."""
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME.sub("", name).strip() or "certificate.pdf"
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 190] + dot + ext[:8]) if dot else name[:200]
    return name


def read_upload(stream: BinaryIO | None, limit: int) -> bytes:
    """Reads at most limit bytes; more is a 413, nothing is a 422."""
    if stream is None:
        raise Invalid("証明書のファイル（PDF）を選んでください。", code="file_required", field="file")
    buffer = io.BytesIO()
    while chunk := stream.read(CHUNK):
        buffer.write(chunk)
        if buffer.tell() > limit:
            raise TooLarge(f"ファイルが大きすぎます（上限 {_limit_text(limit)}）。", code="too_large")
    data = buffer.getvalue()
    if not data:
        raise Invalid("ファイルが空です。証明書のPDFを選び直してください。", code="file_required", field="file")
    return data


def check_pdf(data: bytes) -> int:
    """The %PDF- header and a parse by pypdf: a renamed Word file or a broken scan is refused
    now, not found out by the auditor years later. Returns the page count."""
    if not data.startswith(PDF_MAGIC):
        raise Invalid("PDFファイルではありません。証明書はPDF形式でアップロードしてください。",
                      code="not_pdf", field="file")
    try:
        from pypdf import PdfReader

        pages = len(PdfReader(io.BytesIO(data), strict=False).pages)
    except Exception:  # pypdf raises many kinds; any of them means "not a readable PDF"
        pages = 0
    if pages < 1:
        raise Invalid("PDFファイルとして読み取れません（破損しているか、形式が正しくありません）。",
                      code="not_pdf", field="file")
    return pages


def write_blob(data: bytes, sha256: str, root: Path | None = None) -> Path:
    """Writes atomically; an existing file with this digest is the same content and is kept."""
    target = path_for(sha256, root)
    if target.exists() and sha256_of(target) == sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


@dataclass(frozen=True)
class CheckedPdf:
    """An upload read and checked (checked_pdf), not yet stored: a form checks its file together
    with its other fields, and stores it only once none of them is refused."""
    name: str
    data: bytes


def checked_pdf(stream: BinaryIO | None, filename: str | None) -> CheckedPdf:
    """Reads and checks an uploaded PDF (its name, size, header and a parse) without storing it."""
    name = v.text(clean_name(filename), "ファイル名", max_len=200, field="file")  # shown and audited
    data = read_upload(stream, max_bytes())
    check_pdf(data)
    return CheckedPdf(name, data)


def store_pdf(stream: BinaryIO | None, filename: str | None, *, actor) -> StoredFile:
    """Checks and stores an uploaded PDF and adds its row to the caller's transaction."""
    return store_checked(checked_pdf(stream, filename), actor=actor)


def store_checked(checked: CheckedPdf, *, actor) -> StoredFile:
    """Stores a PDF that checked_pdf accepted and adds its row to the caller's transaction."""
    name, data = checked.name, checked.data
    digest = hashlib.sha256(data).hexdigest()
    write_blob(data, digest)
    row = StoredFile(sha256=digest, original_name=name, size=len(data),
                     content_type="application/pdf",
                     uploaded_by=actor.login,
                     uploaded_by_id=actor.id,
                     uploaded_at=utcnow())
    db.session.add(row)
    db.session.flush()
    return row


def sha256_of(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        return None
    return digest.hexdigest()


@dataclass(frozen=True)
class Integrity:
    ok: bool
    actual: str | None  #: the digest found now; None when the file is missing

    @property
    def message(self) -> str:
        if self.ok:
            return "証明書ファイルの整合性: 一致（登録時の SHA-256 と同じです）"
        if self.actual is None:
            return "証明書ファイルの整合性エラー: 保存されたファイルが見つかりません。"
        return "証明書ファイルの整合性エラー: ファイルの SHA-256 が登録時と異なります（改ざんの可能性）。"


def check_integrity(stored: StoredFile) -> Integrity:
    """Re-hashes the stored bytes against the digest recorded at upload."""
    actual = sha256_of(path_for(stored.sha256))
    return Integrity(actual == stored.sha256, actual)


def read_verified(stored: StoredFile) -> tuple[bytes | None, Integrity]:
    """The bytes, only if they still hash to the recorded digest."""
    path = path_for(stored.sha256)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, Integrity(False, None)
    actual = hashlib.sha256(data).hexdigest()
    if actual != stored.sha256:
        return None, Integrity(False, actual)
    return data, Integrity(True, actual)


def iter_stored_files(root: Path | None = None) -> Iterator[tuple[str, Path]]:
    """(sha256, path) of every stored file, for the backup and for consistency checks."""
    root = root or uploads_root()
    if not root.exists():
        return
    for path in sorted(root.glob("??/*.pdf")):
        if _SHA.fullmatch(path.stem) and path.parent.name == path.stem[:2]:
            yield path.stem, path


class StoredFile(Base):
    """One uploaded PDF. The bytes live in instance/uploads/<sha256[:2]>/<sha256>.pdf (files.py);
    the row keeps the digest taken at upload so a later re-hash can prove the file unchanged."""
    __tablename__ = "stored_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    original_name: Mapped[str] = mapped_column(String(200))  #: as uploaded, for people
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(64), default="application/pdf")
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime)


class FileIntegrityError(Conflict):
    code = "file_integrity_failed"


def record_integrity_failure(actor: Actor, stored: StoredFile, integrity: Integrity, *,
                             subject: str, context: str) -> None:
    """In a transaction of its own: the refused action rolled back, the finding must not."""
    with db.transaction():
        record_event(EventType.FILE_INTEGRITY_FAILED, actor=actor, subject=subject,
                     file_id=stored.id, file_name=stored.original_name, expected=stored.sha256,
                     actual=integrity.actual or "missing", context=context)
