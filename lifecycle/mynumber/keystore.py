"""Envelope encryption of retained 個人番号 copies, so that a purge is real deletion.

Key layout (all under the instance folder, never in the database)::

    instance/keys/kek.key                    key-encryption key (hex, 256 bit; crypto.ensure_keys)
    instance/keys/mynumber/<bucket>.key      one data key per purge hour, AES-KW wrapped by kek.key

`<bucket>` is the UTC hour of the copies' `purge_after` (``YYYYMMDDHH``): every copy due in the
same hour shares a data key, so purging a million copies deletes a handful of files, not a million.
Each copy is sealed with AES-256-GCM under its bucket's key; the associated data binds the
ciphertext to the copy's id and bucket, so a ciphertext moved to another row does not decrypt.

Once the last live copy of a bucket is purged its key file is deleted. From then on no database
file, WAL page or backup taken earlier can reveal those copies: the ciphertext may survive there,
the key does not. That is why backups must never contain ``keys/mynumber/`` (backup.py leaves all
of instance/keys out) and why the key files may only ever be written here. An early purge of one
copy deletes its row at once; its bucket key goes when the bucket's last copy does, which is no
later than the bucket's hour plus one purge interval.

With several app servers the instance/keys folder must be shared by all of them (the copies are
recorded on one server and purged by whichever holds the scheduler lease).

Creating and deleting key files happens while the caller holds the database write lock
(db.transaction()), so a sweep can never delete a key that a copy being recorded is about to use.
"""
from __future__ import annotations

import os
import re
import secrets
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from .. import crypto

SUBDIR = "mynumber"
#: Kept only while `lifecycle keys rotate --kek` runs, so no data key is ever unreadable.
PREVIOUS_KEK = "kek.key.previous"
NONCE = 12
_BUCKET = re.compile(r"[0-9]{10}")


class KeyDestroyed(Exception):
    """The data key is gone: the copy can no longer be decrypted, which is the point of a purge."""


class TamperedCiphertext(Exception):
    """The ciphertext does not belong to this copy and bucket (moved, altered or corrupted)."""


def bucket_of(purge_after: datetime) -> str:
    """The key bucket of a copy: the UTC hour in which it falls due."""
    return purge_after.strftime("%Y%m%d%H")


def bucket_range(bucket: str) -> tuple[datetime, datetime]:
    """The purge_after hour [start, end) that a bucket covers."""
    start = datetime.strptime(bucket, "%Y%m%d%H")
    return start, start + timedelta(hours=1)


def associated_data(copy_id: int, bucket: str) -> bytes:
    return f"lifecycle-mynumber\x00{copy_id}\x00{bucket}".encode()


class KeyStore:
    def __init__(self, instance_path) -> None:
        self.instance_path = Path(instance_path)
        self.folder = crypto.keys_dir(instance_path) / SUBDIR

    def _kek(self) -> bytes:
        return crypto.read_key(self.instance_path, "kek.key")

    def _keks(self) -> list[bytes]:
        """The current KEK, then the previous one while a rotation is unfinished."""
        keks = [self._kek()]
        if (crypto.keys_dir(self.instance_path) / PREVIOUS_KEK).exists():
            keks.append(crypto.read_key(self.instance_path, PREVIOUS_KEK))
        return keks

    def _path(self, bucket: str) -> Path:
        if not _BUCKET.fullmatch(bucket):
            raise ValueError("bad key bucket")
        return self.folder / f"{bucket}.key"

    def buckets(self) -> set[str]:
        """Buckets that still have a key file."""
        if not self.folder.is_dir():
            return set()
        return {p.stem for p in self.folder.glob("*.key") if _BUCKET.fullmatch(p.stem)}

    def has_key(self, bucket: str) -> bool:
        return self._path(bucket).exists()

    def data_key(self, bucket: str, *, create: bool = False) -> bytes:
        """The bucket's data key; with create=True a missing one is generated (call under the write lock)."""
        path = self._path(bucket)
        try:
            wrapped = bytes.fromhex(path.read_text().strip())
        except FileNotFoundError:
            if not create:
                raise KeyDestroyed(bucket) from None
            return self._create(path)
        for kek in self._keks():
            try:
                return aes_key_unwrap(kek, wrapped)
            except (InvalidUnwrap, ValueError):
                continue
        raise KeyDestroyed(bucket)

    def rewrap(self) -> int:
        """Wraps every data key with the current KEK (after `rotate_kek`); returns how many.
        Each file is replaced atomically, so an interrupted run is finished by the next one."""
        count = 0
        kek = self._kek()
        for bucket in sorted(self.buckets()):
            path = self._path(bucket)
            key = self.data_key(bucket)
            temp = path.with_name(f".{bucket}.{secrets.token_hex(4)}.tmp")
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(aes_key_wrap(kek, key).hex().encode())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
            count += 1
        self._sync_folder()
        return count

    def _create(self, path: Path) -> bytes:
        key = AESGCM.generate_key(bit_length=256)
        wrapped = aes_key_wrap(self._kek(), key).hex().encode()
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        temp = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(wrapped)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temp, path)  # atomic and never overwrites: a concurrent creator wins once
            except FileExistsError:
                return self.data_key(path.stem)
        finally:
            temp.unlink(missing_ok=True)
        self._sync_folder()
        return key

    def encrypt(self, copy_id: int, bucket: str, plaintext: str, key: bytes | None = None) -> bytes:
        key = key or self.data_key(bucket, create=True)
        nonce = os.urandom(NONCE)
        return nonce + AESGCM(key).encrypt(nonce, plaintext.encode("ascii"),
                                           associated_data(copy_id, bucket))

    def decrypt(self, copy_id: int, bucket: str, blob: bytes) -> str:
        aead = AESGCM(self.data_key(bucket))
        try:
            data = aead.decrypt(bytes(blob[:NONCE]), bytes(blob[NONCE:]), associated_data(copy_id, bucket))
        except InvalidTag:
            raise TamperedCiphertext(copy_id) from None
        return data.decode("ascii")

    def destroy(self, bucket: str) -> bool:
        """Deletes a bucket's key file; True if there was one. Overwrites first, as far as the
        file system lets that mean anything; the unlink is what counts (the key is wrapped)."""
        path = self._path(bucket)
        try:
            size = path.stat().st_size
            with open(path, "r+b") as handle:
                handle.write(b"0" * size)
                handle.flush()
                os.fsync(handle.fileno())
            path.unlink()
        except FileNotFoundError:
            return False
        self._sync_folder()
        return True

    def _sync_folder(self) -> None:
        try:
            fd = os.open(self.folder, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)
