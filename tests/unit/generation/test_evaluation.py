"""Answer metrics from `done` events."""

from __future__ import annotations

import json
from pathlib import Path

from services.generation import evaluation

BASE = "https://learn.microsoft.com/en-us/defender-endpoint/"
Q = evaluation.EvalQuestion("p1", "cmdlet?", "config", ["enable-controlled-folders.md"],
                            ["Set-MpPreference", "AuditMode"])
U = evaluation.EvalQuestion("p2", "pancakes?", "unanswerable")


def done(text: str, cited: list[int], refused: bool = False) -> dict:
    sources = [{"n": 1, "url": BASE + "enable-controlled-folders#powershell"},
               {"n": 2, "url": BASE + "linux-exclusions"}]
    return {"text": text, "cited": cited, "refused": refused, "sources": sources,
            "timings": {"time_to_first_token_ms": 900.0, "tokens_per_sec": 20.0}}


def test_metrics_over_answerable_and_unanswerable() -> None:
    outcomes = [evaluation.judge(Q, done("Run set-mppreference with auditmode [1] [2].", [1, 2])),
                evaluation.judge(Q, done("No idea.", [], refused=True)),
                evaluation.judge(U, done("Not covered.", [], refused=True)),
                evaluation.judge(U, done("Use milk.", []))]
    summary = evaluation.summarize(outcomes)
    assert summary["fact_coverage"] == 0.5 and summary["citation_rate"] == 0.5
    assert summary["citation_precision"] == 0.5  # [1] is the question's page, [2] is not
    assert summary["false_refusal_rate"] == 0.5 and summary["refusal_rate"] == 0.5
    assert summary["ttft_ms_p50"] == 900.0
    partial = evaluation.judge(Q, done("Use AuditMode [1].", [1]))  # one of the two facts
    assert not partial.facts and partial.facts_found == 1
    assert evaluation.summarize([partial])["fact_recall"] == 0.5


def test_summary_reports_each_half_apart() -> None:
    questions = [evaluation.EvalQuestion(f"q{i}", "?", "fact", [], ["x"]) for i in range(6)]
    outcomes = [evaluation.judge(q, done("x" if i < 2 else "y", [])) for i, q in enumerate(questions)]
    summary = evaluation.summarize_halves(outcomes)
    tune, holdout = summary["halves"]["tune"], summary["halves"]["holdout"]
    assert tune["answerable"] == holdout["answerable"] == 3
    assert summary["fact_coverage"] == round(2 / 6, 3)
    assert round(3 * (tune["fact_coverage"] + holdout["fact_coverage"])) == 2  # 2 answers with x


def test_halves_are_balanced_per_kind(tmp_path: Path) -> None:
    rows = [{"id": f"q{i}", "question": "?", "kind": "unanswerable" if i % 5 == 0 else "fact"}
            for i in range(40)]
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    tune, holdout = evaluation.load(path, "tune"), evaluation.load(path, "holdout")
    assert len(tune) + len(holdout) == 40 and not {q.id for q in tune} & {q.id for q in holdout}
    assert sum(not q.answerable for q in tune) == sum(not q.answerable for q in holdout) == 4


def test_repeats_finds_a_sentence_or_an_8_word_run_said_twice() -> None:
    from services.generation.evaluation import repeats

    once = "Run the script. Then check the agent with mdatp health.\n\nSources:\n[1] x: y"
    assert not repeats(once)
    assert repeats("Run the script now. Run the script now.")  # fault: the same sentence twice
    assert repeats("Open the portal and select the device that you want to isolate. Later, select "
                   "the device that you want to isolate and confirm.")  # an 8-word run twice
    assert not repeats("```\n2020-03-11 13:08 begin\n2020-03-11 13:08 begin\n```\nDone here.")
    assert not repeats("The nearest pages are:\n[1] Linux proxy (https://learn.microsoft.com/en-us/"
                       "defender-endpoint/linux-proxy)\n[2] Mac proxy (https://learn.microsoft.com"
                       "/en-us/defender-endpoint/mac-proxy)")  # links share the site's prefix
    # two claims that share 7 words and their source: the citation is no eighth word said twice
    assert not repeats("But the ASR rule is only supported for RS5+ (1809+) devices [2].\n\n"
                       "> The warn mode for ASR rules is only supported for RS5+ (1809+) devices. [2]")
    assert repeats("It is only supported for RS5+ (1809+) devices now [2]. Warn mode is only "
                   "supported for RS5+ (1809+) devices now [2].")  # 8 words, said twice


def test_supported_sentences_count_the_ones_left_out_as_already_quoted() -> None:
    """A sentence that passed the check but repeats the evidence is supported, though not shown."""
    checked = {**done("Use AuditMode [1].", [1]), "lead_sentences": 1, "lead_quoted": 2,
               "dropped": [{"text": "Invented.", "reason": "only 10% of its terms"}]}
    outcome = evaluation.judge(Q, checked)
    assert (outcome.supported, outcome.sentences) == (3, 4)
    assert evaluation.summarize([outcome])["supported_sentence_rate"] == 0.75
    unchecked = evaluation.judge(Q, {**checked, "sources": []})  # `ft`: no sources to check
    assert evaluation.summarize([unchecked])["supported_sentence_rate"] is None
