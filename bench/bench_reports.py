"""Report renderer timings: ledger PDF at 10k and 50k rows (growth should be linear), the PAdES
signature every served report PDF gets (documents/signing.py) on the 10k-row PDF, and a 100k-row
CSV stream with its peak memory.

Run from the repository root: .venv/bin/python bench/bench_reports.py
Targets (2-core machine): 10,000 rows < 2 s rendered and signed, 50,000 rows < 9 s, CSV memory flat.
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from datetime import date, datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lifecycle.documents.render import Checkpoint, Imprint, LedgerReport, iter_ledger_csv, render_ledger_pdf

COLUMNS = [("管理番号", 9), ("件名", 24), ("利用事務", 20), ("所属", 10), ("状態", 6),
           ("保管者", 8), ("登録日", 9), ("保存期限", 9), ("備考", 12)]
TITLES = ["住民票の写し（広域交付）", "課税資料（自動車税）令和8年度 第2四半期分 納税義務者一覧",
          "旅券発給申請に係る住民票の写し", "県営住宅 滞納家賃の徴収に関する照会結果"]
BUSINESSES = ["旅券の発給に関する事務", "自動車税の賦課徴収に関する事務",
              "県営住宅の滞納家賃等の徴収に関する事務（県条例）"]
DEPARTMENTS = ["税務課", "自動車税事務所", "住宅課", "旅券センター", "県北広域本部 福祉課"]


def rows(n: int):
    """A generator, as a streamed query would be: nothing is held."""
    for i in range(n):
        yield [f"F-2026-{i:06d}", TITLES[i % 4], BUSINESSES[i % 3], DEPARTMENTS[i % 5], "保管中",
               "山田 太郎", f"令和8年{i % 12 + 1}月{i % 28 + 1}日", "令和15年3月31日",
               "" if i % 3 else "引継ぎ中（差戻し後に再依頼）"]


def imprint() -> Imprint:
    return Imprint("○○県総務部市町課", datetime(2026, 11, 22, 5, 5), "山田 太郎",
                   Checkpoint(1234, "9f3a" * 16, datetime(2026, 11, 21, 18, 0)))


def bench_pdf(n: int) -> tuple[float, int]:
    report = LedgerReport("form", COLUMNS, list(rows(n)), imprint(), date(2026, 4, 1),
                          date(2026, 11, 22), [("所属", "全所属")])
    start = time.perf_counter()
    pdf = render_ledger_pdf(report)
    return time.perf_counter() - start, len(pdf)


def bench_signed(n: int) -> tuple[float, float, int]:
    """(render seconds, signing seconds, signed size) with a throwaway instance's signing key."""
    import tempfile

    from flask import Flask

    from lifecycle import crypto
    from lifecycle.documents.signing import sign_pdf

    report = LedgerReport("form", COLUMNS, list(rows(n)), imprint(), date(2026, 4, 1),
                          date(2026, 11, 22), [("所属", "全所属")])
    with tempfile.TemporaryDirectory() as instance:
        crypto.ensure_keys(instance)
        with Flask(__name__, instance_path=instance).app_context():
            start = time.perf_counter()
            pdf = render_ledger_pdf(report)
            rendered = time.perf_counter()
            signed = sign_pdf(pdf)
            done = time.perf_counter()
    return rendered - start, done - rendered, len(signed)


def csv_child(n: int) -> None:
    """Runs in a fresh process, so the peak RSS is the CSV's alone, not the PDFs'.

    Linux carries ru_maxrss over fork and exec, so main() runs this before any PDF is rendered.
    """
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    size = sum(len(chunk) for chunk in iter_ledger_csv([h for h, _ in COLUMNS], rows(n)))
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{n} {seconds:.3f} {size} {before} {peak}")


def bench_csv(n: int) -> tuple[float, int, int, int]:
    out = subprocess.run([sys.executable, __file__, "--csv", str(n)], capture_output=True,
                         text=True, check=True).stdout.split()
    return float(out[1]), int(out[2]), int(out[3]), int(out[4])


def main() -> None:
    for n in (10_000, 100_000):
        seconds, size, before, peak = bench_csv(n)
        print(f"ledger CSV {n:>7,} rows: {seconds:6.2f} s  {size / 1e6:6.1f} MB written  "
              f"peak RSS {peak / 1024:.1f} MB (after imports {before / 1024:.1f} MB)")
    render_ledger_pdf(LedgerReport("form", COLUMNS, list(rows(50)), imprint()))  # font loading
    per_row = []
    for n in (10_000, 50_000):
        seconds, size = bench_pdf(n)
        per_row.append(seconds / n)
        print(f"ledger PDF {n:>7,} rows: {seconds:6.2f} s  {n / seconds:8,.0f} rows/s  "
              f"{size / 1e6:6.1f} MB")
    print(f"ledger PDF growth: time per row at 50k / at 10k = {per_row[1] / per_row[0]:.2f} "
          "(1.00 = linear)")
    render, sign, size = bench_signed(10_000)
    print(f"ledger PDF  10,000 rows signed: {render + sign:6.2f} s  (render {render:.2f} s + "
          f"PAdES signature {sign:.3f} s)  {size / 1e6:6.1f} MB")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--csv":
        csv_child(int(sys.argv[2]))
    else:
        main()
