"""CSV that Excel opens correctly and safely, streamed so memory stays flat on any row count."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence

#: Excel reads a BOM-less CSV as Shift_JIS and garbles the Japanese; with the BOM it uses UTF-8.
BOM = "\ufeff".encode()

#: Excel evaluates a cell starting with one of these as a formula (CSV/formula injection, OWASP):
#: a title such as `=HYPERLINK("http://…","開く")` typed into the system would run on the
#: auditor's PC when the ledger is opened. A leading apostrophe makes Excel show the text as is.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")

#: Rows per yielded chunk: large enough to keep the overhead per chunk small, small enough that
#: a chunk is a few tens of kilobytes.
CHUNK_ROWS = 500


def neutralise(cell: object) -> str:
    """The cell as text, with a leading apostrophe if Excel would take it for a formula."""
    text = "" if cell is None else str(cell)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def iter_csv(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[bytes]:
    """BOM, header, then rows in chunks, CRLF line ends as Excel and RFC 4180 expect."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def take() -> bytes:
        data = buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
        return data

    writer.writerow([neutralise(c) for c in columns])
    yield BOM + take()
    pending = 0
    for row in rows:
        writer.writerow([neutralise(c) for c in row])
        pending += 1
        if pending == CHUNK_ROWS:
            yield take()
            pending = 0
    if pending:
        yield take()
