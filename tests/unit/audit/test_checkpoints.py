import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lifecycle.actors import SystemActor
from lifecycle.audit.checkpoints import latest_checkpoint, sign_checkpoint, write_export
from lifecycle.audit.events import EventType
from lifecycle.audit.services import head, record_event
from lifecycle.extensions import db

VERIFIER = Path(__file__).resolve().parents[3] / "tools" / "verify_audit_export.py"


def _append(n):
    for i in range(n):
        with db.transaction():
            record_event(EventType.ITEM_UPDATED, actor=SystemActor("system:registrar", "テスト"), subject=f"F-2026-{i:06d}", note=f"変更{i}")


def _export(tmp_path) -> Path:
    target = tmp_path / "export.zip"
    write_export(target)
    return target


def _rewrite(path: Path, events=None, checkpoints=None) -> None:
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    if events is not None:
        files["events.jsonl"] = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events).encode()
    if checkpoints is not None:
        files["checkpoints.json"] = json.dumps(checkpoints).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)


def _events(path: Path) -> list[dict]:
    with zipfile.ZipFile(path) as archive:
        return [json.loads(line) for line in archive.read("events.jsonl").decode().splitlines()]


def _checkpoints(path: Path) -> list[dict]:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("checkpoints.json"))


def _verify(path: Path):
    return subprocess.run([sys.executable, str(VERIFIER), str(path)], capture_output=True, text=True)


def test_checkpoint_signs_the_current_head(app):
    _append(3)
    seq, digest = head()
    checkpoint = sign_checkpoint(SystemActor("system:test", "テスト"))
    assert (checkpoint.seq, checkpoint.head_hash) == (seq, digest)
    assert latest_checkpoint().id == checkpoint.id
    assert head()[0] == seq + 1  # the checkpoint is itself recorded


def test_untouched_export_verifies_offline(app, tmp_path):
    _append(5)
    sign_checkpoint(SystemActor("system:test", "テスト"))
    _append(2)
    result = _verify(_export(tmp_path))
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith("ok 8 events, 1 checkpoints")


@pytest.mark.parametrize("tamper", ["alter", "remove", "reorder", "truncate"])
def test_offline_verifier_catches_tampering(app, tmp_path, tamper):
    _append(6)
    sign_checkpoint(SystemActor("system:test", "テスト"))
    path = _export(tmp_path)
    events = _events(path)
    if tamper == "alter":
        events[2]["data"] = events[2]["data"].replace("変更2", "改ざん")
    elif tamper == "remove":
        del events[3]
    elif tamper == "reorder":
        events[1], events[2] = events[2], events[1]
    else:
        events = events[:4]
    _rewrite(path, events=events)
    result = _verify(path)
    assert result.returncode == 1 and ("broken" in result.stdout or "checkpoint" in result.stdout), result.stdout


def test_offline_verifier_catches_a_forged_checkpoint(app, tmp_path):
    _append(4)
    sign_checkpoint(SystemActor("system:test", "テスト"))
    path = _export(tmp_path)
    checkpoints = _checkpoints(path)
    checkpoints[0]["head"] = "f" * 64
    _rewrite(path, checkpoints=checkpoints)
    result = _verify(path)
    assert result.returncode == 1 and "checkpoint" in result.stdout


def test_offline_verifier_refuses_another_key(app, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    _append(2)
    sign_checkpoint(SystemActor("system:test", "テスト"))
    path = _export(tmp_path)
    other = tmp_path / "other.pem"
    other.write_bytes(Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    result = subprocess.run([sys.executable, str(VERIFIER), str(path), "--public-key", str(other)],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "signature" in result.stdout


def test_export_page_and_checkpoint_page(client, login):
    login("auditor")
    assert client.post("/audit/checkpoints").status_code == 302
    page = client.get("/audit/checkpoints").get_data(as_text=True)
    assert "第1号" in page
    response = client.get("/audit/export.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(response.data)).namelist()
    assert {"events.jsonl", "checkpoints.json", "public_key.pem", "verify_audit_export.py"} <= set(names)


def test_registrar_cannot_export(client, login):
    login("registrar")
    assert client.get("/audit/export.zip").status_code == 403
    assert client.post("/audit/checkpoints").status_code == 403


def test_cli_checkpoint_and_export(runner, tmp_path):
    runner.invoke(args=["demo"])
    before = latest_checkpoint()  # the demo's access-log draw signs one of its own
    result = runner.invoke(args=["audit", "checkpoint"])
    expected = (before.id if before else 0) + 1
    assert result.exit_code == 0 and result.output.startswith(f"checkpoint {expected} seq ")
    target = tmp_path / "x.zip"
    result = runner.invoke(args=["audit", "export", str(target)])
    assert result.exit_code == 0 and _verify(target).returncode == 0
