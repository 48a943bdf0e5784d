"""Crawl speed: a full crawl of the docsite, then an unchanged re-crawl "a day later", then one that
must revalidate every page (conditional requests, 304s).

    .venv/bin/python -m ops.bench.crawl [--delay-ms 50] [--sleep 0] [--runs 1]

The site is a copy of ../shared/site whose file times are set back two days, so its sitemap
`<lastmod>` dates lie before the full crawl and the re-crawl may skip by them. Each run uses a fresh
DATA_DIR. Prints pages/s of the full crawl and the re-crawl/full time ratios (goal <= 0.10).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from services.crawler.crawl import Crawler, CrawlResult
from services.crawler.store import PageStore
from shared.settings import PROJECT_ROOT, Settings, load_settings

SHARED = PROJECT_ROOT.parent / "shared"
TWO_DAYS = 2 * 86400


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def aged_copy(folder: Path) -> Path:
    """A copy of the site whose pages last changed two days ago."""
    root = folder / "site"
    shutil.copytree(SHARED / "site", root)
    past = time.time() - TWO_DAYS
    for path in root.rglob("*"):
        os.utime(path, (past, past))
    return root


def start_docsite(root: Path, delay_ms: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(SHARED / "tools" / "docsite.py"), "--port", str(port), "--root",
         str(root), "--delay-ms", str(delay_ms)], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("docsite did not start")


def crawl_once(settings: Settings) -> tuple[CrawlResult, float]:
    store = PageStore(settings)
    try:
        started = time.perf_counter()
        result = Crawler(settings, store).run()
        return result, time.perf_counter() - started
    finally:
        store.close()


def one_run(port: int, data_dir: Path, sleep: float) -> dict:
    crawl = {"base_url": f"http://127.0.0.1:{port}/en-us/defender-endpoint/",
             "allowed_domain": f"127.0.0.1:{port}", "sleep_between_requests_sec": sleep}
    settings = load_settings(data_dir=data_dir, crawl=crawl)
    full, full_s = crawl_once(settings)
    again, again_s = crawl_once(settings)
    revalidate = load_settings(data_dir=data_dir, crawl={**crawl, "revalidate_days": 0})
    checked, checked_s = crawl_once(revalidate)
    pages = sum(full.counts.values())
    return {"pages": pages, "full_s": round(full_s, 2), "pages_per_s": round(pages / full_s, 1),
            "full_requests": full.requests,
            "recrawl_s": round(again_s, 3), "recrawl_requests": again.requests,
            "recrawl_ratio": round(again_s / full_s, 3), "recrawl_details": again.details,
            "revalidate_s": round(checked_s, 2), "revalidate_requests": checked.requests,
            "revalidate_ratio": round(checked_s / full_s, 3), "revalidate_details": checked.details}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delay-ms", type=int, default=50, help="docsite latency per answer")
    parser.add_argument("--sleep", type=float, default=0.0,
                        help="crawl.sleep_between_requests_sec (the politeness gap)")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mde-bench-crawl-") as tmp:
        folder = Path(tmp)
        site, port = start_docsite(aged_copy(folder), args.delay_ms)
        try:
            runs = [one_run(port, folder / f"data-{n}", args.sleep) for n in range(args.runs)]
        finally:
            site.terminate()
            site.wait(10)
    for run in runs:
        print(json.dumps(run))
    median = {key: statistics.median(run[key] for run in runs)
              for key in ("full_s", "pages_per_s", "recrawl_ratio", "revalidate_ratio")}
    print(f"delay {args.delay_ms} ms, gap {args.sleep} s, concurrency "
          f"{load_settings().crawl.concurrency}, {args.runs} run(s), medians: "
          f"full crawl {median['full_s']} s ({median['pages_per_s']} pages/s); "
          f"unchanged re-crawl / full = {median['recrawl_ratio']} (goal <= 0.10); "
          f"revalidate-all / full = {median['revalidate_ratio']}")


if __name__ == "__main__":
    main()
