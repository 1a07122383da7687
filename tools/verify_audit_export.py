#!/usr/bin/env python3
"""Offline verification of a lifecycle audit export (standard library + cryptography only).

    python3 verify_audit_export.py EXPORT.zip [--public-key KEY.pem]

Checks that every event links to the previous one (SHA-256 over the previous hash and the
event's fields joined by U+001F), that sequence numbers run 1, 2, 3 … without gaps, and that
every signed checkpoint matches the event at its sequence number and carries a valid Ed25519
signature. Exit 0 and "ok …" when everything holds; exit 1 naming the first problem.
Pass --public-key with a copy of the key obtained separately: the one inside the export only
proves consistency with itself.
"""
import argparse
import hashlib
import json
import sys
import zipfile

from cryptography.hazmat.primitives.serialization import load_pem_public_key

GENESIS = "0" * 64
SEP = "\x1f"


def event_hash(prev: str, event: dict) -> str:
    text = SEP.join((prev, str(event["seq"]), event["at"], event["type"], event["actor"],
                     event["subject"] or "", event["data"]))
    return hashlib.sha256(text.encode()).hexdigest()


def checkpoint_message(checkpoint: dict) -> bytes:
    return SEP.join(("lifecycle-checkpoint", str(checkpoint["seq"]), checkpoint["head"],
                     checkpoint["created_at"])).encode()


def verify(archive: zipfile.ZipFile, public_pem: bytes) -> tuple[bool, str]:
    checkpoints = json.loads(archive.read("checkpoints.json"))
    wanted = {c["seq"]: c for c in checkpoints}
    hashes_at = {}
    prev, expected = GENESIS, 1
    with archive.open("events.jsonl") as handle:
        for number, line in enumerate(handle, start=1):
            event = json.loads(line)
            if event["seq"] != expected:
                return False, f"broken at event {expected}: sequence jumps to {event['seq']} (line {number}): removed or reordered"
            digest = event_hash(prev, event)
            if digest != event["hash"]:
                return False, f"broken at event {event['seq']}: hash mismatch (event altered or reordered)"
            if event["seq"] in wanted:
                hashes_at[event["seq"]] = digest
            prev, expected = digest, expected + 1
    key = load_pem_public_key(public_pem)
    for checkpoint in checkpoints:
        seq = checkpoint["seq"]
        if seq >= expected:
            return False, f"checkpoint {checkpoint['id']}: covers event {seq}, but the export ends at {expected - 1} (events removed)"
        if seq > 0 and hashes_at.get(seq) != checkpoint["head"]:
            return False, f"checkpoint {checkpoint['id']}: head hash does not match event {seq}"
        try:
            key.verify(bytes.fromhex(checkpoint["signature"]), checkpoint_message(checkpoint))
        except Exception:
            return False, f"checkpoint {checkpoint['id']}: signature is not valid for this public key"
    return True, f"ok {expected - 1} events, {len(checkpoints)} checkpoints, head {prev}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export")
    parser.add_argument("--public-key", help="PEM file of the checkpoint public key")
    args = parser.parse_args(argv)
    with zipfile.ZipFile(args.export) as archive:
        if args.public_key:
            with open(args.public_key, "rb") as handle:
                public_pem = handle.read()
        else:
            public_pem = archive.read("public_key.pem")
        ok, message = verify(archive, public_pem)
    print(message)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
