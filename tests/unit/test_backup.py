import zipfile

import pytest

from lifecycle import create_app
from lifecycle.actors import SystemActor
from lifecycle.audit.services import verify_chain
from lifecycle.backup import restore_backup, take_backup
from lifecycle.errors import Conflict, Invalid
from lifecycle.extensions import db
from tests import factories
from tests.conftest import BACKEND, FAST_HASH


def test_backup_has_manifest_and_no_keys(world, app, tmp_path):
    factories.form(world["registrar"])
    uploads = tmp_path / "instance" / "uploads" / "ab"
    uploads.mkdir(parents=True)
    (uploads / "ab12.pdf").write_bytes(b"%PDF-1.4 stored certificate")
    target = tmp_path / "backup.zip"
    manifest = take_backup(SystemActor("system:test", "テスト"), target)
    names = zipfile.ZipFile(target).namelist()
    assert "manifest.json" in names and "uploads/ab/ab12.pdf" in names
    assert not any("keys" in n or n.endswith(".key") for n in names)
    assert manifest["audit_head"]["seq"] > 0 and len(manifest["audit_head"]["hash"]) == 64


def test_round_trip_into_an_empty_instance(world, app, tmp_path, database):
    item = factories.form(world["registrar"])
    code, title = item.code, item.title
    target = tmp_path / "backup.zip"
    manifest = take_backup(SystemActor("system:test", "テスト"), target)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    url = f"sqlite:///{fresh}/restored.db"
    if BACKEND == "postgresql":
        url = _empty_pg_database()
    other = create_app({"INSTANCE_PATH": str(fresh / "instance"), "DATABASE_URL": url, **FAST_HASH})
    with other.app_context():
        restore_backup(target)
        from lifecycle.items.services import get_item
        assert get_item(code).title == title
        result = verify_chain()
        assert result.ok and result.events >= manifest["audit_head"]["seq"]
    db.setup(app.config["DATABASE_URL"])
    if BACKEND == "postgresql":
        _drop_pg_database(url)


def _drop_pg_database(url: str) -> None:
    from sqlalchemy import create_engine, text

    from tests.conftest import PG_ADMIN_URL

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def _empty_pg_database() -> str:
    import uuid

    from sqlalchemy import create_engine, text

    from tests.conftest import PG_ADMIN_URL

    name = f"lifecycle_restore_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def test_restore_refuses_a_used_instance(world, app, tmp_path):
    target = tmp_path / "backup.zip"
    take_backup(SystemActor("system:test", "テスト"), target)
    with pytest.raises(Conflict):
        restore_backup(target)


def test_restore_refuses_a_damaged_backup(app, tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(Invalid):
        restore_backup(bad)


def test_cli_backup(runner, world, tmp_path):
    result = runner.invoke(args=["backup", str(tmp_path / "b.zip")])
    assert result.exit_code == 0 and "backup" in result.output
