"""What poppler's pdfsig and pyHanko's validator say about a signed PDF, read from their output."""
from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PYHANKO = Path(sys.executable).with_name("pyhanko")


@dataclass
class Verdict:
    pdfsig: str
    pyhanko: str
    pyhanko_exit: int

    @property
    def pdfsig_valid(self) -> bool:
        """Integrity per pdfsig: the signature is valid and covers the whole file. The issuer is
        not in pdfsig's NSS trust store, which it reports on its own line and is not checked here."""
        return ("Signature Validation: Signature is Valid." in self.pdfsig
                and "Total document signed" in self.pdfsig)

    @property
    def pyhanko_valid(self) -> bool:
        """pyHanko, with the instance's CA as the only trust root: intact, trusted, untouched."""
        return self.pyhanko_exit == 0 and ":INTACT:TRUSTED,UNTOUCHED" in self.pyhanko


def check(pdf: bytes, ca_pem: bytes, folder: Path) -> Verdict:
    if shutil.which("pdfsig") is None or not PYHANKO.exists():
        pytest.skip("pdfsig (poppler-utils) or the pyhanko command (pyhanko-cli) is missing")
    folder.mkdir(parents=True, exist_ok=True)
    document, ca = folder / "report.pdf", folder / "ca.pem"
    document.write_bytes(pdf)
    ca.write_bytes(ca_pem)
    poppler = subprocess.run(["pdfsig", str(document)], capture_output=True, text=True, timeout=60)
    hanko = subprocess.run([str(PYHANKO), "sign", "validate", "--trust-replace", "--trust", str(ca),
                            str(document)], capture_output=True, text=True, timeout=60)
    return Verdict(poppler.stdout + poppler.stderr, hanko.stdout, hanko.returncode)


def tamper(pdf: bytes) -> bytes:
    """One byte changed inside the first signed range: in the header comment, so the file still
    parses and only the digest can tell."""
    data = bytearray(pdf)
    at = data.index(b"\n", 9) - 2  # the second line (a comment of binary or producer bytes)
    data[at] = (data[at] + 1) % 256 or 1
    return bytes(data)
