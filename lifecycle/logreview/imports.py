"""Importing the terminals' access logs: column mappings per source, and the streamed import.

A file is read twice: once to hash it (a file imported before is refused by its SHA-256 before a
row is written) and to find its encoding (UTF-8, else Shift_JIS as the terminals' Windows
exports write it), then once to parse it row by row into Core bulk inserts of CHUNK rows, so
memory stays flat whatever the file's size. Each chunk is a short transaction of its own; the
import counts only once its last transaction sets `completed_at` with the audit event (see
LogImport), which also runs the automatic checks over it.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, insert, select

from .. import validation as v
from ..actors import Actor
from ..audit.events import EventType
from ..audit.services import actor_name, record_event
from ..auth.models import User
from ..checkdigit import contains_number
from ..clock import utcnow
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..db import row_id
from ..extensions import db
from ..roles import Role
from .models import AccessRecord, LogImport, LogRejection, LogSource
from ..terminals.models import Terminal

#: The fields of a record, in the default CSV's column order, with their Japanese names.
FIELDS = {"accessed_at": "日時", "terminal": "端末", "operator": "操作者ID", "business": "利用事務",
          "operation": "操作", "records": "件数"}
#: Operations as the review names them, and the words terminals' logs use for each.
OPERATIONS = {"inquiry": "照会", "provision": "提供", "output": "出力"}
_OPERATION_WORDS = {"inquiry": "inquiry", "照会": "inquiry", "検索": "inquiry", "参照": "inquiry",
                    "provision": "provision", "provide": "provision", "提供": "provision",
                    "output": "output", "print": "output", "出力": "output", "印刷": "output"}
DEFAULT_SOURCE = "default"
#: Rows per bulk insert and transaction: large enough that a million rows take a few hundred
#: statements, small enough that one chunk holds the write lock for a fraction of a second.
CHUNK = 10_000
#: Rejected lines kept per import (all are counted); a wrong file would otherwise store a
#: million reasons.
MAX_REJECTIONS_KEPT = 1000
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_.\-]{0,63}$")
_LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-@]{0,63}$")
_LOOSE_MOMENT = re.compile(r"^(\d{4})[/\-.](\d{1,2})[/\-.](\d{1,2})[ T]+(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?$")
_JST = timedelta(hours=9)
IMPORTERS = (Role.ADMIN,)


def _require_importer(actor: Actor) -> None:
    if isinstance(actor, User) and not actor.has_role(*IMPORTERS):
        raise Forbidden("アクセスログの取込みと列の対応付けは、システム管理者が行います。")


# --- sources ------------------------------------------------------------------------------------

def source_mapping(source: LogSource) -> dict[str, str]:
    return json.loads(source.mapping)


def get_source(name: str | None) -> LogSource:
    """A saved source; the default one (the columns of docs/api.md) need not be saved first."""
    name = v.text(name, "取込み元", max_len=64, required=False, field="source") or DEFAULT_SOURCE
    found = db.session.scalar(select(LogSource).where(LogSource.name == name))
    if found is None:
        if name == DEFAULT_SOURCE:
            return LogSource(name=DEFAULT_SOURCE, mapping=json.dumps({f: f for f in FIELDS}))
        raise NotFound(f"取込み元「{name[:64]}」の列の対応付けは登録されていません。"
                       "先に lifecycle logs source で登録してください。", code="unknown_log_source")
    return found


def list_sources() -> list[LogSource]:
    return list(db.session.scalars(select(LogSource).order_by(LogSource.name)))


def define_source(actor: Actor, name, mapping: dict) -> LogSource:
    """Saves (or replaces) the column mapping of a source: each field → the CSV header holding it."""
    errors = v.FieldErrors()
    name = errors.check("name", v.code, name, "取込み元の名前", field="name", max_len=64)
    cleaned: dict[str, str] = {}
    if not isinstance(mapping, dict):
        raise Invalid("列の対応付けは項目ごとの列名で指定してください。", field="mapping")
    unknown = sorted(set(mapping) - set(FIELDS))
    if unknown:
        errors.refuse("mapping", Invalid(f"不明な項目があります: {'、'.join(unknown)[:100]}。"
                                         f"項目は {'・'.join(FIELDS)} です。", field="mapping"))
    for key, label in FIELDS.items():
        column = errors.check(key, v.text, mapping.get(key), f"「{label}」の列名", max_len=100, field=key)
        if column is not None:
            cleaned[key] = _header(column)
    if len(set(cleaned.values())) < len(cleaned):
        errors.refuse("mapping", Invalid("同じ列を二つの項目に対応付けることはできません。", field="mapping"))
    errors.raise_any()
    with db.transaction() as session:
        _require_importer(actor)
        source = session.scalar(select(LogSource).where(LogSource.name == name))
        if source is None:
            source = LogSource(name=name, mapping="{}", created_by=actor_name(actor), created_at=utcnow())
            session.add(source)
        source.mapping = json.dumps(cleaned, ensure_ascii=False)
        session.flush()
        record_event(EventType.ACCESS_LOG_SOURCE_DEFINED, actor=actor, subject=f"log-source:{name}",
                     name=name, columns=cleaned)
        return source


def _header(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().lstrip("\ufeff").casefold()


# --- parsing ------------------------------------------------------------------------------------

def _shown(value: str) -> str:
    """A cell as a refusal may quote it: short, and never a 個人番号."""
    if contains_number(value):
        return "（個人番号と思われる数字のため表示しません）"
    return value[:40] + ("…" if len(value) > 40 else "")


def parse_moment(value: str) -> datetime | None:
    """A log's date-time as naive UTC: ISO 8601 (an offset is honoured; none means JST, as the
    terminals write) or 2026/07/01 9:05[:00]; None when unreadable or outside 2000–2999."""
    if not value.isascii():
        value = unicodedata.normalize("NFKC", value)
    value = value.strip()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        found = _LOOSE_MOMENT.match(value)
        if found is None:
            return None
        try:
            moment = datetime(*(int(part or 0) for part in found.groups()))
        except ValueError:
            return None
    if not 2000 <= moment.year <= 2999:
        return None
    if moment.tzinfo is not None:
        return moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment - _JST


@dataclass
class _Parser:
    """Turns one CSV row into a record's values, or says in Japanese what is wrong with it."""
    indexes: dict[str, int]
    terminals: dict[str, int]  #: terminal code → its department's id
    width: int = field(init=False)

    def __post_init__(self) -> None:
        self.width = max(self.indexes.values()) + 1

    def parse(self, row: list[str]) -> tuple[dict | None, str | None]:
        if len(row) < self.width:
            return None, f"列が足りません（{len(row)}列。{self.width}列必要です）。"
        cell = {key: row[index] for key, index in self.indexes.items()}
        problems = []
        at = parse_moment(cell["accessed_at"])
        if at is None:
            problems.append(f"日時「{_shown(cell['accessed_at'])}」を読み取れません（例: 2026-07-01 09:15:00）。")
        terminal = unicodedata.normalize("NFKC", cell["terminal"]).strip().upper()
        if not _CODE.match(terminal):
            problems.append("端末が空です。" if not terminal else f"端末「{_shown(terminal)}」は端末番号の形ではありません。")
        operator = unicodedata.normalize("NFKC", cell["operator"]).strip()
        if contains_number(operator) or contains_number(terminal):
            problems.append("端末または操作者IDに個人番号と思われる12桁の数字が含まれています。")
        elif not _LOGIN.match(operator):
            problems.append("操作者IDが空です。" if not operator else f"操作者ID「{_shown(operator)}」は利用者IDの形ではありません。")
        operation = _OPERATION_WORDS.get(unicodedata.normalize("NFKC", cell["operation"]).strip().casefold())
        if operation is None:
            problems.append(f"操作「{_shown(cell['operation'])}」は照会・提供・出力のいずれでもありません。")
        count_text = unicodedata.normalize("NFKC", cell["records"]).strip().replace(",", "")
        count = int(count_text) if count_text.isdigit() and len(count_text) <= 9 else None
        if count is None:
            problems.append(f"件数「{_shown(cell['records'])}」は0以上の整数ではありません。")
        business = None
        try:
            business = v.text(cell["business"], "利用事務", max_len=200)
        except Invalid as exc:
            problems.append(exc.message if exc.code != "my_number_in_text"
                            else "利用事務に個人番号と思われる12桁の数字が含まれています。")
        if problems:
            return None, "".join(problems)[:300]
        return {"accessed_at": at, "terminal": terminal, "operator": operator, "business": business,
                "operation": operation, "records": count, "department_id": self.terminals.get(terminal)}, None


