"""Refusal evidence and the tuned rule."""

from __future__ import annotations

import pytest

from services.generation import refusal, tuning
from shared.settings import InferSettings
from tests.unit.generation.hits import hit


def test_content_terms_drop_function_words() -> None:
    assert refusal.content_terms("How do I make the Linux agent block PUA, not just log it?") == [
        "linux", "agent", "block", "pua", "log"]


def test_agreement_is_high_when_both_retrievers_pick_the_same_page() -> None:
    dense = [hit("a"), hit("b"), hit("c")]
    assert refusal.page_agreement(dense, [hit("a"), hit("c")], 10) == 1 + 1 / 6
    assert refusal.page_agreement(dense, [hit("x"), hit("y")], 10) == 0
    assert refusal.page_agreement(dense, [hit("y"), hit("c")], 2) == 0  # c is past the depth


def test_a_question_naming_a_platform_compares_the_retrievers_on_its_pages() -> None:
    """Fault injected: BM25 leads with Windows proxy pages (they match "proxy" and "server"
    better), dense with the Linux ones; before, the two agreed on nothing for "onboard a Linux
    server behind a proxy?" and it was refused."""
    dense = [hit("linux-static-proxy-configuration", 0.5), hit("configure-proxy-internet", 0.4)]
    keyword = [hit("configure-proxy-internet"), hit("configure-environment"),
               hit("investigate-behind-proxy"), hit("linux-static-proxy-configuration")]
    linux = refusal.gather("how do I onboard a Linux server behind a proxy?", dense, dense,
                           keyword, 3)
    assert linux.agreement == 1.0  # the only Linux page of each list, first in both
    anywhere = refusal.gather("how do I onboard a server behind a proxy?", dense, dense, keyword, 3)
    assert anywhere.agreement == 1 / 2  # configure-proxy-internet: 2nd dense, 1st keyword
    # fault injected: an index with no page about the asked platform (the e2e stack's 20 pages)
    mac = refusal.gather("how do I onboard a Mac behind a proxy?", dense, dense, keyword, 3)
    assert mac.agreement == 1 / 2  # compared over every page, as if no platform were named


def test_evidence_from_hits() -> None:
    hits = [hit("enable-controlled-folders", 0.7, text="Set-MpPreference enables audit mode.")]
    evidence = refusal.gather("cmdlet for controlled folder audit mode and buttermilk?", hits, hits,
                              hits, 10)
    assert evidence.agreement == 1 and evidence.dense == 0.7
    assert "buttermilk" in evidence.missing and 0 < evidence.coverage < 1


def test_decision_uses_the_weighted_threshold() -> None:
    infer = InferSettings(refusal_weights=[1.0, 2.0, 0.0], refusal_threshold=1.5)
    strong = refusal.Evidence(agreement=1.0, dense=0.6, coverage=1.0)
    weak = refusal.Evidence(agreement=0.1, dense=0.3, coverage=0.2, missing=("pancakes",))
    assert not refusal.decide(strong, infer).refused
    verdict = refusal.decide(weak, infer)
    assert verdict.refused and "pancakes" in (verdict.reason or "")


def test_refusal_text_lists_the_nearest_pages() -> None:
    from services.generation.sources import number_sources

    text = refusal.refusal_text(number_sources([hit("a"), hit("b")]))
    assert "does not cover" in text and "[1] A: https://" in text
    assert "empty" in refusal.refusal_text([], index_empty=True)


def test_the_nearest_pages_list_a_page_once() -> None:
    """Fault injected: two passages of one section, and another section of the same page, among
    the nearest (each was listed: one title three times)."""
    from services.generation.sources import number_sources

    shown = number_sources([hit("a", anchor="x"), hit("a", anchor="x", text="More."),
                            hit("b"), hit("a", anchor="y"), hit("c"), hit("d")])
    nearest = refusal.nearest_pages(shown, 3)
    assert [(s.n, s.title) for s in nearest] == [(1, "A"), (2, "B"), (3, "C")]
    assert nearest[0].url.endswith("#x")  # the page's best section
    assert refusal.refusal_text(nearest).count("[1] A: ") == 1
    assert "A: " not in refusal.refusal_text(nearest).split("[2]")[1]


