"""Index speed: a full build of the docsite, where the time goes, and one changed page re-indexed.

    .venv/bin/python -m ops.bench.index [--grid] [--sample 256]

Crawls a copy of ../shared/site into a fresh DATA_DIR, indexes it in-process (crawler page store ->
Encoder -> Qdrant Edge, the code `mde index` runs), then edits one article, re-crawls and re-indexes
(goal: <= 5 % of the full build's time). `--grid` also measures embedding throughput for each
torch thread count and batch size on a sample of real chunks (`index.embedding_threads/_batch`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared.settings import PROJECT_ROOT, Settings, load_settings

SHARED = PROJECT_ROOT.parent / "shared"
CHANGED = "linux-exclusions"


class Timed:
    """Adds the wall time of every method call on `inner` to `clock[label]`."""

    def __init__(self, inner: Any, label: str, clock: dict[str, float]) -> None:
        self._inner, self._label, self._clock = inner, label, clock

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not callable(attribute):
            return attribute

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return attribute(*args, **kwargs)
            finally:
                self._clock[self._label] = self._clock.get(self._label, 0.0) + \
                    time.perf_counter() - started

        return timed


def start_site(root: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, str(SHARED / "tools" / "docsite.py"), "--port",
                                str(port), "--root", str(root)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    return process


def timed_index(settings: Settings, embedder: Any, retriever: Any) -> dict[str, Any]:
    """One in-process index run with a per-peer time breakdown."""
    from services.indexer import indexing
    from services.indexer.peers import StorePageSource

    clock: dict[str, float] = {}
    source = Timed(StorePageSource(settings), "read pages", clock)
    started = time.perf_counter()
    result = indexing.run(source, Timed(embedder, "embed", clock),
                          Timed(retriever, "store (BM25 + Qdrant Edge)", clock), settings)
    total = time.perf_counter() - started
    clock["clean + chunk + plan"] = total - sum(clock.values())
    return {"seconds": round(total, 2), "pages": result["pages_indexed"],
            "chunks": result["chunks_written"], "full": result["full"],
            "pages_per_sec": round(result["pages_indexed"] / total, 2),
            "chunks_per_sec": round(result["chunks_written"] / total, 2),
            "breakdown_sec": {k: round(v, 2) for k, v in clock.items()}}


def embedding_grid(settings: Settings, texts: list[str]) -> list[dict[str, Any]]:
    """texts/s for each (threads, batch) on the same texts (each measured after a warm-up)."""
    import torch

    from services.embedding.encoder import Encoder

    rows = []
    encoder = Encoder(settings.index.embedding_model, 64, 2)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for batch in (8, 16, 32, 64, 128):
            encoder.batch_size = batch
            encoder.embed(texts[:batch])
            started = time.perf_counter()
            encoder.embed(texts)
            seconds = time.perf_counter() - started
            rows.append({"threads": threads, "batch": batch,
                         "texts_per_sec": round(len(texts) / seconds, 1)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--grid", action="store_true", help="embedding threads x batch grid")
    parser.add_argument("--sample", type=int, default=256, help="chunks for the grid")
    args = parser.parse_args(argv)
    from ops.bench.crawl import free_port
    from services.crawler.crawl import run_crawl
    from services.embedding.client import LocalEmbedder
    from services.retrieval.retriever import Retriever
    from services.retrieval.store import open_store

    work = Path(tempfile.mkdtemp(prefix="mde-bench-index-"))
    root = work / "site"
    shutil.copytree(SHARED / "site", root)
    port = free_port()
    site = start_site(root, port)
    os.environ.update({"CRAWL__BASE_URL": f"http://127.0.0.1:{port}/en-us/defender-endpoint/",
                       "CRAWL__ALLOWED_DOMAIN": f"127.0.0.1:{port}",
                       "CRAWL__SLEEP_BETWEEN_REQUESTS_SEC": "0", "REDIS_PORT": str(free_port())})
    settings = load_settings(data_dir=work / "data")
    report: dict[str, Any] = {}
    try:
        run_crawl(settings)
        embedder = LocalEmbedder(settings)
        retriever = Retriever(open_store(settings), embedder, settings.index)
        report["full"] = timed_index(settings, embedder, retriever)
        page = root / "en-us" / "defender-endpoint" / f"{CHANGED}.html"
        page.write_text(page.read_text().replace("</main>", "<p>One more sentence.</p></main>"))
        run_crawl(settings)
        report["one_changed_page"] = timed_index(settings, embedder, retriever)
        report["ratio_changed_to_full"] = round(report["one_changed_page"]["seconds"] /
                                                report["full"]["seconds"], 4)
        if args.grid:
            texts = [c.embed_text for c in retriever.chunks(None, args.sample).items]
            report["embedding_grid"] = embedding_grid(settings, texts)
        retriever.close()
    finally:
        site.terminate()
        site.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
