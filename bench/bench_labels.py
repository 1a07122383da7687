"""Label renderer timings: a 1,000-label A4 12-up sheet with realistic 60-70 character QR URLs.

Run from the repository root: .venv/bin/python bench/bench_labels.py
Target (2-core machine): 1,000 labels a4-12 < 2 s. Also prints where the time goes (QR symbols
alone, the library's QRCode.make() for comparison) and the page-compression trade-off.
Exits 1 when the target is missed, so `make bench` notices.
"""
from __future__ import annotations

import os
import random
import string
import sys
import time
from datetime import date, timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import qrcode  # noqa: E402

from lifecycle.labels import render  # noqa: E402
from lifecycle.labels.layouts import get_layout  # noqa: E402
from lifecycle.labels.qr import ERROR_CORRECTION, qr_matrix  # noqa: E402
from lifecycle.labels.render import LabelData, render_labels  # noqa: E402

TARGET_S = 2.0
COUNT = 1000
KINDS = [("F", "帳票"), ("M", "媒体"), ("D", "機器")]
TITLES = ["住民票の写し（広域交付）", "課税資料（自動車税）令和8年度 第2四半期分 納税義務者一覧",
          "旅券発給申請に係る住民票の写し", "県営住宅 滞納家賃の徴収に関する照会結果",
          "教育委員会への一括提供（就学援助）", "代表端末 No.3（リース）"]
DEPARTMENTS = ["市町課", "税務課", "自動車税事務所", "住宅課", "旅券センター", "県北広域本部 福祉課"]


def labels(n: int) -> list[LabelData]:
    rnd = random.Random(8)
    result = []
    for i in range(n):
        prefix, kind = KINDS[i % 3]
        code = f"{prefix}-2026-{i:06d}"
        # payload = code + "." + an HMAC tag: 60-70 characters with this base URL
        tag = "".join(rnd.choices(string.ascii_letters + string.digits + "-_", k=rnd.randint(22, 32)))
        result.append(LabelData(code, kind, TITLES[i % len(TITLES)], DEPARTMENTS[i % len(DEPARTMENTS)],
                                date(2026, 4, 1) + timedelta(days=i % 365),
                                f"http://127.0.0.1:5000/s/{code}.{tag}"))
    return result


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def main() -> int:
    data = labels(COUNT)
    urls = [label.qr_url for label in data]
    layout = get_layout("a4-12")
    render_labels(data[:12], layout)  # font registration and per-version tables, once per process

    lengths = sorted(len(url) for url in urls)
    print(f"QR payloads: {lengths[0]}-{lengths[-1]} characters")
    seconds, _ = timed(lambda: [qr_matrix(url) for url in urls])
    print(f"{COUNT} QR symbols (lifecycle.labels.qr): {seconds:.2f} s")

    def library(sample):
        for url in sample:
            qr = qrcode.QRCode(error_correction=ERROR_CORRECTION)
            qr.add_data(url)
            qr.make()
    seconds, _ = timed(library, urls[:100])
    print(f"{COUNT} QR symbols (qrcode.QRCode.make, extrapolated from 100): {seconds * 10:.2f} s")

    results = {}
    for compression in (False, True):
        render.PAGE_COMPRESSION = compression
        best = min(timed(render_labels, data, layout) for _ in range(3))
        results[compression] = best
        pages = best[1].count(b"/Type /Page\n") or best[1].count(b"/Type /Page ")
        print(f"{COUNT} labels a4-12: {best[0]:.2f} s, {pages} pages, "
              f"{len(best[1]) / 1e6:.1f} MB (page compression {'on' if compression else 'off'})")
    render.PAGE_COMPRESSION = True

    roll = get_layout("roll-62mm")
    seconds, pdf = timed(render_labels, data[:100], roll)
    print(f"100 labels roll-62mm: {seconds:.2f} s, {len(pdf) / 1e6:.2f} MB")

    seconds = results[True][0]
    if seconds >= TARGET_S:
        print(f"FAIL: {seconds:.2f} s ≥ {TARGET_S} s")
        return 1
    print(f"OK: under {TARGET_S} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
