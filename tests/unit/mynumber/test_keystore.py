import os
import stat
import threading
from datetime import datetime

import pytest
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap

from lifecycle import crypto
from lifecycle.mynumber.keystore import (KeyDestroyed, KeyStore, TamperedCiphertext, bucket_of,
                                         bucket_range)


@pytest.fixture
def store(tmp_path):
    crypto.ensure_keys(tmp_path)
    return KeyStore(tmp_path)


def test_bucket_is_the_utc_hour_of_purge_after():
    assert bucket_of(datetime(2026, 11, 23, 9, 59, 59)) == "2026112309"
    start, end = bucket_range("2026112309")
    assert start == datetime(2026, 11, 23, 9) and end == datetime(2026, 11, 23, 10)


def test_round_trip_and_the_key_file_is_wrapped_by_the_kek(store, tmp_path):
    blob = store.encrypt(7, "2026112309", "123456789018")
    assert b"123456789018" not in blob
    assert store.decrypt(7, "2026112309", blob) == "123456789018"
    path = tmp_path / "keys" / "mynumber" / "2026112309.key"
    wrapped = bytes.fromhex(path.read_text())
    key = aes_key_unwrap(crypto.read_key(tmp_path, "kek.key"), wrapped)
    assert len(key) == 32 and key.hex() not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert store.buckets() == {"2026112309"}


def test_ciphertext_is_bound_to_copy_and_bucket(store):
    blob = store.encrypt(7, "2026112309", "123456789018")
    with pytest.raises(TamperedCiphertext):
        store.decrypt(8, "2026112309", blob)
    store.data_key("2026112310", create=True)
    with pytest.raises(TamperedCiphertext):
        store.decrypt(7, "2026112310", blob)
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(TamperedCiphertext):
        store.decrypt(7, "2026112309", tampered)


def test_destroyed_key_makes_the_copy_unreadable(store):
    blob = store.encrypt(1, "2026112309", "123456789018")
    assert store.destroy("2026112309") is True
    with pytest.raises(KeyDestroyed):
        store.decrypt(1, "2026112309", blob)
    assert store.destroy("2026112309") is False
    assert store.buckets() == set()


def test_a_key_file_under_another_kek_does_not_unwrap(store, tmp_path):
    blob = store.encrypt(1, "2026112309", "123456789018")
    other = tmp_path / "other"
    crypto.ensure_keys(other)
    os.makedirs(other / "keys" / "mynumber")
    (other / "keys" / "mynumber" / "2026112309.key").write_bytes(
        (tmp_path / "keys" / "mynumber" / "2026112309.key").read_bytes())
    with pytest.raises(KeyDestroyed):
        KeyStore(other).decrypt(1, "2026112309", blob)


def test_concurrent_creators_agree_on_one_key(store, tmp_path):
    keys, barrier = [], threading.Barrier(8)

    def create():
        barrier.wait()
        keys.append(KeyStore(tmp_path).data_key("2026112311", create=True))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 1
    assert [p.name for p in (tmp_path / "keys" / "mynumber").iterdir()] == ["2026112311.key"]


def test_missing_key_without_create_is_destroyed(store):
    with pytest.raises(KeyDestroyed):
        store.data_key("2026112312")


@pytest.mark.parametrize("bucket", ["../kek", "2026", "20261123xx", "2026112309/../../x"])
def test_bucket_names_cannot_escape_the_folder(store, bucket):
    with pytest.raises(ValueError):
        store.data_key(bucket, create=True)
