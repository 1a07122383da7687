"""The audit log's Merkle tree through the API (tree, inclusion and consistency proofs), the
checkpoints that sign its root, and the offline verifier checking what the API hands out."""
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select, text

from lifecycle.actors import SystemActor
from lifecycle.audit import merkle
from lifecycle.audit.checkpoints import checkpoint_message, sign_checkpoint, write_export
from lifecycle.audit.events import EventType
from lifecycle.audit.models import AuditEvent
from lifecycle.audit.services import head, record_event
from lifecycle.extensions import db
from tests.unit.audit.test_merkle import mth

VERIFIER = Path(__file__).resolve().parents[2] / "tools" / "verify_audit_export.py"
ACTOR = SystemActor("system:test", "テスト")


def _append(n: int) -> None:
    for i in range(n):
        with db.transaction():
            record_event(EventType.ITEM_UPDATED, actor=ACTOR, subject=f"F-2026-{i:06d}", note=f"変更{i}")


def _leaf_data(upto: int) -> list[bytes]:
    """Straight from the table: the chain hashes of events 1..upto, as raw bytes."""
    rows = db.session.scalars(select(AuditEvent.hash).where(AuditEvent.seq <= upto).order_by(AuditEvent.seq))
    return [bytes.fromhex(h) for h in rows]


def _offline(tmp_path: Path, kind: str, proof: dict, *extra: str) -> subprocess.CompletedProcess:
    file = tmp_path / f"{kind}-{len(list(tmp_path.iterdir()))}.json"
    file.write_text(json.dumps(proof))
    return subprocess.run([sys.executable, str(VERIFIER), f"--{kind}", str(file), *extra],
                          capture_output=True, text=True)


@pytest.mark.parametrize("who,status", [("auditor", 200), ("admin", 200), ("registrar", 403),
                                        ("security", 403), ("bulk", 403)])
def test_only_auditors_and_admins_read_the_tree(api, who, status):
    assert api(who).get("/api/v1/audit/tree").status_code == status
    assert api(who).get("/api/v1/audit/proof/inclusion?seq=1").status_code == status
    assert api(who).get("/api/v1/audit/proof/consistency?first=1").status_code == status


def test_tree_is_the_rfc_tree_of_the_chain_hashes(api):
    _append(12)
    body = api("auditor").get("/api/v1/audit/tree").get_json()
    size = head()[0]
    assert body == {"tree_size": size, "root": mth(_leaf_data(size)).hex()}


def test_every_inclusion_proof_verifies_here_and_offline(api, tmp_path):
    _append(9)
    auditor = api("auditor")
    size = head()[0]
    data = _leaf_data(size)
    for tree_size in (size, 7, 1):
        for seq in range(1, tree_size + 1):
            response = auditor.get(f"/api/v1/audit/proof/inclusion?seq={seq}&tree_size={tree_size}")
            assert response.status_code == 200, response.get_json()
            proof = response.get_json()
            assert proof["leaf_index"] == seq - 1 and proof["tree_size"] == tree_size
            assert proof["leaf_hash"] == merkle.leaf_hash(data[seq - 1]).hex()
            assert proof["root"] == mth(data[:tree_size]).hex()
            assert merkle.verify_inclusion(bytes.fromhex(proof["leaf_hash"]), seq - 1, tree_size,
                                           [bytes.fromhex(p) for p in proof["audit_path"]],
                                           bytes.fromhex(proof["root"]))
    proof = auditor.get("/api/v1/audit/proof/inclusion?seq=5").get_json()
    assert proof["tree_size"] == size  # without tree_size: the current tree
    result = _offline(tmp_path, "inclusion", proof, "--event-hash", data[4].hex())
    assert result.returncode == 0 and result.stdout.startswith("ok event 5 is in the tree"), result.stdout
    tampered = dict(proof, audit_path=[proof["audit_path"][0][:-1] + "0" if proof["audit_path"][0][-1] != "0"
                                       else proof["audit_path"][0][:-1] + "1", *proof["audit_path"][1:]])
    result = _offline(tmp_path, "inclusion", tampered)
    assert result.returncode == 1 and "does not verify" in result.stdout
    result = _offline(tmp_path, "inclusion", proof, "--event-hash", data[5].hex())
    assert result.returncode == 1 and "is not the leaf" in result.stdout


