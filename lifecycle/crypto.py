"""Keys under instance/keys/ (never in the database, never committed) and what is done with them.

- secret_key: Flask session signing.
- label_hmac.key: the current label HMAC key; label_hmac.old holds retired keys, one per line, so
  labels printed before a rotation still verify.
- checkpoint_ed25519.pem: signs audit checkpoints; the public half is exported for auditors.
- kek.key: the key-encryption key that wraps the per-bucket data keys of 個人番号 copies.
- document_signing/: signs report PDFs (PAdES). key.pem, cert.pem and chain.pem (the issuing CA
  certificates). Created with a self-issued CA on first start; `lifecycle keys
  install-signing-cert` replaces it with a certificate issued by the prefecture's CA.
- secrets.key: encrypts secrets kept in the database (the SMTP password), so a copy of the
  database alone does not reveal them.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import NameOID

KEY_FILES = ("secret_key", "label_hmac.key", "kek.key", "secrets.key")
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
    if not (folder / DOCUMENT_SIGNING).exists():
        _create_document_signing(folder)
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


def encrypt_secret(instance_path, plaintext: str, purpose: str) -> bytes:
    """AES-256-GCM under secrets.key; `purpose` is bound as associated data, so a ciphertext kept
    for one setting cannot be moved into another. Stored as nonce + ciphertext."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(12)
    sealed = AESGCM(read_key(instance_path, "secrets.key")).encrypt(nonce, plaintext.encode(), purpose.encode())
    return nonce + sealed


def decrypt_secret(instance_path, blob: bytes, purpose: str) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(read_key(instance_path, "secrets.key")).decrypt(bytes(blob[:12]), bytes(blob[12:]),
                                                                   purpose.encode()).decode()


def finish_kek_rotation(instance_path) -> None:
    (keys_dir(instance_path) / "kek.key.previous").unlink(missing_ok=True)


# --- document signing (PAdES signatures on report PDFs) -------------------------------------------

DOCUMENT_SIGNING = "document_signing"


@dataclass(frozen=True)
class DocumentSigning:
    """Where the report-signing key, its certificate and the issuing CA certificates are."""
    key: Path
    cert: Path
    chain: Path


def document_signing(instance_path) -> DocumentSigning:
    folder = keys_dir(instance_path) / DOCUMENT_SIGNING
    return DocumentSigning(folder / "key.pem", folder / "cert.pem", folder / "chain.pem")


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "lifecycle"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _self_issued_signing(instance_label: str) -> tuple[bytes, bytes, bytes]:
    """(signing key PEM, signing cert PEM, CA cert PEM). The CA key signs the one certificate and is
    not kept: nothing else can ever be issued under this CA."""
    now = datetime.now(timezone.utc) - timedelta(minutes=5)  # a reader's clock a little behind
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"lifecycle 文書署名 CA ({instance_label})")
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now).not_valid_after(now + timedelta(days=365 * 20))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                            key_encipherment=False, data_encipherment=False,
                                            key_agreement=False, key_cert_sign=True, crl_sign=True,
                                            encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
               .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(f"lifecycle 文書署名 ({instance_label})"))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + timedelta(days=365 * 10))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=False, crl_sign=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return _pem_key(key), cert.public_bytes(pem), ca_cert.public_bytes(pem)


def _write_signing_folder(folder: Path, key_pem: bytes, cert_pem: bytes, chain_pem: bytes) -> Path:
    """The three files in a fresh hidden folder next to the final one, ready to be renamed."""
    temp = folder / f".{DOCUMENT_SIGNING}.{secrets.token_hex(4)}"
    temp.mkdir(mode=0o700)
    _write_secret(temp / "key.pem", key_pem)
    for name, data in (("cert.pem", cert_pem), ("chain.pem", chain_pem)):
        (temp / name).write_bytes(data)
    return temp


def _create_document_signing(folder: Path) -> None:
    """The self-issued pair, renamed into place in one step: several processes starting at once
    end with one of them, never with a key of one and a certificate of another."""
    label = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:8]
    temp = _write_signing_folder(folder, *_self_issued_signing(label))
    try:
        os.rename(temp, folder / DOCUMENT_SIGNING)
    except OSError:  # another process was first
        shutil.rmtree(temp, ignore_errors=True)


def _load_certificates(data: bytes) -> list[x509.Certificate]:
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


def install_signing_certificate(instance_path, cert_data: bytes, key_data: bytes,
                                chain_data: bytes | None = None) -> x509.Certificate:
    """Replaces the report-signing key and certificate with ones issued by the prefecture's CA,
    after checking that they belong together. Raises ValueError with a Japanese sentence."""
    try:
        certs = _load_certificates(cert_data)
    except ValueError:
        raise ValueError("証明書ファイルを読み取れません（PEM または DER 形式の X.509 証明書を指定してください）。") from None
    if not certs:
        raise ValueError("証明書ファイルに証明書がありません。")
    cert, extra = certs[0], certs[1:]
    try:
        key = serialization.load_pem_private_key(key_data, password=None) if b"-----BEGIN" in key_data \
            else serialization.load_der_private_key(key_data, password=None)
    except (ValueError, TypeError):
        raise ValueError("秘密鍵ファイルを読み取れません（パスワードのない PEM または DER 形式の秘密鍵を指定してください）。") from None
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise ValueError("秘密鍵は RSA または楕円曲線（ECDSA）の鍵にしてください。")
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if (key.public_key().public_bytes(serialization.Encoding.DER, spki)
            != cert.public_key().public_bytes(serialization.Encoding.DER, spki)):
        raise ValueError("秘密鍵と証明書が対応していません（証明書の公開鍵がこの秘密鍵のものではありません）。")
    now = datetime.now(timezone.utc)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise ValueError(f"証明書の有効期間外です（{cert.not_valid_before_utc:%Y-%m-%d}～"
                         f"{cert.not_valid_after_utc:%Y-%m-%d}）。")
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not (usage.digital_signature or usage.content_commitment):
        raise ValueError("この証明書は署名に使えません（鍵用途に digitalSignature も nonRepudiation もありません）。")
    try:
        chain = extra + (_load_certificates(chain_data) if chain_data else [])
    except ValueError:
        raise ValueError("証明書チェーンのファイルを読み取れません（PEM 形式の証明書を指定してください）。") from None
    if chain:
        try:
            cert.verify_directly_issued_by(chain[0])
        except (ValueError, TypeError, InvalidSignature):
            raise ValueError("証明書チェーンの最初の証明書が、署名用証明書の発行者ではありません。") from None
    pem = serialization.Encoding.PEM
    folder = keys_dir(instance_path)
    temp = _write_signing_folder(folder, _pem_key(key), cert.public_bytes(pem),
                                 b"".join(c.public_bytes(pem) for c in chain))
    current = folder / DOCUMENT_SIGNING
    previous = folder / f".{DOCUMENT_SIGNING}.previous"
    shutil.rmtree(previous, ignore_errors=True)
    if current.exists():
        os.rename(current, previous)
    os.rename(temp, current)
    shutil.rmtree(previous, ignore_errors=True)
    return cert


def signing_ca_pem(instance_path) -> bytes:
    """The certificates that issued the report-signing certificate, for auditors' trust lists."""
    return document_signing(instance_path).chain.read_bytes()
