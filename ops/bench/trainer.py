"""Trainer benchmark: build the dataset from the docsite pages (the indexer's own cleaner and
chunker over ../shared/site), then one fine-tuning attempt with the configured settings.

    .venv/bin/python -m ops.bench.trainer [--out FILE] [--chunks FILE] [--force]

Settings come from the environment or MDE_CONFIG (e.g. configs/finetune-ci.yaml). Prints the job
result (status, perplexities before/after, tokens/s, wall time) as JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

from shared.logging import setup_logging
from shared.schemas import Chunk
from shared.settings import PROJECT_ROOT, get_settings

SITE = PROJECT_ROOT.parent / "shared" / "site" / "en-us" / "defender-endpoint"
log = logging.getLogger("ops.bench.trainer")


def docsite_chunks() -> list[Chunk]:
    """Every docsite article, cleaned and chunked exactly as the indexer does."""
    from services.indexer.chunking import chunk_page
    from services.indexer.cleaning import clean_html

    processing = get_settings().processing
    chunks: list[Chunk] = []
    for path in sorted(SITE.glob("*.html")):
        html = path.read_text(encoding="utf-8")
        page = clean_html(html)
        url = page.canonical_url or f"https://learn.microsoft.com/en-us/defender-endpoint/{path.stem}"
        digest = hashlib.sha256(html.encode()).hexdigest()
        chunks += chunk_page(page, page_id=digest[:16], url=url, page_hash=digest,
                             settings=processing)
    return chunks


def log_progress(every_sec: float = 30.0) -> Any:
    """Progress into the log at most every `every_sec` (the bench has no bar)."""
    last = 0.0

    def report(stage: str, done: int, total: int, message: str = "", **counts: Any) -> None:
        nonlocal last
        if time.monotonic() - last >= every_sec or done == total:
            last = time.monotonic()
            log.info("%s %d/%d %s %s", stage, done, total, message, counts)

    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, help="also write the result JSON here")
    parser.add_argument("--chunks", type=Path, help="a chunks.jsonl instead of the docsite pages")
    parser.add_argument("--force", action="store_true", help="train even if the dataset is unchanged")
    args = parser.parse_args()
    settings = get_settings()
    setup_logging(settings.log_level)
    from services.trainer import corpus, training
    from services.trainer.dataset import build_dataset

    chunks = corpus.read_chunks_file(args.chunks) if args.chunks else docsite_chunks()
    info = build_dataset(chunks, settings)
    started = time.perf_counter()
    result = training.finetune(settings, log_progress(), dataset=info, force=args.force)
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    result["chunks"], result["dataset_counts"] = len(chunks), info.counts
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
