#!/usr/bin/env python3
"""Offline verification of a lifecycle audit export and of Merkle proofs (standard library + cryptography only).

    python3 verify_audit_export.py EXPORT.zip [--public-key KEY.pem]
    python3 verify_audit_export.py --inclusion PROOF.json [--event-hash HEX] [--checkpoint CP.json --public-key KEY.pem]
    python3 verify_audit_export.py --consistency PROOF.json [--checkpoint CP.json ... --public-key KEY.pem]
    python3 verify_audit_export.py EXPORT.zip --draw PARAMETERS.json [--public-key KEY.pem]

The export: checks that every event links to the previous one (SHA-256 over the previous hash and
the event's fields joined by U+001F), that sequence numbers run 1, 2, 3 … without gaps, and that
every signed checkpoint matches the event at its sequence number, carries a valid Ed25519
signature and, when it has one, the Merkle root of the events up to it.

Proofs (the JSON of GET /api/v1/audit/proof/inclusion or …/consistency): the audit log is also an
RFC 9162 Merkle tree whose leaf i is the event seq i+1, with the 32 bytes of its chain hash as the
leaf data. --inclusion checks that the leaf is in the tree of that size and root; --consistency
that the later tree extends the earlier one without changing it. With --checkpoint (a checkpoint
object, or a list such as checkpoints.json) the roots must be those of signed checkpoints.

The draw of an access-log review (--draw, the parameters the review publishes): after verifying
the export, checks that the seed is the SHA-256 of the named signed checkpoint (its message and
signature), that every import the draw used was recorded at or before that checkpoint (so nobody
knew the seed when the logs went in), and recomputes each department's month and drawn positions
from the seed and the published counts.

Exit 0 and "ok …" when everything holds; exit 1 naming the first problem. Pass --public-key with
a copy of the key obtained separately: the one inside an export only proves consistency with itself.
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
    """Checkpoints with a Merkle root sign it and the tree size too; older ones do not."""
    fields = ["lifecycle-checkpoint", str(checkpoint["seq"]), checkpoint["head"], checkpoint["created_at"]]
    if checkpoint.get("root") is not None:
        fields[0] = "lifecycle-checkpoint-v2"
        fields += [str(checkpoint.get("tree_size", checkpoint["seq"])), checkpoint["root"]]
    return SEP.join(fields).encode()


# --- RFC 9162 section 2.1 ---------------------------------------------------------------------------

def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class Tree:
    """The root of the leaves seen so far, keeping only the complete subtrees' roots."""

    def __init__(self):
        self.stack = []  # (size, hash)

    def push(self, leaf: bytes) -> None:
        size, h = 1, leaf
        while self.stack and self.stack[-1][0] == size:
            h = node_hash(self.stack.pop()[1], h)
            size *= 2
        self.stack.append((size, h))

    def root(self) -> bytes:
        if not self.stack:
            return hashlib.sha256(b"").digest()
        r = self.stack[-1][1]
        for _, h in reversed(self.stack[:-1]):
            r = node_hash(h, r)
        return r


def verify_inclusion(leaf: bytes, index: int, size: int, path: list, root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: list) -> bool:
    """RFC 9162 section 2.1.4.2; equal sizes are consistent with an empty proof and equal roots."""
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root


# --- the export -------------------------------------------------------------------------------------

def signature_ok(key, checkpoint: dict) -> bool:
    try:
        key.verify(bytes.fromhex(checkpoint["signature"]), checkpoint_message(checkpoint))
        return True
    except Exception:
        return False


def verify(archive: zipfile.ZipFile, public_pem: bytes) -> tuple[bool, str]:
    checkpoints = json.loads(archive.read("checkpoints.json"))
    wanted = {c["seq"]: c for c in checkpoints}
    hashes_at, roots_at = {}, {0: Tree().root()}
    tree = Tree()
    prev, expected = GENESIS, 1
    with archive.open("events.jsonl") as handle:
        for number, line in enumerate(handle, start=1):
            event = json.loads(line)
            if event["seq"] != expected:
                return False, f"broken at event {expected}: sequence jumps to {event['seq']} (line {number}): removed or reordered"
            digest = event_hash(prev, event)
            if digest != event["hash"]:
                return False, f"broken at event {event['seq']}: hash mismatch (event altered or reordered)"
            tree.push(leaf_hash(bytes.fromhex(digest)))
            if event["seq"] in wanted:
                hashes_at[event["seq"]] = digest
                roots_at[event["seq"]] = tree.root()
            prev, expected = digest, expected + 1
    key = load_pem_public_key(public_pem)
    for checkpoint in checkpoints:
        seq = checkpoint["seq"]
        if seq >= expected:
            return False, f"checkpoint {checkpoint['id']}: covers event {seq}, but the export ends at {expected - 1} (events removed)"
        if seq > 0 and hashes_at.get(seq) != checkpoint["head"]:
            return False, f"checkpoint {checkpoint['id']}: head hash does not match event {seq}"
        if checkpoint.get("root") is not None:
            if checkpoint.get("tree_size", seq) != seq or roots_at[seq].hex() != checkpoint["root"]:
                return False, f"checkpoint {checkpoint['id']}: Merkle root does not match events 1..{seq}"
        if not signature_ok(key, checkpoint):
            return False, f"checkpoint {checkpoint['id']}: signature is not valid for this public key"
    return True, f"ok {expected - 1} events, {len(checkpoints)} checkpoints, head {prev}, root {tree.root().hex()}"