# --- the import ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImportResult:
    log_import: LogImport
    rejected: list[tuple[int, str]]  #: (line, reason), as kept (at most MAX_REJECTIONS_KEPT)


def _hash_and_encoding(stream) -> tuple[str, str]:
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8 = True
    while True:
        block = stream.read(1 << 20)
        if not block:
            break
        digest.update(block)
        if utf8:
            try:
                decoder.decode(block)
            except UnicodeDecodeError:
                utf8 = False
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    stream.seek(0)
    return digest.hexdigest(), "utf-8-sig" if utf8 else "cp932"


def _indexes(header: list[str], mapping: dict[str, str], source: str) -> dict[str, int]:
    names = [_header(h) for h in header]
    missing = [f"{FIELDS[key]}（列名「{column}」）" for key, column in mapping.items() if column not in names]
    if missing:
        raise Invalid(f"1行目の見出しに、取込み元「{source}」の次の列がありません: {'、'.join(missing)}。"
                      "列の対応付けか、ファイルを確かめてください。", code="log_columns_missing", field="file")
    return {key: names.index(column) for key, column in mapping.items()}


def _terminal_departments() -> dict[str, int]:

    return dict(db.session.execute(select(Terminal.code, Terminal.department_id)).all())


def import_log(actor: Actor, stream, file_name: str | None, source_name: str | None = None,
               *, run_checks: bool = True) -> ImportResult:
    """Imports one CSV file (a seekable binary stream) of access-log records."""
    _require_importer(actor)
    file_name = v.text(file_name or "access-log.csv", "ファイル名", max_len=255, field="file")
    source = get_source(source_name)
    mapping = source_mapping(source)
    sha256, encoding = _hash_and_encoding(stream)
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")
    try:
        reader = csv.reader(text)
        try:
            header = next(reader)
        except (StopIteration, csv.Error, UnicodeDecodeError):
            raise Invalid("ファイルが空か、CSV として読み取れません。", code="log_unreadable", field="file") from None
        parser = _Parser(_indexes(header, mapping, source.name), _terminal_departments())
        log_import = _begin(actor, source, sha256, file_name, encoding)
        result = _load(actor, log_import, reader, parser)
    finally:
        text.detach()
    if run_checks:
        from .checks import run_checks as check

        check(actor, result.log_import.id)
    return result


