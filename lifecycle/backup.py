"""Consistent online backup and restore of the database and the files it references.

A backup is one zip: the database (SQLite: the online backup API, so writers may keep working;
PostgreSQL: pg_dump's custom format, a consistent snapshot), every stored upload, and a manifest
with the SHA-256 of each member, the schema revision and the audit head at backup time.
Keys are never included: instance/keys/ holds the 個人番号 data keys, whose absence from every
backup is what makes a purge final, and the other keys are to be kept apart from the data they
protect (back up instance/keys/ separately, without keys/mynumber/).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import zipfile
from pathlib import Path

from flask import current_app
from sqlalchemy import func, inspect, select

from . import migrate
from .actors import Actor
from .audit.events import EventType
from .audit.models import AuditEvent
from .audit.services import head, record_event, verify_chain
from .clock import iso, utcnow
from .errors import Conflict, Invalid
from .extensions import db

FORMAT = "lifecycle-backup/1"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _uploads_dir() -> Path:
    return Path(current_app.instance_path) / "uploads"


def _pg_url() -> str:
    return db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _dump_database(target: Path) -> str:
    if db.is_sqlite:
        source = sqlite3.connect(db.engine.url.database)
        destination = sqlite3.connect(target)
        with destination:
            source.backup(destination)
        destination.close()
        source.close()
        return "sqlite"
    subprocess.run(["pg_dump", "--format=custom", "--no-owner", "--file", str(target), _pg_url()],
                   check=True, capture_output=True)
    return "postgresql"


def take_backup(actor: Actor, file: str | os.PathLike) -> dict:
    """Writes the backup zip and returns its manifest."""
    seq, head_hash = head()
    db.session.rollback()
    with tempfile.TemporaryDirectory() as work:
        dump = Path(work) / "database"
        kind = _dump_database(dump)
        members = {f"database.{kind}": dump}
        uploads = _uploads_dir()
        if uploads.exists():
            for path in sorted(uploads.rglob("*")):
                if path.is_file():
                    members["uploads/" + path.relative_to(uploads).as_posix()] = path
        manifest = {
            "format": FORMAT, "created_at": iso(utcnow()), "database": kind,
            "revision": migrate.current_revision(), "audit_head": {"seq": seq, "hash": head_hash},
            "files": {name: {"sha256": _sha256(path), "size": path.stat().st_size}
                      for name, path in members.items()},
        }
        partial = Path(f"{file}.partial")
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            for name, path in members.items():
                archive.write(path, name)
            archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1))
        os.replace(partial, file)
    with db.transaction():
        record_event(EventType.BACKUP_TAKEN, actor=actor, subject="system", file=os.path.basename(file),
                     audit_seq=seq, files=len(manifest["files"]))
    return manifest


def _read_manifest(archive: zipfile.ZipFile) -> dict:
    try:
        manifest = json.loads(archive.read("manifest.json"))
    except (KeyError, ValueError):
        raise Invalid("バックアップファイルに manifest.json がありません。lifecycle のバックアップではありません。") from None
    if manifest.get("format") != FORMAT:
        raise Invalid("このバックアップの形式には対応していません。")
    return manifest


def _is_empty() -> bool:
    """No table yet, or nothing recorded but the schema's own initialisation."""


    if not inspect(db.engine).has_table("audit_events"):
        return True
    count = db.session.scalar(select(func.count()).select_from(AuditEvent)
                              .where(AuditEvent.type != EventType.SYSTEM_INITIALISED.value))
    db.session.rollback()
    return count == 0


def restore_backup(file: str | os.PathLike) -> dict:
    """Restores into an empty instance; refuses a damaged file or a database already in use."""
    if not zipfile.is_zipfile(file):
        raise Invalid("バックアップファイルを読み取れません（zip 形式ではありません）。")
    if not _is_empty():
        raise Conflict("復元先のデータベースには既に記録があります。空のインスタンスに復元してください。")
    db.session.rollback()
    with zipfile.ZipFile(file) as archive, tempfile.TemporaryDirectory() as work:
        manifest = _read_manifest(archive)
        for name, meta in manifest["files"].items():
            extracted = Path(archive.extract(name, work))
            if _sha256(extracted) != meta["sha256"]:
                raise Invalid(f"バックアップ内のファイル {name} のハッシュが一致しません。ファイルが破損または改変されています。")
        kind = manifest["database"]
        dump = Path(work) / f"database.{kind}"
        if kind != ("sqlite" if db.is_sqlite else "postgresql"):
            raise Invalid("バックアップのデータベースの種類（SQLite / PostgreSQL）が復元先と異なります。")
        db.session.remove()
        db.engine.dispose()
        if kind == "sqlite":
            target = Path(db.engine.url.database)
            for suffix in ("-wal", "-shm"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(dump, target)
        else:
            subprocess.run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--dbname", _pg_url(),
                            str(dump)], check=True, capture_output=True)
        uploads = _uploads_dir()
        for name in manifest["files"]:
            if name.startswith("uploads/"):
                destination = uploads / name.removeprefix("uploads/")
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(Path(work) / name, destination)
    result = verify_chain()
    expected = manifest["audit_head"]
    if not result.ok or result.events < expected["seq"]:
        raise Invalid("復元したデータベースの監査ログを検証できませんでした: " + (result.reason or "件数が不足しています。"))
    return manifest
