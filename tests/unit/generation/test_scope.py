"""Scope: questions about another product than the documented one are refused."""

from __future__ import annotations

from services.generation import refusal, scope
from shared.settings import InferSettings
from tests.unit.generation.hits import hit

PRODUCTS = InferSettings().refusal_other_products
QUESTION = "what ports does the defender for identity sensor need open on our domain controllers?"


def test_the_longest_product_name_a_question_names_is_found() -> None:
    assert scope.named("Build a Defender for Cloud Apps session policy", PRODUCTS) == (
        "Defender for Cloud Apps")
    assert scope.named("onboard servers through Microsoft Defender for Cloud", PRODUCTS) == (
        "Defender for Cloud")
    assert scope.named("hook up the  SENTINEL data connector", PRODUCTS) == "Sentinel"
    assert scope.named("onboard a Linux server to Defender for Endpoint", PRODUCTS) is None
    assert scope.named("is sentinels a word", PRODUCTS) is None  # whole words only


def test_a_question_about_another_product_is_refused_when_no_section_is_about_it() -> None:
    """Fault injected: passages on the question's words (sensor, ports, domain controllers) that
    are about Defender for Endpoint's own sensor: close enough to pass the threshold."""
    hits = [hit("configure-environment", 0.8, text="The sensor needs these ports open: 443."),
            hit("onboard-servers", 0.7, text="Domain controllers run the Defender for Identity "
                                              "sensor and the Defender for Endpoint sensor.")]
    evidence = refusal.gather(QUESTION, hits, hits, hits, 10, PRODUCTS)
    assert evidence.other_product == "Defender for Identity"
    verdict = refusal.decide(evidence, InferSettings(refusal_threshold=0.0))
    assert verdict.refused and "about Defender for Identity" in (verdict.reason or "")
    assert refusal.gather(QUESTION, hits, hits, hits, 10).other_product is None  # no products set


def test_a_section_or_the_closest_passage_about_the_product_answers() -> None:
    headed = [hit("configure-environment", 0.8),
              hit("mdi-integration", 0.7, heading="Defender for Identity sensor ports")]
    assert scope.other_product(QUESTION, headed, PRODUCTS) is None
    closest = [hit("configure-environment", 0.8, text="The Defender for Identity sensor uses 443.")]
    assert scope.other_product(QUESTION, closest, PRODUCTS) is None
    assert scope.other_product(QUESTION, [], PRODUCTS) is None  # nothing retrieved: the rule decides