def _begin(actor: Actor, source: LogSource, sha256: str, file_name: str, encoding: str) -> LogImport:
    with db.transaction() as session:
        existing = session.scalar(select(LogImport).where(LogImport.sha256 == sha256))
        if existing is not None and existing.completed_at is not None:
            raise Conflict(f"このファイルは取込み済みです（取込み 第{existing.id}号、{existing.rows:,}件）。"
                           "同じファイルを二度数えることはしません。", code="already_imported",
                           id=existing.id)
        if source.id is None:  # the default source is saved when first used
            source.created_by, source.created_at = actor_name(actor), utcnow()
            session.add(source)
            session.flush()
        if existing is not None:  # an import cut short: start it again from the first line
            session.execute(delete(AccessRecord).where(AccessRecord.import_id == existing.id))
            session.execute(delete(LogRejection).where(LogRejection.import_id == existing.id))
            existing.source_id, existing.file_name, existing.encoding = source.id, file_name, encoding
            existing.imported_by, existing.started_at = actor_name(actor), utcnow()
            existing.rows = existing.rejected = 0
            session.flush()
            return existing
        log_import = LogImport(source_id=source.id, sha256=sha256, file_name=file_name, encoding=encoding,
                               rows=0, rejected=0, imported_by=actor_name(actor), started_at=utcnow())
        session.add(log_import)
        session.flush()
        return log_import


