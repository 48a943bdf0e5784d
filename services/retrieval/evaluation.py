"""Retrieval quality on a question set: page recall@1/5/10, section recall@5, MRR@10, latency.

A result is a page hit when its URL path ends with an expected source's file name without `.md`
(whatever the host); a section hit when `slug#anchor` of the result, or of any anchor on its heading
path, is one of the question's anchors. Questions without sources are skipped for recall.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from shared.halves import halves
from shared.schemas import SearchHit, SearchResponse

SearchFn = Callable[[str, int, str], SearchResponse]
DEPTH = 10  # results fetched per question: enough for recall@10 and MRR@10


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    kind: str = ""
    sources: list[str] = field(default_factory=list)
    anchors: list[str] = field(default_factory=list)


def load_questions(path: str | Path) -> list[Question]:
    questions = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            questions.append(Question(row["id"], row["question"], row.get("kind", ""),
                                      row.get("sources") or [], row.get("anchors") or []))
    return questions


def select(questions: Iterable[Question], part: str) -> list[Question]:
    """One half of the questions (`shared.halves`: the split every evaluation uses), or all."""
    questions = list(questions)
    parts = halves((q.id, q.kind) for q in questions)
    return [q for q in questions if part == "all" or parts[q.id] == part]


def slug(url: str) -> str:
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]


def page_hit(hit: SearchHit, question: Question) -> bool:
    path = urlsplit(hit.url).path.rstrip("/")
    return any(path.endswith("/" + source.removesuffix(".md")) for source in question.sources)


def section_hit(hit: SearchHit, question: Question) -> bool:
    name = slug(hit.url)
    anchors = {a for a in [hit.anchor, *hit.anchors] if a}
    return any(f"{name}#{anchor}" in question.anchors for anchor in anchors)


def first_rank(hits: list[SearchHit], question: Question) -> int | None:
    return next((rank for rank, hit in enumerate(hits, 1) if page_hit(hit, question)), None)


def evaluate(search: SearchFn, questions: list[Question], k: int = 5,
             mode: str = "hybrid") -> dict[str, object]:
    """Run every question once and compute the metrics (keys as `mde eval retrieval --json`)."""
    ranks: dict[str, list[int | None]] = {}
    sections: dict[str, list[bool]] = {}
    latencies: list[float] = []
    for question in questions:
        started = time.perf_counter()
        hits = search(question.question, max(DEPTH, k), mode).hits
        latencies.append((time.perf_counter() - started) * 1000)
        if not question.sources:
            continue
        ranks.setdefault(question.kind, []).append(first_rank(hits, question))
        if question.anchors:
            sections.setdefault(question.kind, []).append(
                any(section_hit(hit, question) for hit in hits[:5]))
    every = [r for kind in ranks.values() for r in kind]
    result: dict[str, object] = _scores(every, [s for kind in sections.values() for s in kind], k)
    result["per_kind"] = {kind: _scores(ranks[kind], sections.get(kind, []), k)
                          for kind in sorted(ranks)}
    result["latency_ms"] = _latency(latencies)
    result["questions"] = len(questions)
    result["scored"] = len(every)
    result["mode"] = mode
    return result


def _scores(ranks: list[int | None], sections: list[bool], k: int) -> dict[str, object]:
    def recall(at: int) -> float:
        return round(sum(1 for r in ranks if r is not None and r <= at) / len(ranks), 4) \
            if ranks else 0.0

    scores: dict[str, object] = {f"recall@{at}": recall(at) for at in sorted({1, 5, 10, k})}
    scores["mrr@10"] = round(sum(1 / r for r in ranks if r is not None and r <= 10) / len(ranks),
                             4) if ranks else 0.0
    scores["section_recall@5"] = round(sum(sections) / len(sections), 4) if sections else 0.0
    scores["n"] = len(ranks)
    return scores


def _latency(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p95": 0.0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"p50": round(statistics.median(ordered), 2), "p95": round(p95, 2),
            "mean": round(statistics.fmean(ordered), 2)}
