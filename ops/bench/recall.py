"""The retrieval quality table: every search mode and fusion on the index in DATA_DIR, and the
original project's recipe, on the tuning half, the held-out half and all public questions.

    DATA_DIR=... .venv/bin/python -m ops.bench.recall [--questions FILE] [--no-baseline]

DATA_DIR must hold a crawl and an index of the docsite (`mde crawl`, `mde index`). The original
recipe is rebuilt in a temporary Qdrant Edge store from the same crawled pages: the whole page text
with its chrome (BeautifulSoup get_text), 1200-character windows with 150 characters of overlap cut
anywhere (mid-word), dense all-MiniLM-L6-v2 only.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from shared.settings import PROJECT_ROOT, Settings, get_settings

QUESTIONS = PROJECT_ROOT.parent / "shared" / "eval" / "questions.jsonl"
VARIANTS: list[tuple[str, str, dict[str, Any]]] = [
    ("dense", "dense", {}),
    ("sparse (BM25)", "sparse", {}),
    ("hybrid RRF", "hybrid", {"fusion": "rrf", "fusion_weights": [1.0, 1.0]}),
    ("hybrid weighted RRF 2:1", "hybrid", {"fusion": "rrf", "fusion_weights": [2.0, 1.0]}),
    ("hybrid weighted RRF 1:2", "hybrid", {"fusion": "rrf", "fusion_weights": [1.0, 2.0]}),
    ("hybrid DBSF", "hybrid", {"fusion": "dbsf"}),
]
KEYS = ("recall@1", "recall@5", "recall@10", "mrr@10", "section_recall@5")


def windows(text: str, size: int = 1200, overlap: int = 150) -> list[str]:
    return [text[start:start + size] for start in range(0, max(len(text) - overlap, 1),
                                                        size - overlap)]


def baseline_retriever(settings: Settings, embedder: Any) -> Any:
    """The original recipe's index, built in a temporary store."""
    from bs4 import BeautifulSoup

    from services.indexer.chunking import point_id
    from services.indexer.peers import StorePageSource
    from services.retrieval.retriever import Retriever
    from services.retrieval.store import open_store
    from shared.schemas import Chunk, PointIn

    source = StorePageSource(settings)
    chunks: list[Chunk] = []
    for page in source.pages():
        html = source.html(page.id) if page.state in ("new", "changed", "unchanged") else None
        if not html:
            continue
        url = page.canonical_url or page.url
        for n, text in enumerate(windows(BeautifulSoup(html, "lxml").get_text(" "))):
            chunks.append(Chunk(id=point_id(url, n), page_id=page.id, url=url, title="",
                                heading_path=[], position=n, text=text, embed_text=text,
                                content_hash="", page_hash=page.content_hash or ""))
    temp = settings.model_copy(update={"data_dir": Path(tempfile.mkdtemp(prefix="mde-baseline-"))})
    retriever = Retriever(open_store(temp), embedder, settings.index)
    for start in range(0, len(chunks), 256):
        part = chunks[start:start + 256]
        vectors = embedder.embed([c.embed_text for c in part])
        retriever.upsert([PointIn(chunk=c, vector=v) for c, v in zip(part, vectors)])
    return retriever


def row(name: str, search: Any, questions: list[Any], mode: str) -> dict[str, Any]:
    from services.retrieval.evaluation import evaluate, select

    parts = {part: evaluate(search, select(questions, part), 5, mode)
             for part in ("tune", "holdout", "all")}
    return {"variant": name, **{part: {k: parts[part][k] for k in KEYS} for part in parts},
            "p95_ms": parts["all"]["latency_ms"]["p95"]}  # type: ignore[index]


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| variant | half | recall@1 | recall@5 | recall@10 | MRR@10 | section@5 |",
             "|---|---|---|---|---|---|---|"]
    for item in rows:
        for part in ("tune", "holdout", "all"):
            values = " | ".join(f"{item[part][k]:.2f}" for k in KEYS)
            lines.append(f"| {item['variant']} | {part} | {values} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args(argv)
    from services.embedding.client import LocalEmbedder
    from services.retrieval.evaluation import load_questions
    from services.retrieval.retriever import Retriever
    from services.retrieval.store import open_store

    settings = get_settings()
    questions = load_questions(args.questions)
    embedder = LocalEmbedder(settings)
    store = open_store(settings)
    rows = []
    for name, mode, overrides in VARIANTS:
        retriever = Retriever(store, embedder, settings.index.model_copy(update=overrides))
        rows.append(row(name, retriever.search, questions, mode))
        print(json.dumps(rows[-1]), flush=True)
    store.close()
    if not args.no_baseline:
        baseline = baseline_retriever(settings, embedder)
        rows.append(row("original recipe (chrome, 1200-char windows, dense)", baseline.search,
                        questions, "dense"))
        print(json.dumps(rows[-1]), flush=True)
        baseline.close()
    print(markdown(rows))


if __name__ == "__main__":
    main()
