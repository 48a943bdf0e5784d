"""How well each piece of evidence separates unanswerable questions from answerable ones (AUC per
half of the public set), for choosing what the refusal rule looks at. Needs a retrieval service.

    RETRIEVAL_URL=... .venv/bin/python -m ops.bench.refusal_features [--questions FILE]

agreement, dense, coverage: what `refusal.gather` computes today (the rule uses the first two).
idf_coverage: the IDF-weighted share of the question's terms found in the passages, a term the
corpus never uses weighing as much as the rarest one. unknown: share of the question's terms the
corpus never uses (sign flipped: fewer is more answerable). unit_coverage: the same IDF-weighted
share held by the single best evidence unit ("does any unit cover the rare terms?").
best_lexical: the best evidence segment's lexical score. An AUC of 1 separates perfectly, 0.5 is
chance; combined rows add z-scores with equal weights (no fitted weight).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
from typing import Any

from services.generation import evaluation, evidence, pipeline, refusal, sources
from services.generation.retrieval import RetrievalClient
from shared.settings import PROJECT_ROOT, get_settings
from shared.terms import content_terms, has_term, stems

QUESTIONS = PROJECT_ROOT.parent / "shared" / "eval" / "questions.jsonl"
COMBINED = [("agreement", "dense"), ("agreement", "dense", "coverage"),
            ("agreement", "dense", "unit_coverage"), ("agreement", "dense", "idf_coverage")]


def features(question: str, found: pipeline.Retrieved, depth: int) -> dict[str, float]:
    settings = get_settings().infer
    gathered = refusal.gather(question, found.found.hits, found.dense.hits, found.keyword.hits,
                              depth)
    terms, stats = content_terms(question), found.stats
    rarest = math.log((stats.documents + 1) / 0.5)
    weight = {t: stats.idf(t) if stats.known(t) else rarest for t in terms}
    total = sum(weight.values()) or 1.0
    passages = stems(" ".join(" ".join([h.title, *h.heading_path, h.text])
                              for h in found.found.hits))
    shown = sources.choose(found.found.hits, settings.source_min_ratio)
    units = evidence.candidates(shown)
    made = evidence.segments(units, settings.evidence.block_chars)
    evidence.score(question, made, stats, settings.evidence)
    return {"agreement": gathered.agreement, "dense": gathered.dense,
            "coverage": gathered.coverage,
            "idf_coverage": sum(w for t, w in weight.items() if has_term(t, passages)) / total,
            "unknown": -sum(not stats.known(t) for t in terms) / max(len(terms), 1),
            "unit_coverage": max((sum(w for t, w in weight.items() if has_term(t, c.stems))
                                  for c in units), default=0.0) / total,
            "best_lexical": max((s.lexical for s in made), default=0.0)}


async def collect(path: str) -> list[tuple[str, bool, dict[str, float]]]:
    settings = get_settings()
    client, depth = RetrievalClient(settings), settings.infer.refusal_depth
    questions = evaluation.load(path)
    parts = evaluation.halves(questions)
    rows = []
    for question in questions:
        found = await pipeline.retrieve(client, question.question, question.question,
                                        settings.infer.top_k, depth)
        rows.append((parts[question.id], not question.answerable,
                     features(question.question, found, depth)))
    await client.close()
    return rows


def auc(values: list[float], unanswerable: list[bool]) -> float:
    """P(an unanswerable question scores below an answerable one), ties counting half."""
    bad = [v for v, u in zip(values, unanswerable) if u]
    good = [v for v, u in zip(values, unanswerable) if not u]
    pairs = sum((b < g) + 0.5 * (b == g) for b in bad for g in good)
    return pairs / (len(bad) * len(good)) if bad and good else float("nan")


def table(rows: list[tuple[str, bool, dict[str, float]]]) -> list[str]:
    names = list(rows[0][2])
    spread = {n: (statistics.mean(r[2][n] for r in rows),
                  statistics.pstdev(r[2][n] for r in rows) or 1.0) for n in names}
    scored: dict[str, list[float]] = {n: [r[2][n] for r in rows] for n in names}
    for combo in COMBINED:
        scored[" + ".join(combo)] = [sum((r[2][n] - spread[n][0]) / spread[n][1] for n in combo)
                                     for r in rows]
    lines = ["| evidence | AUC tune | AUC held-out | AUC all |", "|---|---|---|---|"]
    for name, values in scored.items():
        cells = [auc([v for v, r in zip(values, rows) if part in ("all", r[0])],
                     [r[1] for r in rows if part in ("all", r[0])])
                 for part in ("tune", "holdout", "all")]
        lines.append(f"| {name} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", default=str(QUESTIONS))
    args = parser.parse_args()
    rows: Any = asyncio.run(collect(args.questions))
    print("\n".join(table(rows)))


if __name__ == "__main__":
    main()