# --- the access-log review's draw (lifecycle/logreview/sampling.py, repeated here) ----------------

SEED_LABEL = b"lifecycle-logreview-seed"


def draw_seed(checkpoint: dict) -> str:
    message = checkpoint_message(checkpoint)
    return hashlib.sha256(SEED_LABEL + b"\x1f" + message + b"\x1f" + checkpoint["signature"].encode()).hexdigest()


def _draw_number(seed: str, *parts: str) -> int:
    return int.from_bytes(hashlib.sha256(SEP.join((seed,) + parts).encode()).digest(), "big")


def quarter_months(quarter: str) -> list:
    year, number = int(quarter[:4]), int(quarter[5])
    first = 3 * (number - 1) + 1
    return [f"{year}-{month:02d}" for month in range(first, first + 3)]


def draw_month(seed: str, quarter: str, department: str) -> str:
    months = quarter_months(quarter)
    return months[_draw_number(seed, "month", quarter, department) % len(months)]


def draw_positions(seed: str, department: str, month: str, population: int, size: int) -> list:
    if size >= population:
        return list(range(population))
    ranked = sorted(range(population), key=lambda p: (_draw_number(seed, "record", department, month, str(p)), p))
    return sorted(ranked[:size])


def verify_draw(archive: zipfile.ZipFile, parameters: dict) -> tuple:
    checkpoints = {c["id"]: c for c in json.loads(archive.read("checkpoints.json"))}
    named = parameters["checkpoint"]
    checkpoint = checkpoints.get(named["id"])
    if checkpoint is None:
        return False, f"draw: checkpoint {named['id']} is not in the export"
    if checkpoint["signature"] != named["signature"] or checkpoint["seq"] != named["seq"]:
        return False, f"draw: checkpoint {named['id']} differs from the one the parameters name"
    seed = draw_seed(checkpoint)
    if seed != parameters["seed"]:
        return False, "draw: the seed is not the hash of the signed checkpoint"
    imported = {}
    with archive.open("events.jsonl") as handle:
        for line in handle:
            event = json.loads(line)
            if event["type"] == "access_log:imported":
                imported[event["seq"]] = json.loads(event["data"]).get("sha256")
    for entry in parameters["imports"]:
        if imported.get(entry["event_seq"]) != entry["sha256"]:
            return False, f"draw: import {entry['sha256'][:16]}… is not recorded at event {entry['event_seq']}"
        if entry["event_seq"] > checkpoint["seq"]:
            return False, f"draw: import at event {entry['event_seq']} came after the checkpoint (seq {checkpoint['seq']})"
    for department in parameters["departments"]:
        code = department["department"]
        month = draw_month(seed, parameters["quarter"], code)
        if month != department["month"]:
            return False, f"draw: department {code}: month {department['month']} published, {month} recomputed"
        positions = draw_positions(seed, code, month, department["population"], department["size"])
        if positions != department["positions"]:
            return False, f"draw: department {code}: the drawn records differ from the recomputed ones"
    return True, (f"ok draw {parameters['quarter']}: seed from checkpoint {checkpoint['id']} (seq {checkpoint['seq']}), "
                  f"{len(parameters['departments'])} departments recomputed")


# --- proofs -----------------------------------------------------------------------------------------

def _hex32(value, what: str) -> bytes:
    data = bytes.fromhex(value) if isinstance(value, str) else b""
    if len(data) != 32:
        raise ValueError(f"{what} is not a 64-digit hex hash")
    return data


def _signed_root(checkpoints, public_pem, size: int, root: bytes) -> tuple[bool, str]:
    """A checkpoint among `checkpoints` that signs this tree size and root."""
    if public_pem is None:
        return False, "--checkpoint needs --public-key"
    key = load_pem_public_key(public_pem)
    for checkpoint in checkpoints:
        if checkpoint.get("root") is None or checkpoint.get("tree_size", checkpoint["seq"]) != size:
            continue
        if checkpoint["root"] != root.hex():
            return False, f"checkpoint {checkpoint.get('id')}: signs a different root for tree size {size}"
        if not signature_ok(key, checkpoint):
            return False, f"checkpoint {checkpoint.get('id')}: signature is not valid for this public key"
        return True, f"signed by checkpoint {checkpoint.get('id')}"
    return False, f"no checkpoint with a Merkle root for tree size {size}"


