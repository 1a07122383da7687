"""Real deletion: the number is nowhere in clear, and after a purge nothing taken earlier reveals it."""
import logging
import shutil
import sqlite3
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from lifecycle import crypto
from lifecycle.audit.models import AuditEvent
from lifecycle.backup import take_backup
from lifecycle.extensions import db
from lifecycle.models import metadata
from lifecycle.mynumber import services
from lifecycle.mynumber.keystore import KeyDestroyed, KeyStore
from lifecycle.mynumber.models import MyNumberCopy
from tests.conftest import BACKEND

from .conftest import valid_number
from .test_services import DUE, forbidden_forms
from lifecycle.actors import SCHEDULER, SystemActor


def forbidden_bytes(number: str) -> list[bytes]:
    """Every form of the number as it could sit in a file: UTF-8 text, UTF-16 text, hashes."""
    forms = []
    for text in forbidden_forms(number):
        forms += [text.encode("utf-8"), text.encode("utf-16-le")]
    return forms


def database_bytes() -> bytes:
    """Every value of every table, as one blob (works for SQLite and PostgreSQL alike)."""
    db.session.rollback()
    parts = []
    with db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                for value in row:
                    parts.append(value if isinstance(value, bytes) else str(value).encode())
    return b"\x00".join(parts)


def files_bytes(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def assert_nowhere(number: str, blobs: dict) -> None:
    for name, blob in blobs.items():
        for form in forbidden_bytes(number):
            assert form not in blob, f"{form!r} found in {name}"


def test_the_plaintext_appears_nowhere(app, api, login, client, runner, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    by_api, by_form, refused = valid_number(101), valid_number(102), valid_number(103)
    bad = refused[:-1] + str((int(refused[-1]) + 1) % 10)

    bulk = api("bulk")
    spaced = f"{by_api[:4]} {by_api[4:8]} {by_api[8:]}"
    created = bulk.post("/api/v1/my-number-copies", json={"my_number": spaced, "provided_to": "A市",
                                                           "reason": "再送に備えて"})
    assert created.status_code == 201
    api_id = created.get_json()["id"]
    assert bulk.post("/api/v1/my-number-copies", json={"my_number": bad, "provided_to": "A市",
                                                       "reason": "再送"}).status_code == 422
    login("bulk")
    page = client.post("/my-number-copies", data={"my_number": by_form, "provided_to": "B町",
                                                  "reason": "再送に備えて", "retain_minutes": ""})
    assert page.status_code == 302
    refused_page = client.post("/my-number-copies", data={"my_number": bad, "provided_to": "B町", "reason": "r"})
    assert refused_page.status_code == 422 and bad.encode() not in refused_page.data
    assert by_api.encode() not in client.get("/my-number-copies").data
    assert by_api.encode() not in client.get(f"/my-number-copies/{api_id}").data
    assert by_api not in bulk.get(f"/api/v1/my-number-copies/{api_id}").get_data(as_text=True)

    revealed = api("security").post(f"/api/v1/my-number-copies/{api_id}/reveal", json={"reason": "再送"})
    assert revealed.get_json() == {"my_number": by_api}
    login("security")
    form_id = api_id + 1
    shown = client.post(f"/my-number-copies/{form_id}/reveal", data={"reason": "再送のため"})
    assert shown.status_code == 200
    assert f"{by_form[:4]} {by_form[4:8]} {by_form[8:]}".encode() in shown.data  # shown once, in the page

    def everywhere() -> dict:
        blobs = {"database (all tables)": database_bytes(), "log": caplog.text.encode()}
        blobs.update({f"log record {i}": repr((r.msg, r.args)).encode() for i, r in enumerate(caplog.records)})
        blobs["audit events"] = b"\n".join(
            f"{e.subject} {e.data}".encode() for e in db.session.scalars(select(AuditEvent)))
        blobs.update(files_bytes(tmp_path))  # the SQLite file, its -wal and -shm, everything in instance/
        return blobs

    for number in (by_api, by_form, refused):
        assert_nowhere(number, everywhere())

    assert runner.invoke(args=["purge", "--as-of", "2099-01-01T00:00:00+09:00"]).output == "purged 2\n"
    after = everywhere()
    for number in (by_api, by_form, refused):
        assert_nowhere(number, after)
    # Not even the mask outlives the copy. (Four bare digits are not checked: they turn up by
    # chance in timestamps and hashes.)
    assert b"*" + by_api[-4:].encode() not in after["database (all tables)"]


def test_a_backup_taken_before_the_purge_cannot_be_read_after_it(record, app, tmp_path):
    number = valid_number(110)
    copy = record(ago=DUE, my_number=number)
    copy_id, bucket = copy.id, copy.key_bucket
    keys = Path(app.instance_path) / "keys"

    backup = tmp_path / "before.zip"
    take_backup(SystemActor("system:test", "テスト"), backup)
    with zipfile.ZipFile(backup) as archive:
        names = archive.namelist()
        members = {name: archive.read(name) for name in names}
    assert not any("keys" in n or n.endswith(".key") for n in names)
    assert_nowhere(number, members)
    # What an attacker might hold from before the purge: the database as it was (here the backup's
    # SQLite file; on PostgreSQL the row as read now, standing in for a dump) and every key file
    # that is ever backed up (all of instance/keys except keys/mynumber).
    if BACKEND == "sqlite":
        old_db = tmp_path / "old.sqlite"
        old_db.write_bytes(members["database.sqlite"])
        with sqlite3.connect(old_db) as conn:
            (ciphertext,) = conn.execute("SELECT ciphertext FROM my_number_copies WHERE id = ?",
                                         (copy_id,)).fetchone()
    else:
        ciphertext = db.session.get(MyNumberCopy, copy_id).ciphertext
    saved_keys = tmp_path / "saved-keys"
    shutil.copytree(keys, saved_keys / "keys", ignore=shutil.ignore_patterns("mynumber"))
    assert services.keystore().decrypt(copy_id, bucket, ciphertext) == number  # readable until the purge

    services.purge_due(SCHEDULER, rule="scheduled")
    assert not (keys / "mynumber" / f"{bucket}.key").exists()
    with pytest.raises(KeyDestroyed):
        services.keystore().decrypt(copy_id, bucket, ciphertext)
    with pytest.raises(KeyDestroyed):
        KeyStore(saved_keys).decrypt(copy_id, bucket, ciphertext)
    assert crypto.read_key(saved_keys, "kek.key") == crypto.read_key(app.instance_path, "kek.key")


def test_purge_deletes_the_row_not_just_marks_it(record):
    copy_id = record(ago=DUE).id
    services.purge_due(SystemActor("system:test", "テスト"), rule="scheduled")
    db.session.rollback()
    with db.engine.connect() as conn:
        assert conn.execute(select(MyNumberCopy.__table__.c.id).where(
            MyNumberCopy.__table__.c.id == copy_id)).first() is None