def test_every_consistency_proof_verifies_here_and_offline(api, tmp_path):
    _append(10)
    auditor = api("auditor")
    size = head()[0]
    data = _leaf_data(size)
    for second in (size, 8, 5):
        for first in range(1, second + 1):
            proof = auditor.get(f"/api/v1/audit/proof/consistency?first={first}&second={second}").get_json()
            assert (proof["first"], proof["second"]) == (first, second)
            assert proof["first_root"] == mth(data[:first]).hex()
            assert proof["second_root"] == mth(data[:second]).hex()
            assert merkle.verify_consistency(first, second, bytes.fromhex(proof["first_root"]),
                                             bytes.fromhex(proof["second_root"]),
                                             [bytes.fromhex(p) for p in proof["proof"]])
    proof = auditor.get("/api/v1/audit/proof/consistency?first=3").get_json()
    assert proof["second"] == size
    result = _offline(tmp_path, "consistency", proof)
    assert result.returncode == 0 and result.stdout.startswith("ok the tree of"), result.stdout
    result = _offline(tmp_path, "consistency", dict(proof, first_root=proof["second_root"]))
    assert result.returncode == 1 and "does not verify" in result.stdout


@pytest.mark.parametrize("url,field", [
    ("/api/v1/audit/proof/inclusion", "seq"),
    ("/api/v1/audit/proof/inclusion?seq=0", "seq"),
    ("/api/v1/audit/proof/inclusion?seq=abc", "seq"),
    ("/api/v1/audit/proof/inclusion?seq=-1", "seq"),
    ("/api/v1/audit/proof/inclusion?seq=１", "seq"),
    ("/api/v1/audit/proof/inclusion?seq=9999999", "seq"),
    ("/api/v1/audit/proof/inclusion?seq=5&tree_size=4", "seq"),
    ("/api/v1/audit/proof/inclusion?seq=1&tree_size=99999999", "tree_size"),
    ("/api/v1/audit/proof/inclusion?seq=1&tree_size=0", "tree_size"),
    ("/api/v1/audit/proof/consistency", "first"),
    ("/api/v1/audit/proof/consistency?first=0", "first"),
    ("/api/v1/audit/proof/consistency?first=5&second=4", "first"),
    ("/api/v1/audit/proof/consistency?first=1&second=99999999", "second"),
    ("/api/v1/audit/proof/consistency?first=1.5", "first"),
])
def test_bad_parameters_are_a_422_in_japanese(api, url, field):
    _append(5)
    response = api("auditor").get(url)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "invalid" and f"（{field}）" in error["message"], error
    assert any("\u3040" <= ch <= "\u9fff" for ch in error["message"]), error["message"]


def test_checkpoints_sign_the_tree_size_and_root(app, api, tmp_path):
    _append(4)
    first = sign_checkpoint(ACTOR)
    _append(6)
    second = sign_checkpoint(ACTOR)
    for checkpoint in (first, second):
        assert checkpoint.root == mth(_leaf_data(checkpoint.seq)).hex()
    listed = api("auditor").get("/api/v1/audit/checkpoints").get_json()
    (shown,) = [c for c in listed["checkpoints"] if c["id"] == first.id]
    assert shown["tree_size"] == first.seq and shown["root"] == first.root
    assert checkpoint_message(first.seq, first.head_hash, shown["created_at"], first.root).startswith(
        b"lifecycle-checkpoint-v2\x1f")
    key = tmp_path / "key.pem"
    key.write_text(listed["public_key"])
    checkpoints = tmp_path / "checkpoints.json"
    checkpoints.write_text(json.dumps(listed))

    auditor = api("auditor")
    inclusion = auditor.get(f"/api/v1/audit/proof/inclusion?seq=3&tree_size={first.seq}").get_json()
    result = _offline(tmp_path, "inclusion", inclusion, "--checkpoint", str(checkpoints), "--public-key", str(key))
    assert result.returncode == 0 and f"signed by checkpoint {first.id}" in result.stdout, result.stdout
    consistency = auditor.get(f"/api/v1/audit/proof/consistency?first={first.seq}&second={second.seq}").get_json()
    result = _offline(tmp_path, "consistency", consistency, "--checkpoint", str(checkpoints), "--public-key", str(key))
    assert result.returncode == 0 and f"checkpoint {first.id}" in result.stdout and f"checkpoint {second.id}" in result.stdout
    forged = dict(listed, checkpoints=[dict(c, signature="00" * 64) for c in listed["checkpoints"]])
    checkpoints.write_text(json.dumps(forged))
    result = _offline(tmp_path, "inclusion", inclusion, "--checkpoint", str(checkpoints), "--public-key", str(key))
    assert result.returncode == 1 and "signature is not valid" in result.stdout


