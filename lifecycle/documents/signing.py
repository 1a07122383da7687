"""The one place report PDFs are signed: a PAdES signature (pyHanko) by the instance's
document-signing key (crypto.document_signing), with the signing time in the signature dictionary.

Every PDF served under /reports/ goes through `sign_pdf` once, after rendering; renderers stay
pure and labels stay unsigned. The key files are read on every call (a few small PEM files), so a
certificate installed with `lifecycle keys install-signing-cert` is used from the next report on.
"""
from __future__ import annotations

import asyncio
import io
from concurrent.futures import ThreadPoolExecutor

from flask import current_app
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers

from .. import crypto

FIELD_NAME = "lifecycle-report-signature"


def _signer() -> signers.SimpleSigner:
    where = crypto.document_signing(current_app.instance_path)
    chain = (str(where.chain),) if where.chain.exists() and where.chain.stat().st_size else ()
    signer = signers.SimpleSigner.load(str(where.key), str(where.cert), ca_chain_files=chain)
    if signer is None:  # pyHanko logs the reason and returns None
        raise RuntimeError(f"文書署名の鍵または証明書を読み込めません（{where.key.parent}）。")
    return signer


def sign_pdf(pdf: bytes) -> bytes:
    """The PDF with an invisible PAdES (ETSI.CAdES.detached) signature over the whole file."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    metadata = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME, md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES,
        reason="lifecycle が出力した帳票であることの証明", location="lifecycle")
    out = io.BytesIO()
    _run(signers.async_sign_pdf(writer, metadata, signer=_signer(), output=out))
    return out.getvalue()


def _run(coroutine):
    """pyHanko signs with asyncio. A thread that already runs an event loop (a test harness
    driving a browser, an async server) cannot start another, so the signing then gets a thread
    of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
