"""Keys under instance/keys/ (never in the database, never committed) and what is done with them.

- secret_key: Flask session signing.
- label_hmac.key: the current label HMAC key; label_hmac.old holds retired keys, one per line, so
  labels printed before a rotation still verify.
- checkpoint_ed25519.pem: signs audit checkpoints; the public half is exported for auditors.
- kek.key: the key-encryption key that wraps the per-bucket data keys of 個人番号 copies.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_FILES = ("secret_key", "label_hmac.key", "kek.key")
LABEL_TAG_CHARS = 16  # 96 bits of HMAC: forging one by chance is out of reach


def keys_dir(instance_path: str | os.PathLike) -> Path:
    return Path(instance_path) / "keys"


def _write_secret(path: Path, data: bytes) -> None:
    """Creates the file 0600 atomically; an existing key is never overwritten."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def ensure_keys(instance_path: str | os.PathLike) -> Path:
    """Generates whatever key is missing; safe to call at every start and from several processes."""
    folder = keys_dir(instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    for name in KEY_FILES:
        path = folder / name
        if not path.exists():
            try:
                _write_secret(path, secrets.token_hex(32).encode())
            except FileExistsError:
                pass
    signing = folder / "checkpoint_ed25519.pem"
    if not signing.exists():
        private = Ed25519PrivateKey.generate()
        try:
            _write_secret(signing, private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
        except FileExistsError:
            pass
    return folder


def read_key(instance_path, name: str) -> bytes:
    return bytes.fromhex((keys_dir(instance_path) / name).read_text().strip())


class LabelSigner:
    """HMAC tags on label payloads: `<code>.<tag>`; old keys still verify after a rotation."""

    def __init__(self, current: bytes, retired: list[bytes] | None = None) -> None:
        self.current = current
        self.keys = [current] + list(retired or [])

    @classmethod
    def from_instance(cls, instance_path) -> "LabelSigner":
        folder = keys_dir(instance_path)
        retired_file = folder / "label_hmac.old"
        retired = []
        if retired_file.exists():
            retired = [bytes.fromhex(line) for line in retired_file.read_text().split() if line]
        return cls(read_key(instance_path, "label_hmac.key"), retired)

    @staticmethod
    def _tag(key: bytes, code: str) -> str:
        mac = hmac.new(key, b"lifecycle-label\x00" + code.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode()[:LABEL_TAG_CHARS]

    def payload(self, code: str) -> str:
        return f"{code}.{self._tag(self.current, code)}"

    def verify(self, payload: str) -> str | None:
        """The item code if the tag is genuine under any known key, else None."""
        if not isinstance(payload, str) or len(payload) > 100 or "." not in payload:
            return None
        code, _, tag = payload.rpartition(".")
        if not code or not payload.isascii():  # tags are base64url; anything else is not ours
            return None
        for key in self.keys:
            if hmac.compare_digest(self._tag(key, code), tag):
                return code
        return None


def signing_key(instance_path) -> Ed25519PrivateKey:
    data = (keys_dir(instance_path) / "checkpoint_ed25519.pem").read_bytes()
    return serialization.load_pem_private_key(data, password=None)


def public_key_pem(instance_path) -> bytes:
    return signing_key(instance_path).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def verify_signature(public_pem: bytes, signature: bytes, message: bytes) -> bool:
    key = serialization.load_pem_public_key(public_pem)
    assert isinstance(key, Ed25519PublicKey)
    try:
        key.verify(signature, message)
        return True
    except Exception:
        return False


def _replace_secret(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    _write_secret(temp, data)
    os.replace(temp, path)


def rotate_label_key(instance_path) -> None:
    """A new label HMAC key; the old one moves to label_hmac.old so printed labels still verify."""
    folder = keys_dir(instance_path)
    current = (folder / "label_hmac.key").read_text().strip()
    with open(folder / "label_hmac.old", "a", encoding="ascii") as handle:
        handle.write(current + "\n")
    os.chmod(folder / "label_hmac.old", 0o600)
    _replace_secret(folder / "label_hmac.key", secrets.token_hex(32).encode())


def rotate_kek(instance_path) -> None:
    """A new key-encryption key. The old one stays as kek.key.previous until the data keys are
    re-wrapped (KeyStore.rewrap), then `finish_kek_rotation` removes it."""
    folder = keys_dir(instance_path)
    previous = folder / "kek.key.previous"
    if not previous.exists():  # an unfinished rotation keeps its previous key
        _replace_secret(previous, (folder / "kek.key").read_bytes())
    _replace_secret(folder / "kek.key", secrets.token_hex(32).encode())


def finish_kek_rotation(instance_path) -> None:
    (keys_dir(instance_path) / "kek.key.previous").unlink(missing_ok=True)
