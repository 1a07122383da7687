"""The certificate store: PDFs only, size-limited, content-addressed, re-hashable."""
from __future__ import annotations

import hashlib
import io

import pytest

from lifecycle.actors import SystemActor
from lifecycle import files
from lifecycle.errors import Invalid, TooLarge
from lifecycle.extensions import db

from .destruction.test_services import pdf_bytes


def test_stores_content_addressed_with_digest_and_original_name(app, world):
    data = pdf_bytes()
    with db.transaction():
        stored = files.store_pdf(io.BytesIO(data), "C:\\scan\\証明書 第12号.pdf", actor=world["bulk"])
    digest = hashlib.sha256(data).hexdigest()
    assert stored.sha256 == digest and stored.size == len(data)
    assert stored.original_name == "証明書 第12号.pdf" and stored.uploaded_by == "bulk"
    path = files.path_for(digest)
    assert path.read_bytes() == data
    assert path.relative_to(app.instance_path).as_posix() == f"uploads/{digest[:2]}/{digest}.pdf"
    assert list(files.iter_stored_files()) == [(digest, path)]
    assert files.check_integrity(stored).ok


def test_same_content_is_stored_once(app, world):
    data = pdf_bytes()
    with db.transaction():
        a = files.store_pdf(io.BytesIO(data), "a.pdf", actor=SystemActor("system:test", "テスト"))
        b = files.store_pdf(io.BytesIO(data), "b.pdf", actor=SystemActor("system:test", "テスト"))
    assert a.sha256 == b.sha256 and a.id != b.id
    assert len(list(files.iter_stored_files())) == 1


@pytest.mark.parametrize("data", [b"", b"hello", b"PK\x03\x04 word document", b"%PDF-1.7\nnot really a pdf",
                                  b"  %PDF-1.4"])
def test_non_pdf_is_refused(app, world, data):
    with pytest.raises(Invalid) as exc, db.transaction():
        files.store_pdf(io.BytesIO(data), "x.pdf", actor=SystemActor("system:test", "テスト"))
    assert exc.value.code in ("not_pdf", "file_required")
    assert list(files.iter_stored_files()) == []


def test_missing_file_is_refused(app):
    with pytest.raises(Invalid):
        files.read_upload(None, 100)


def test_over_the_limit_is_413(app, world):
    app.config["UPLOAD_MAX_BYTES"] = 100
    with pytest.raises(TooLarge) as exc, db.transaction():
        files.store_pdf(io.BytesIO(pdf_bytes() + b"\0" * 200), "big.pdf", actor=SystemActor("system:test", "テスト"))
    assert exc.value.status == 413 and "上限" in exc.value.message


def test_tampered_or_missing_file_is_detected(app, world):
    with db.transaction():
        stored = files.store_pdf(io.BytesIO(pdf_bytes()), "a.pdf", actor=SystemActor("system:test", "テスト"))
    path = files.path_for(stored.sha256)
    path.write_bytes(path.read_bytes() + b"% appended")
    integrity = files.check_integrity(stored)
    assert not integrity.ok and integrity.actual != stored.sha256 and "改ざん" in integrity.message
    data, again = files.read_verified(stored)
    assert data is None and not again.ok
    path.unlink()
    assert files.check_integrity(stored) == files.Integrity(False, None)


@pytest.mark.parametrize("name,expected", [("../../etc/passwd", "passwd"), ("a\x00b.pdf", "ab.pdf"),
                                           ("", "certificate.pdf"), ("x" * 300 + ".pdf", None)])
def test_clean_name(name, expected):
    cleaned = files.clean_name(name)
    if expected:
        assert cleaned == expected
    else:
        assert len(cleaned) <= 200 and cleaned.endswith(".pdf")


def test_path_for_refuses_non_digests(app):
    with pytest.raises(ValueError):
        files.path_for("../../x")
