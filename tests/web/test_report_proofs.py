"""Custody and destruction reports print each event's leaf index, checkpoint and compact
inclusion proof, and carry the full proofs as a signed JSON attachment that the offline
verifier checks against the checkpoint."""
import io
import json
import subprocess
import sys
from pathlib import Path

from pypdf import PdfReader
from sqlalchemy import select

from lifecycle import crypto
from lifecycle.actors import SystemActor
from lifecycle.audit.checkpoints import sign_checkpoint
from lifecycle.audit.services import events_for
from lifecycle.destruction.models import DestructionBatch
from lifecycle.extensions import db
from lifecycle.seeds import load_demo_items
from tests import factories
from tests.signatures import check

VERIFIER = Path(__file__).resolve().parents[2] / "tools" / "verify_audit_export.py"
ACTOR = SystemActor("system:test", "テスト")


def _attachment(pdf: bytes) -> dict:
    attachments = PdfReader(io.BytesIO(pdf)).attachments
    assert list(attachments) == ["audit-proofs.json"]
    (data,) = attachments["audit-proofs.json"]
    return json.loads(data)


def _text(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _verify(tmp_path: Path, bundle: dict, proof: dict, event_hash: str) -> subprocess.CompletedProcess:
    (tmp_path / "proof.json").write_text(json.dumps(proof))
    (tmp_path / "checkpoint.json").write_text(json.dumps(bundle["checkpoint"]))
    (tmp_path / "key.pem").write_text(bundle["public_key"])
    return subprocess.run([sys.executable, str(VERIFIER), "--inclusion", str(tmp_path / "proof.json"),
                           "--event-hash", event_hash, "--checkpoint", str(tmp_path / "checkpoint.json"),
                           "--public-key", str(tmp_path / "key.pem")], capture_output=True, text=True)


def test_custody_pdf_proofs_verify_offline_against_the_checkpoint(app, client, login, world, tmp_path):
    code = load_demo_items()[0]
    checkpoint = sign_checkpoint(ACTOR)
    login("auditor")
    pdf = client.get(f"/reports/custody/{code}.pdf").data
    verdict = check(pdf, crypto.signing_ca_pem(app.instance_path), tmp_path / "sig")
    assert verdict.pdfsig_valid and verdict.pyhanko_valid  # signed after the attachment
    bundle = _attachment(pdf)
    assert bundle["checkpoint"]["id"] == checkpoint.id and bundle["checkpoint"]["root"] == checkpoint.root
    events = {e.seq: e.hash for e in events_for(code)}
    proven = bundle["proofs"]
    assert proven and {p["seq"] for p in proven} == {s for s in events if s <= checkpoint.seq}
    assert set(bundle["unproven"]) == {s for s in events if s > checkpoint.seq}
    first = proven[0]
    result = _verify(tmp_path, bundle, first, events[first["seq"]])
    assert result.returncode == 0, result.stdout
    assert f"signed by checkpoint {checkpoint.id}" in result.stdout
    # The proof of another event does not pass for this one.
    other = bundle["checkpoint"]["head"]  # the hash of another event (the checkpoint's last)
    assert other != events[first["seq"]]
    assert _verify(tmp_path, bundle, first, other).returncode == 1
    text = _text(pdf)
    assert "包含証明" in text and f"確認点 第{checkpoint.id}号" in text and "葉番号" in text
    if first["audit_path"]:
        assert first["audit_path"][0][:8] in text


def test_destruction_pdf_carries_the_batch_events_proofs(app, client, login, world, tmp_path):
    load_demo_items()
    batch = db.session.scalars(select(DestructionBatch).order_by(DestructionBatch.id)).first()
    checkpoint = sign_checkpoint(ACTOR)
    batch_events = {e.seq: e.hash for e in events_for(batch.audit_subject)}  # before the report's own
    login("auditor")
    pdf = client.get(f"/reports/destruction/{batch.id}.pdf").data
    bundle = _attachment(pdf)
    assert batch_events and set(batch_events) <= {p["seq"] for p in bundle["proofs"]}
    proof = next(p for p in bundle["proofs"] if p["seq"] in batch_events)
    result = _verify(tmp_path, bundle, proof, batch_events[proof["seq"]])
    assert result.returncode == 0 and f"checkpoint {checkpoint.id}" in result.stdout, result.stdout
    assert "包含証明" in _text(pdf)


def test_without_a_checkpoint_there_is_nothing_to_attach(app, client, login, world):
    code = factories.form(world["registrar"]).code  # the demo's items come with a signed checkpoint
    login("auditor")
    pdf = client.get(f"/reports/custody/{code}.pdf").data
    assert PdfReader(io.BytesIO(pdf)).attachments == {}
    assert "包含証明" not in _text(pdf)


def test_the_audit_page_offers_the_signing_ca_to_auditors_only(app, client, login, world):
    login("auditor")
    page = client.get("/audit/checkpoints").get_data(as_text=True)
    assert "/audit/signing-ca.pem" in page and "CA 証明書" in page
    response = client.get("/audit/signing-ca.pem")
    assert response.status_code == 200 and response.data == crypto.signing_ca_pem(app.instance_path)
    assert b"BEGIN CERTIFICATE" in response.data
    login("registrar")
    assert client.get("/audit/signing-ca.pem").status_code == 403
