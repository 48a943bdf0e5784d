"""Answer types: a question after a price, a duration or a version needs a passage that states one."""

from __future__ import annotations

import pytest

from services.generation import answer_type


@pytest.mark.parametrize(("question", "kinds"), [
    ("How much does Defender for Endpoint Plan 2 cost per user per month?", ["a price"]),
    ("what is the price in euros of plan 1?", ["a price"]),
    ("how long are quarantined files kept?", ["a duration"]),
    ("How often does the Linux agent check for definition updates?", ["a duration"]),
    ("what's the oldest macOS version the agent supports?", ["a version"]),
    ("which kernel versions does eBPF need?", ["a version"]),
    ("How do I onboard a Linux server behind a proxy?", []),
    ("what does attack surface reduction cost in performance?", []),  # not money
])
def test_what_a_question_asks_for(question: str, kinds: list[str]) -> None:
    assert [name for name, _ in answer_type.asked(question)] == kinds


@pytest.mark.parametrize(("question", "passage"), [
    ("how long is device data retained?", "Data is retained for 180 days."),
    ("how long before the block comes back?", "The block is suppressed for 24 hours."),
    ("how long does a retry take?", "It retries for up to three days."),
    ("how often are signatures updated?", "Security intelligence updates are checked daily."),
    ("which version of iOS is required?", "Devices running iOS/iPadOS 16.0 and later."),
    ("what is the minimum platform version?", "Platform version 4.18.2202.X or later."),
    ("how much does it cost in dollars?", "The plan costs $5.20 per user."),
    # no number, still a duration: wrongly refused before (the docs say so about 40 times)
    ("how long until a new device shows up?", "It can take a few minutes for it to appear."),
    ("how soon is a blocked file reported?", "Alerts are raised within seconds."),
    ("how often does the scan run?", "The scan runs once a day."),
    ("which macOS versions are supported?", "The three most recent major releases are supported."),
    ("what's the oldest macOS version it runs on?", "macOS Sonoma, Ventura and Sequoia."),
])
def test_a_passage_that_states_the_answer_type_answers(question: str, passage: str) -> None:
    assert answer_type.unstated(question, ["Unrelated text.", passage]) is None


@pytest.mark.parametrize(("question", "passage", "kind"), [
    ("how long does troubleshooting mode stay on?",
     ("Troubleshooting mode lets you turn off tamper protection. Requires platform 4.18.2207.7."),
     "a duration"),
    ("how much does plan 2 cost per user per month?", "Plan 2 includes EDR and 180 days of data.",
     "a price"),
    ("what's the oldest Android version supported?", "Android devices are supported.", "a version"),
])
def test_passages_that_state_none_leave_the_question_unanswered(question: str, passage: str,
                                                                kind: str) -> None:
    assert answer_type.unstated(question, [passage]) == kind


def test_a_question_without_an_answer_type_is_never_unanswered_by_type() -> None:
    assert answer_type.unstated("How do I enable network protection?", []) is None
