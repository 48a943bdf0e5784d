"""Evaluation metrics: page and section hits, recall@k, MRR@10, skipped questions, the split."""

from __future__ import annotations

import json
from pathlib import Path

from services.retrieval.evaluation import (
    Question, evaluate, load_questions, page_hit, section_hit, select,
)
from shared.schemas import SearchHit, SearchResponse
from tests.conftest import SHARED


def hit(url: str, anchor: str | None = None, anchors: list[str] | None = None) -> SearchHit:
    return SearchHit(score=1.0, text="", url=url, anchor=anchor, title="", heading_path=[],
                     anchors=anchors or [])


Q = Question("q1", "how?", "config", ["linux-exclusions.md"], ["linux-exclusions#allow-a-threat"])


def test_page_hit_matches_the_path_end_whatever_the_host() -> None:
    assert page_hit(hit("https://learn.microsoft.com/en-us/defender-endpoint/linux-exclusions"), Q)
    assert page_hit(hit("http://127.0.0.1:8600/en-us/defender-endpoint/linux-exclusions/"), Q)
    assert not page_hit(hit("https://learn.microsoft.com/en-us/defender-endpoint/mac-exclusions"), Q)
    assert not page_hit(hit("https://x/en-us/defender-endpoint/not-linux-exclusions"), Q)


def test_section_hit_uses_the_anchor_or_any_anchor_on_the_heading_path() -> None:
    url = "https://learn.microsoft.com/en-us/defender-endpoint/linux-exclusions"
    assert section_hit(hit(url, "allow-a-threat"), Q)
    assert section_hit(hit(url, "sub", ["top", "allow-a-threat", "sub"]), Q)
    assert not section_hit(hit(url, "see-also"), Q)
    assert not section_hit(hit(url.replace("linux", "mac"), "allow-a-threat"), Q)


def test_metrics_over_ranked_hits_and_skipped_questions() -> None:
    good = "https://h/en-us/defender-endpoint/linux-exclusions"
    other = "https://h/en-us/defender-endpoint/other"
    questions = [Q, Question("q2", "second", "fact", ["linux-exclusions.md"]),
                 Question("q3", "off topic", "unanswerable")]
    answers = {"how?": [hit(other), hit(good, "allow-a-threat")],  # rank 2, section hit
               "second": [hit(other)] * 6 + [hit(good)]}  # rank 7

    def search(query: str, top_k: int, mode: str) -> SearchResponse:
        return SearchResponse(hits=answers.get(query, []), mode=mode, took_ms=1.0)

    result = evaluate(search, questions, k=5, mode="hybrid")
    assert result["recall@1"] == 0.0 and result["recall@5"] == 0.5 and result["recall@10"] == 1.0
    assert result["mrr@10"] == round((1 / 2 + 1 / 7) / 2, 4)
    assert result["section_recall@5"] == 1.0  # only q1 has anchors
    assert result["scored"] == 2 and result["questions"] == 3  # the unanswerable one is skipped
    assert set(result["per_kind"]) == {"config", "fact"}
    assert set(result["latency_ms"]) >= {"p50", "p95"}
    json.dumps(result)


def test_halves_are_the_split_every_evaluation_uses() -> None:
    from services.generation import evaluation as answers

    questions = load_questions(SHARED / "eval" / "questions.jsonl")
    tune, holdout = select(questions, "tune"), select(questions, "holdout")
    assert len(tune) + len(holdout) == len(questions) and tune and holdout
    same = {q.id for q in answers.load(SHARED / "eval" / "questions.jsonl", "tune")}
    assert {q.id for q in tune} == same  # retrieval and answer evaluations tune on one half
    for kind in {q.kind for q in questions}:  # balanced per kind
        counts = [sum(q.kind == kind for q in part) for part in (tune, holdout)]
        assert abs(counts[0] - counts[1]) <= 1


def test_load_questions_reads_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "a", "question": "x?", "kind": "fact", "sources": ["s.md"]}\n\n')
    assert load_questions(path) == [Question("a", "x?", "fact", ["s.md"], [])]