def sample(i: int, bad: bool, agreement: float, dense: float, part: str = "tune") -> tuning.Sample:
    return tuning.Sample(str(i), part, bad, refusal.Evidence(agreement, dense, 1.0))


def test_tuning_finds_the_gap_and_respects_the_false_refusal_limit() -> None:
    samples = [sample(i, True, 0.05 * i, 0.2) for i in range(4)]
    samples += [sample(10 + i, False, 0.5 + 0.1 * i, 0.6) for i in range(10)]
    weights, threshold = tuning.tune(samples, max_false=0.0)
    rates = tuning.rates(samples, weights, threshold)
    assert rates["refusal_rate"] == 1.0 and rates["false_refusal_rate"] == 0.0


def test_best_threshold_never_splits_equal_scores() -> None:
    threshold, caught, wrong, _ = tuning.best_threshold([(0.1, True), (0.1, False), (0.9, False)], 0.0)
    assert (caught, wrong) == (0, 0) and threshold < 0.1


def test_a_question_after_a_duration_is_refused_when_no_passage_states_one() -> None:
    """Fault injected: passages on the question's very topic (strong agreement and similarity) that
    state no duration at all."""
    hits = [hit("troubleshooting-mode", 0.8, text="Troubleshooting mode turns off tamper protection.")]
    evidence = refusal.gather("how long does troubleshooting mode stay on?", hits, hits, hits, 10)
    assert evidence.unstated == "a duration"
    verdict = refusal.decide(evidence, InferSettings())
    assert verdict.refused and "asks for a duration" in (verdict.reason or "")
    assert not refusal.decide(evidence, InferSettings(refusal_answer_types=False)).refused
    stated = [hit("troubleshooting-mode", 0.8, text="It turns itself off after 4 hours.")]
    again = refusal.gather("how long does troubleshooting mode stay on?", stated, stated, stated, 10)
    assert again.unstated is None and not refusal.decide(again, InferSettings()).refused


@pytest.mark.parametrize(("rule", "without_answer_types"), [
    ({"unstated": "a price"}, 0.0),  # the answer type check, which answer_types turns off
    ({"other_product": "Sentinel"}, 1.0),  # the scope check (services/generation/scope.py)
])
def test_tuning_leaves_what_a_rule_refuses_to_it(rule: dict[str, str],
                                                 without_answer_types: float) -> None:
    """An unanswerable sample a rule refuses scores like an answerable one: the threshold must not
    be dragged up to it (every answerable sample would be refused)."""
    samples = [sample(i, True, 0.05 * i, 0.2) for i in range(4)]
    samples += [sample(10 + i, False, 0.5 + 0.1 * i, 0.6) for i in range(10)]
    typed = tuning.Sample("t", "tune", True, refusal.Evidence(1.5, 0.9, 1.0, **rule))
    weights, threshold = tuning.tune([*samples, typed], max_false=0.0)
    assert tuning.rates([*samples, typed], weights, threshold) == {
        "refusal_rate": 1.0, "false_refusal_rate": 0.0, "unanswerable": 5, "answerable": 10}
    assert tuning.rates([typed], weights, threshold,
                        answer_types=False)["refusal_rate"] == without_answer_types


def test_a_refit_replaces_the_current_rule_only_when_it_does_better_on_the_tune_half() -> None:
    """Fault injected: a held-out half that would favour the refit; only the tune half decides."""
    samples = [sample(i, True, 0.05 * i, 0.2) for i in range(4)]
    samples += [sample(10 + i, False, 0.5 + 0.1 * i, 0.6) for i in range(10)]
    samples += [sample(30, False, 0.1, 0.3, part="holdout")]
    refit = ([1.0, 0.0, 0.0], 0.2)  # refuses every tune unanswerable sample, no answerable one
    assert tuning.tune_result(samples, *refit) == (4, 0)
    as_good = ([1.0, 1.0, 0.0], 0.9)
    assert tuning.tune_result(samples, *as_good) == (4, 0)
    assert tuning.keep_unless_better(samples, as_good, refit) == as_good  # a tie keeps it
    worse = ([1.0, 0.0, 0.0], 0.55)  # refuses an answerable tune sample too
    assert tuning.tune_result(samples, *worse) == (4, 1)
    assert tuning.keep_unless_better(samples, worse, refit) == refit