def test_a_rewritten_event_makes_the_next_consistency_proof_fail(app, api, tmp_path):
    _append(6)
    signed = sign_checkpoint(ACTOR)
    _append(3)
    with db.engine.begin() as conn:  # someone with database access rewrites event 2's hash
        conn.execute(text("UPDATE audit_events SET hash = :h WHERE seq = 2"), {"h": "ab" * 32})
    # The stored tree still holds the original subtree over events 1-2 (so the served root is
    # the signed one), but event 2's inclusion proof starts from its rewritten leaf and does not
    # reach that root.
    inclusion = api("auditor").get(f"/api/v1/audit/proof/inclusion?seq=2&tree_size={signed.seq}").get_json()
    assert inclusion["root"] == signed.root
    result = _offline(tmp_path, "inclusion", dict(inclusion, root=signed.root))
    assert result.returncode == 1 and "does not verify" in result.stdout
    # Whoever rewrites the tree to match (here: rebuilt from the rewritten leaves) changes the
    # roots, and the consistency proof from the signed checkpoint fails.
    merkle.rebuild_tree(ACTOR)
    proof = api("auditor").get(f"/api/v1/audit/proof/consistency?first={signed.seq}").get_json()
    assert proof["first_root"] != signed.root
    # The auditor checks the proof against the root the checkpoint signed, not the one served.
    result = _offline(tmp_path, "consistency", dict(proof, first_root=signed.root))
    assert result.returncode == 1 and "does not verify" in result.stdout


def test_the_export_verifier_checks_checkpoint_roots_and_still_reads_old_checkpoints(app, tmp_path):
    _append(5)
    sign_checkpoint(ACTOR)
    target = tmp_path / "export.zip"
    write_export(target)
    ok = subprocess.run([sys.executable, str(VERIFIER), str(target)], capture_output=True, text=True)
    assert ok.returncode == 0 and "1 checkpoints" in ok.stdout, ok.stdout
    with zipfile.ZipFile(target) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    (checkpoint,) = json.loads(files["checkpoints.json"])

    def verify_with(checkpoints) -> subprocess.CompletedProcess:
        copy = tmp_path / f"copy-{len(list(tmp_path.iterdir()))}.zip"
        with zipfile.ZipFile(copy, "w") as archive:
            for name, data in files.items():
                archive.writestr(name, json.dumps(checkpoints) if name == "checkpoints.json" else data)
        return subprocess.run([sys.executable, str(VERIFIER), str(copy)], capture_output=True, text=True)

    wrong_root = verify_with([dict(checkpoint, root="00" * 32)])
    assert wrong_root.returncode == 1 and "Merkle root does not match" in wrong_root.stdout
    # A checkpoint from before the tree: no root, signed over seq, head and time only.
    from lifecycle import crypto
    old = {k: v for k, v in checkpoint.items() if k not in ("root", "tree_size")}
    old["signature"] = crypto.signing_key(app.instance_path).sign(
        checkpoint_message(old["seq"], old["head"], old["created_at"])).hex()
    assert verify_with([old]).returncode == 0


def test_a_gap_in_the_log_is_a_fault_not_a_smaller_tree(api):
    _append(5)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 3"))
    response = api("auditor").get("/api/v1/audit/proof/inclusion?seq=3")
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "audit_log_fault"
    assert "欠番" in response.get_json()["error"]["message"]


def test_a_missing_tree_node_is_a_fault_that_names_the_repair(api):
    _append(8)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_tree_nodes WHERE level = 1 AND idx = 0"))
    response = api("auditor").get("/api/v1/audit/proof/inclusion?seq=3&tree_size=4")
    assert response.status_code == 500
    error = response.get_json()["error"]
    assert error["code"] == "audit_log_fault" and "rebuild-tree" in error["message"]