def verify_inclusion_file(proof: dict, event_hash_hex=None, checkpoints=None, public_pem=None) -> tuple[bool, str]:
    try:
        index, size = int(proof["leaf_index"]), int(proof["tree_size"])
        leaf, root = _hex32(proof["leaf_hash"], "leaf_hash"), _hex32(proof["root"], "root")
        path = [_hex32(p, "audit_path entry") for p in proof["audit_path"]]
    except (KeyError, TypeError, ValueError) as exc:
        return False, f"not an inclusion proof: {exc}"
    if event_hash_hex is not None and leaf_hash(_hex32(event_hash_hex, "event hash")) != leaf:
        return False, f"leaf_hash is not the leaf of event hash {event_hash_hex}"
    if not verify_inclusion(leaf, index, size, path, root):
        return False, f"inclusion proof does not verify: event {index + 1} is not proven in the tree of {size} events with root {root.hex()}"
    message = f"ok event {index + 1} is in the tree of {size} events with root {root.hex()}"
    if checkpoints is not None:
        ok, said = _signed_root(checkpoints, public_pem, size, root)
        if not ok:
            return False, said
        message += f" ({said})"
    return True, message


def verify_consistency_file(proof: dict, checkpoints=None, public_pem=None) -> tuple[bool, str]:
    try:
        first, second = int(proof["first"]), int(proof["second"])
        first_root, second_root = _hex32(proof["first_root"], "first_root"), _hex32(proof["second_root"], "second_root")
        path = [_hex32(p, "proof entry") for p in proof["proof"]]
    except (KeyError, TypeError, ValueError) as exc:
        return False, f"not a consistency proof: {exc}"
    if not verify_consistency(first, second, first_root, second_root, path):
        return False, (f"consistency proof does not verify: the tree of {second} events does not extend "
                       f"the tree of {first} events with root {first_root.hex()} (rewritten or invalid)")
    message = f"ok the tree of {second} events (root {second_root.hex()}) extends the tree of {first} events (root {first_root.hex()})"
    if checkpoints is not None:
        said = []
        for size, root in ((first, first_root), (second, second_root)):
            ok, text = _signed_root(checkpoints, public_pem, size, root)
            if ok:
                said.append(text)
            elif not text.startswith("no checkpoint"):
                return False, text
        if not said:
            return False, f"no checkpoint signs tree size {first} or {second}"
        message += " (" + ", ".join(said) + ")"
    return True, message


def _load_checkpoints(files):
    out = []
    for name in files:
        with open(name, encoding="utf-8") as handle:
            data = json.load(handle)
        if isinstance(data, dict) and isinstance(data.get("checkpoints"), list):
            data = data["checkpoints"]  # GET /api/v1/audit/checkpoints
        out.extend(data if isinstance(data, list) else [data])
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", nargs="?")
    parser.add_argument("--public-key", help="PEM file of the checkpoint public key")
    parser.add_argument("--inclusion", metavar="PROOF.json", help="verify an inclusion proof")
    parser.add_argument("--consistency", metavar="PROOF.json", help="verify a consistency proof")
    parser.add_argument("--event-hash", help="the event's chain hash: the inclusion proof must be for it")
    parser.add_argument("--checkpoint", action="append", metavar="CP.json",
                        help="signed checkpoint(s) the proof's roots must match (object, list or checkpoints.json)")
    parser.add_argument("--draw", metavar="PARAMETERS.json",
                        help="with an export: recompute an access-log review's draw from its published parameters")
    args = parser.parse_args(argv)
    if sum(x is not None for x in (args.export, args.inclusion, args.consistency)) != 1:
        parser.error("give one of: an export zip, --inclusion PROOF.json, --consistency PROOF.json")
    public_pem = None
    if args.public_key:
        with open(args.public_key, "rb") as handle:
            public_pem = handle.read()
    if args.export:
        with zipfile.ZipFile(args.export) as archive:
            ok, message = verify(archive, public_pem or archive.read("public_key.pem"))
            if ok and args.draw:
                with open(args.draw, encoding="utf-8") as handle:
                    ok, message = verify_draw(archive, json.load(handle))
    else:
        with open(args.inclusion or args.consistency, encoding="utf-8") as handle:
            proof = json.load(handle)
        checkpoints = _load_checkpoints(args.checkpoint) if args.checkpoint else None
        if args.inclusion:
            ok, message = verify_inclusion_file(proof, args.event_hash, checkpoints, public_pem)
        else:
            ok, message = verify_consistency_file(proof, checkpoints, public_pem)
    print(message)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