RECORD_COLUMNS = ("import_id", "line", "accessed_at", "terminal", "operator", "business", "operation", "records",
                  "department_id")


def bulk_insert(session, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """A chunk of rows (plain tuples) written at the driver level, in the session's transaction:
    the import's and the checks' hot path. Core's insert() with a list of dicts spent as long
    building parameters as the database took to store them. SQLite: one executemany of a fixed
    statement; PostgreSQL: COPY, where an executemany still costs a round of the protocol per row."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        marks = ", ".join("?" * len(columns))
        connection.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
        return
    with connection.connection.driver_connection.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def _load(actor: Actor, log_import: LogImport, reader, parser: _Parser) -> ImportResult:
    batch: list[tuple] = []
    rejected: list[tuple[int, str]] = []
    rows = rejected_count = 0
    first = last = None
    import_id = log_import.id
    # SQLite keeps DateTime as text in SQLAlchemy's format (compared as text by every query), so
    # the driver is given that text; PostgreSQL takes the datetime itself.
    as_text = db.is_sqlite

    def flush(pending_rejections: list[dict]) -> None:
        with db.transaction() as session:
            if batch:
                bulk_insert(session, AccessRecord.__tablename__, RECORD_COLUMNS, batch)
            if pending_rejections:
                session.execute(insert(LogRejection.__table__), pending_rejections)

    pending: list[dict] = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except (csv.Error, UnicodeDecodeError) as exc:
            line = reader.line_num
            reason = "この行を CSV として読み取れません（引用符の閉じ忘れ、または文字コードの誤り）。"
            rejected_count += 1
            if len(rejected) < MAX_REJECTIONS_KEPT:
                rejected.append((line, reason))
                pending.append({"import_id": import_id, "line": line, "reason": reason})
            if isinstance(exc, UnicodeDecodeError):
                break  # the rest of the file cannot be decoded either
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank lines (a trailing newline) are no records
        values, reason = parser.parse(row)
        if values is None:
            rejected_count += 1
            if len(rejected) < MAX_REJECTIONS_KEPT:
                rejected.append((reader.line_num, reason))
                pending.append({"import_id": import_id, "line": reader.line_num, "reason": reason})
            continue
        at = values["accessed_at"]
        first = at if first is None or at < first else first
        last = at if last is None or at > last else last
        batch.append((import_id, reader.line_num, at.isoformat(" ", "microseconds") if as_text else at,
                      values["terminal"], values["operator"], values["business"], values["operation"],
                      values["records"], values["department_id"]))
        rows += 1
        if len(batch) >= CHUNK:
            flush(pending)
            batch.clear()
            pending = []
    flush(pending)
    batch.clear()
    with db.transaction() as session:
        log_import = session.get(LogImport, import_id, populate_existing=True)
        log_import.rows, log_import.rejected, log_import.first_at, log_import.last_at = rows, rejected_count, first, last
        log_import.completed_at = utcnow()
        session.flush()
        log_import.event_seq = record_event(
            EventType.ACCESS_LOG_IMPORTED, actor=actor, subject=f"access-log:{import_id}",
            source=log_import.source.name, file_name=log_import.file_name, sha256=log_import.sha256,
            rows=rows, rejected=rejected_count, first_at=first.isoformat() if first else None,
            last_at=last.isoformat() if last else None)
    return ImportResult(log_import, rejected)


def get_import(import_id) -> LogImport:
    key = row_id(import_id)
    found = db.session.get(LogImport, key) if key else None
    if found is None:
        raise NotFound(f"アクセスログの取込み「{import_id}」はありません。", code="unknown_log_import")
    return found


def list_imports(limit: int = 100) -> list[LogImport]:
    return list(db.session.scalars(select(LogImport).order_by(LogImport.id.desc()).limit(limit)))


def rejections(import_id: int) -> list[LogRejection]:
    return list(db.session.scalars(select(LogRejection).where(LogRejection.import_id == import_id)
                                   .order_by(LogRejection.line)))
