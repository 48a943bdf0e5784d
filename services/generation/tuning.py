"""Tuning the refusal rule on one half of a question set (`mde eval refusal`).

For each weighting of the evidence on a small grid, the threshold that refuses the most unanswerable
tune questions while refusing at most `max_false` of the answerable ones is found; the best pair is
reported with its rates on the tune half, the held-out half and the whole set. Many weightings tie
on a tune half of 35 questions; the current rule is kept unless a refit refuses more unanswerable or
fewer answerable tune questions (`keep_unless_better`), so the settings do not churn with the
tie-break and the held-out half is never what decides.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from services.generation.refusal import Evidence, score

DENSE_WEIGHTS = [i / 4 for i in range(13)]  # 0 … 3
COVERAGE_WEIGHTS = [i / 4 for i in range(7)]  # 0 … 1.5


@dataclass(frozen=True)
class Sample:
    id: str
    part: str  # tune | holdout
    unanswerable: bool
    evidence: Evidence


def rates(samples: list[Sample], weights: list[float], threshold: float,
          answer_types: bool = True) -> dict[str, Any]:
    """Refusal rate on unanswerable and false refusal rate on answerable samples (with the answer
    type check, `refusal.decide`'s first rule, when answer_types)."""
    refused = _refused(samples, weights, threshold, answer_types)
    bad = [r for r, s in zip(refused, samples) if s.unanswerable]
    good = [r for r, s in zip(refused, samples) if not s.unanswerable]
    return {"refusal_rate": round(sum(bad) / len(bad), 3) if bad else None,
            "false_refusal_rate": round(sum(good) / len(good), 3) if good else None,
            "unanswerable": len(bad), "answerable": len(good)}


def _refused(samples: list[Sample], weights: list[float], threshold: float,
             answer_types: bool) -> list[bool]:
    return [s.evidence.ruled_out(answer_types) or score(s.evidence, weights) < threshold
            for s in samples]


def best_threshold(scores: list[tuple[float, bool]], max_false: float
                   ) -> tuple[float, int, int, float]:
    """(threshold, unanswerable refused, answerable refused, margin) refusing the most unanswerable
    within the limit; the margin is the gap at the threshold relative to the scores' spread."""
    ordered = sorted(scores)
    allowed = int(max_false * sum(1 for _, bad in ordered if not bad) + 1e-9)
    spread = (ordered[-1][0] - ordered[0][0]) or 1.0
    best = (ordered[0][0] - 1e-6, 0, 0, 0.0)
    refused_bad = refused_good = 0
    for (value, bad), nxt in itertools.zip_longest(ordered, ordered[1:]):
        refused_bad, refused_good = refused_bad + bad, refused_good + (not bad)
        if refused_good > allowed:
            break
        if nxt is not None and nxt[0] <= value:
            continue  # a threshold cannot fall between equal scores
        threshold = (value + nxt[0]) / 2 if nxt else value + 1e-6
        margin = (nxt[0] - value) / spread if nxt else 0.0
        if (refused_bad, -refused_good, margin) > (best[1], -best[2], best[3]):
            best = (threshold, refused_bad, refused_good, margin)
    return best


def tune(samples: list[Sample], max_false: float = 0.10,
         answer_types: bool = True) -> tuple[list[float], float]:
    """Weights and threshold that refuse the most unanswerable tune samples within max_false (the
    threshold decides what the other-product and answer type checks leave)."""
    tuning = [s for s in samples if s.part == "tune" and not s.evidence.ruled_out(answer_types)]
    best: tuple[tuple[int, int, float], list[float], float] | None = None
    for dense, coverage in itertools.product(DENSE_WEIGHTS, COVERAGE_WEIGHTS):
        weights = [1.0, dense, coverage]
        scores = [(score(s.evidence, weights), s.unanswerable) for s in tuning]
        threshold, caught, wrong, margin = best_threshold(scores, max_false)
        if best is None or (caught, -wrong, margin) > best[0]:
            best = ((caught, -wrong, margin), weights, threshold)
    if best is None:
        raise ValueError("no tune questions")
    return best[1], round(best[2], 4)


def tune_result(samples: list[Sample], weights: list[float], threshold: float,
                answer_types: bool = True) -> tuple[int, int]:
    """(unanswerable refused, answerable refused) on the tune half."""
    tuning = [s for s in samples if s.part == "tune"]
    refused = _refused(tuning, weights, threshold, answer_types)
    return (sum(r for r, s in zip(refused, tuning) if s.unanswerable),
            sum(r for r, s in zip(refused, tuning) if not s.unanswerable))


def keep_unless_better(samples: list[Sample], current: tuple[list[float], float],
                       tuned: tuple[list[float], float], answer_types: bool = True
                       ) -> tuple[list[float], float]:
    """The tuned rule only when its tune result beats the current one's (more unanswerable refused,
    then fewer answerable); a tie keeps the current rule."""
    old = tune_result(samples, *current, answer_types)
    new = tune_result(samples, *tuned, answer_types)
    return tuned if (new[0], -new[1]) > (old[0], -old[1]) else current
