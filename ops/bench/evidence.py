"""Evidence quality without the model: for every public question, the hits and term statistics from
the running retrieval service, then the evidence the generation service would quote, scored against
the question's key facts. A grid over the scoring weights is tuned on the tune half only; the table
shows both halves for the default and the best tune-half settings.

    RETRIEVAL_URL=... .venv/bin/python -m ops.bench.evidence [--grid] [--questions FILE]

fact recall: share of `must_include` facts in the evidence text; oracle: share in the shown
passages (the ceiling); all facts: questions whose evidence holds all of theirs; precision: quoted
sources whose page is one of the question's pages; chars: median evidence length.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
from typing import Any

from services.generation import evaluation, evidence, pipeline, sources
from services.generation.retrieval import RetrievalClient
from services.retrieval.evaluation import slug
from shared.settings import PROJECT_ROOT, get_settings
from shared.settings_sections import EvidenceSettings

QUESTIONS = PROJECT_ROOT.parent / "shared" / "eval" / "questions.jsonl"
GRID = {"lexical_weight": [0.5, 1.0], "structure_weight": [0.15, 0.3, 0.5],
        "source_weight": [0.2, 0.5], "length_weight": [0.0, 0.2, 0.5], "min_ratio": [0.4, 0.6]}


async def prepared(path: str) -> list[tuple[Any, list[Any], evidence.TermStats]]:
    """(question, shown sources, term stats) for each answerable question."""
    settings = get_settings()
    client, infer = RetrievalClient(settings), settings.infer
    rows = []
    for question in evaluation.load(path):
        if not question.answerable:
            continue
        found = await pipeline.retrieve(client, question.question, question.question,
                                        infer.top_k, infer.refusal_depth)
        shown = sources.choose(found.found.hits, infer.source_min_ratio)
        rows.append((question, shown, found.stats))
    await client.close()
    return rows


def measure(rows: list[Any], config: EvidenceSettings, part: str) -> dict[str, float]:
    parts = evaluation.halves([row[0] for row in rows])
    facts = found = oracle = complete = cited = right = 0
    chars: list[int] = []
    for question, shown, stats in rows:
        if part != "all" and parts[question.id] != part:
            continue
        items = evidence.choose(question.question, evidence.candidates(shown), stats, config)
        text = "\n".join(item.text for item in items).lower()
        passages = "\n".join(source.text for source in shown).lower()
        hits = [fact.lower() in text for fact in question.must_include]
        facts, found, complete = facts + len(hits), found + sum(hits), complete + all(hits)
        oracle += sum(fact.lower() in passages for fact in question.must_include)
        pages = {name.removesuffix(".md") for name in question.sources}
        numbers = {item.n for item in items}
        cited += len(numbers)
        right += sum(slug(shown[n - 1].url.split("#")[0]) in pages for n in numbers)
        chars.append(len(text))
    count = len(chars) or 1
    return {"fact_recall": round(found / max(facts, 1), 3),
            "oracle": round(oracle / max(facts, 1), 3), "all_facts": round(complete / count, 3),
            "precision": round(right / max(cited, 1), 3),
            "chars_p50": statistics.median(chars) if chars else 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", default=str(QUESTIONS))
    parser.add_argument("--grid", action="store_true", help="tune the weights on the tune half")
    args = parser.parse_args()
    rows = asyncio.run(prepared(args.questions))
    candidates = [("default", get_settings().infer.evidence)]
    if args.grid:
        configs = [get_settings().infer.evidence.model_copy(update=dict(zip(GRID, values)))
                   for values in itertools.product(*GRID.values())]
        best = max(configs, key=lambda c: (lambda r: r["fact_recall"] + r["precision"] / 2)(
            measure(rows, c, "tune")))
        candidates.append(("best on tune", best))
    print("| settings | half | fact recall | oracle | all facts | precision | chars p50 |")
    print("|---|---|---|---|---|---|---|")
    for name, config in candidates:
        for part in ("tune", "holdout", "all"):
            r = measure(rows, config, part)
            print(f"| {name} | {part} | {r['fact_recall']} | {r['oracle']} | {r['all_facts']} | "
                  f"{r['precision']} | {r['chars_p50']:.0f} |")
        if name != "default":
            print(f"\n{name}: {config.model_dump(include=set(GRID))}")


if __name__ == "__main__":
    main()
