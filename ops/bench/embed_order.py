"""Embedding a bulk request shortest text first vs as it arrives: the same chunks, the same model,
alternating rounds in one process (`services.embedding.encoder.Encoder.embed` sorts by length).

    .venv/bin/python -m ops.bench.embed_order [--pages 40] [--rounds 3]

Chunks come from pages of ../shared/site cleaned and chunked by the indexer's own code
(`ops.bench.trainer.docsite_chunks`), in requests of 256 (an index run's request size); "as it
arrives" encodes the same 16-text slices in the request's order, as `embed` did before it sorted.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from ops.bench.trainer import docsite_chunks
from services.embedding.encoder import SLICE, Encoder
from shared.settings import get_settings

REQUEST = 256


def chunk_texts(pages: int, seed: int = 7) -> list[str]:
    """The embedded text of every chunk of a sample of the site's pages, in page order."""
    by_page: dict[str, list[str]] = {}
    for chunk in docsite_chunks():
        by_page.setdefault(chunk.page_id, []).append(chunk.embed_text)
    sample = sorted(by_page)
    random.Random(seed).shuffle(sample)
    return [text for page in sample[:pages] for text in by_page[page]]


def as_it_arrives(encoder: Encoder, texts: list[str]) -> None:
    for start in range(0, len(texts), SLICE):
        encoder.model.encode(texts[start:start + SLICE], batch_size=encoder.batch_size,
                             normalize_embeddings=True, convert_to_numpy=True,
                             show_progress_bar=False)


def timed(run: object, encoder: Encoder, texts: list[str]) -> float:
    started = time.perf_counter()
    for start in range(0, len(texts), REQUEST):
        run(encoder, texts[start:start + REQUEST])  # type: ignore[operator]
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    texts = chunk_texts(args.pages)
    settings = get_settings().index
    encoder = Encoder(settings.embedding_model, settings.embedding_batch,
                      settings.embedding_threads)
    encoder.embed(texts[:SLICE])  # warm up
    arrival, shortest = [], []
    for _ in range(args.rounds):
        arrival.append(timed(as_it_arrives, encoder, texts))
        shortest.append(timed(lambda e, t: e.embed(t), encoder, texts))
    ratios = [a / b for a, b in zip(arrival, shortest)]
    print(f"{len(texts)} chunks from {args.pages} pages, {args.rounds} alternating rounds")
    for name, seconds in (("as it arrives", arrival), ("shortest first", shortest)):
        median = statistics.median(seconds)
        print(f"{name}: {median:.1f} s ({len(texts) / median:.1f} texts/s)")
    spread = ", ".join(f"{ratio:.2f}" for ratio in ratios)
    print(f"speed-up: x{statistics.median(ratios):.2f} (rounds {spread})")


if __name__ == "__main__":
    main()
