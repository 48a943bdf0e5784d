"""Answer quality on a question set (`mde eval answers`).

Answerable questions: fact recall (share of all `must_include` facts in the answers, case-
insensitive), fact coverage (answers holding all of theirs), the oracle (facts in the shown
passages: the ceiling), citation rate and precision (cited [n] whose page is one of the question's
sources; the numbered source list does not count as citing), supported sentences (the model's
sentences that passed the support check, counted before the others were dropped), repeated answers
(a sentence or 8-word run said twice) and the share wrongly refused. Unanswerable questions: the
share refused. Plus medians of time to evidence, whole answer time and answer length.
"""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.retrieval.evaluation import slug
from shared.halves import halves as split
from shared.terms import word_runs, words


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    question: str
    kind: str
    sources: list[str] = field(default_factory=list)
    must_include: list[str] = field(default_factory=list)

    @property
    def answerable(self) -> bool:
        return self.kind != "unanswerable"


@dataclass
class Outcome:
    question: EvalQuestion
    refused: bool
    facts: bool = False
    facts_found: int = 0  # of the question's must_include facts, those in the answer
    cited: int = 0  # valid citations in the text
    cited_right: int = 0  # of those, citations of one of the question's pages
    ttft_ms: float | None = None
    tokens_per_sec: float | None = None
    oracle_found: int = 0  # of the facts, those in the shown passages
    sentences: int = 0  # the model's sentences checked
    supported: int = 0  # of those, the ones that passed
    repeated: bool = False
    evidence_ms: float | None = None
    answer_ms: float | None = None
    chars: int = 0


def load(path: str | Path, part: str = "all") -> list[EvalQuestion]:
    """Questions from a JSONL file; part `tune` or `holdout` keeps one half (see `halves`)."""
    questions = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            questions.append(EvalQuestion(row["id"], row["question"], row.get("kind", ""),
                                          row.get("sources") or [], row.get("must_include") or []))
    parts = halves(questions)
    return [q for q in questions if part == "all" or parts[q.id] == part]


def halves(questions: list[EvalQuestion]) -> dict[str, str]:
    """`tune` or `holdout` per id (`shared.halves`: the split every evaluation uses)."""
    return split([(q.id, q.kind) for q in questions])


def repeats(text: str, n: int = 8) -> bool:
    """Whether a text says a sentence, or a run of n words, twice (a quoted code block, such as
    a log excerpt, may repeat itself, links share their site's prefix, and a citation [2] is no
    word said: all are left out)."""
    body = re.sub(r"```.*?```|https?://\S+|\[\d{1,3}\]", " ", text.split("\n\nSources:\n")[0],
                  flags=re.DOTALL).lower()
    sentences = [" ".join(words(s)) for s in re.split(r"(?<=[.!?])\s+|\n+", body)]
    sentences = [s for s in sentences if len(s.split()) >= 3]
    grams = word_runs(body, n)
    return len(set(sentences)) < len(sentences) or len(set(grams)) < len(grams)


def judge(question: EvalQuestion, done: dict[str, Any]) -> Outcome:
    """Score one `done` event against the question's facts and sources."""
    text = str(done.get("text", ""))
    outcome = Outcome(question, bool(done.get("refused")))
    outcome.facts_found = sum(fact.lower() in text.lower() for fact in question.must_include)
    outcome.facts = outcome.facts_found == len(question.must_include)
    passages = "\n".join(str(s.get("text", "")) for s in done.get("sources", [])).lower()
    outcome.oracle_found = sum(fact.lower() in passages for fact in question.must_include)
    if done.get("sources"):  # without sources (`ft`) nothing was checked
        outcome.supported = int(done.get("lead_sentences") or 0) + int(done.get("lead_quoted") or 0)
        outcome.sentences = outcome.supported + len(done.get("dropped") or [])
    outcome.repeated, outcome.chars = repeats(text), len(text)
    timings = done.get("timings") or {}
    outcome.answer_ms = timings.get("total_ms")
    if not outcome.refused:
        outcome.evidence_ms = (timings.get("retrieval_ms") or 0) + (timings.get("evidence_ms") or 0)
    pages = {source.removesuffix(".md") for source in question.sources}
    urls = {int(s["n"]): s["url"] for s in done.get("sources", [])}
    numbers = [] if outcome.refused else [n for n in done.get("cited", []) if n in urls]
    outcome.cited = len(numbers)
    outcome.cited_right = sum(1 for n in numbers if slug(urls[n].split("#")[0]) in pages)
    if not outcome.refused:
        outcome.ttft_ms = timings.get("time_to_first_token_ms")
        outcome.tokens_per_sec = timings.get("tokens_per_sec")
    return outcome


def _share(count: int, total: int) -> float | None:
    return round(count / total, 3) if total else None


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 1) if present else None


def summarize(outcomes: list[Outcome]) -> dict[str, Any]:
    """The metrics over all outcomes (answerable and unanswerable are counted apart)."""
    answerable = [o for o in outcomes if o.question.answerable]
    unanswerable = [o for o in outcomes if not o.question.answerable]
    cited = sum(o.cited for o in answerable)
    facts = sum(len(o.question.must_include) for o in answerable)
    return {
        "questions": len(outcomes), "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "refusal_rate": _share(sum(o.refused for o in unanswerable), len(unanswerable)),
        "false_refusal_rate": _share(sum(o.refused for o in answerable), len(answerable)),
        "citation_rate": _share(sum(o.cited > 0 for o in answerable), len(answerable)),
        "citation_precision": _share(sum(o.cited_right for o in answerable), cited),
        "fact_coverage": _share(sum(o.facts for o in answerable), len(answerable)),
        "fact_recall": _share(sum(o.facts_found for o in answerable), facts),
        "oracle_fact_recall": _share(sum(o.oracle_found for o in answerable), facts),
        "supported_sentence_rate": _share(sum(o.supported for o in outcomes),
                                          sum(o.sentences for o in outcomes)),
        "repeated_answer_rate": _share(sum(o.repeated for o in outcomes), len(outcomes)),
        "time_to_evidence_ms_p50": _median([o.evidence_ms for o in outcomes]),
        "answer_ms_p50": _median([o.answer_ms for o in outcomes]),
        "answer_chars_p50": _median([float(o.chars) for o in answerable]),
        "ttft_ms_p50": _median([o.ttft_ms for o in outcomes]),
        "tokens_per_sec_p50": _median([o.tokens_per_sec for o in outcomes]),
    }


def summarize_halves(outcomes: list[Outcome]) -> dict[str, Any]:
    """The metrics of the whole set and, apart, of its tune and held-out halves."""
    parts = halves([o.question for o in outcomes])
    return {**summarize(outcomes),
            "halves": {part: summarize([o for o in outcomes if parts[o.question.id] == part])
                       for part in ("tune", "holdout")}}
