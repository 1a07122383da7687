"""Merkle inclusion proofs of a report's audit events, for printing and for the PDF's attachment.

Each event up to the latest signed checkpoint is proven against that checkpoint's tree (size =
its seq, root = the root it signs). The printed form is compact (the leaf index, the checkpoint
and the first 8 hex digits of each path hash); the attachment "audit-proofs.json" holds every
proof in full, each in the form tools/verify_audit_export.py --inclusion reads, beside the
checkpoint (--checkpoint reads it as it is) and the public key. Events after the checkpoint
cannot be proven against it yet and are listed as such.
"""
from __future__ import annotations

import io
import json
from collections.abc import Iterable

from flask import current_app
from pypdf import PdfReader, PdfWriter

from .. import crypto
from .render import EventProof, ProofSection
from ..audit import merkle
from ..audit.checkpoints import checkpoint_json, latest_checkpoint, signature_ok

ATTACHMENT = "audit-proofs.json"
FORMAT = "lifecycle-audit-proofs/1"


def proof_section(events: Iterable[tuple[int, str]]) -> tuple[ProofSection | None, dict | None]:
    """(what the report prints, what it attaches) for events given as (seq, chain hash), or
    (None, None) when no checkpoint has been signed yet."""
    checkpoint = latest_checkpoint()
    if checkpoint is None:
        return None, None
    size = checkpoint.seq
    proofs, full, unproven = [], [], []
    for seq, digest in sorted(set(events)):
        if seq > size:
            unproven.append(seq)
            continue
        leaf, path, root = merkle.stored_inclusion(seq - 1, size)
        hexes = tuple(h.hex() for h in path)
        proofs.append(EventProof(seq=seq, leaf_index=seq - 1, audit_path=hexes))
        full.append({"seq": seq, "event_hash": digest, "leaf_index": seq - 1, "tree_size": size,
                     "leaf_hash": leaf.hex(), "audit_path": list(hexes), "root": root.hex()})
    section = ProofSection(checkpoint_id=checkpoint.id, tree_size=size, root=checkpoint.root,
                           signature_ok=signature_ok(checkpoint), proofs=proofs, unproven=unproven)
    attachment = {"format": FORMAT, "checkpoint": checkpoint_json(checkpoint),
                  "public_key": crypto.public_key_pem(current_app.instance_path).decode(),
                  "proofs": full, "unproven": unproven,
                  "how_to_verify": "python3 verify_audit_export.py --inclusion PROOF.json --event-hash "
                                   "EVENT_HASH --checkpoint CHECKPOINT.json --public-key PUBLIC_KEY.pem"}
    return section, attachment


def attach(pdf: bytes, attachment: dict | None) -> bytes:
    """The PDF with the proofs embedded as a file attachment (before it is signed: the signature
    then covers the attachment too)."""
    if attachment is None:
        return pdf
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.add_attachment(ATTACHMENT, json.dumps(attachment, ensure_ascii=False, indent=1).encode())
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
