"""Prompt building: sources under a token budget, history by tokens, follow-up retrieval."""

from __future__ import annotations

from services.generation import prompting
from shared.schemas import ChatTurn
from tests.unit.generation.hits import hit


class WordTokenizer:
    """One token per word: budgets are easy to reason about."""

    def encode(self, text: str, **_: object) -> list[int]:
        return [len(word) for word in text.split()]

    def decode(self, tokens: list[int], **_: object) -> str:
        return " ".join("w" * n for n in tokens)


TOKENS = WordTokenizer()


HEADERS = ["[1] A\n", "[2] B\n", "[3] C\n"]


def test_sources_fit_the_budget_and_the_last_is_cut() -> None:
    texts = ["word " * 100] * 3
    fitted = prompting.fit_sources(texts, HEADERS, TOKENS, 170)
    assert len(fitted) == 2 and fitted[0] == texts[0]
    assert fitted[1].endswith(" …") and len(fitted[1].split()) < 100


def test_a_source_too_short_to_be_useful_is_left_out() -> None:
    assert len(prompting.fit_sources(["word " * 100] * 2, HEADERS, TOKENS, 120)) == 1


def test_history_keeps_recent_turns_within_budget() -> None:
    history = [ChatTurn(role="user", content="one " * 50), ChatTurn(role="assistant", content="x " * 50),
               ChatTurn(role="user", content="two"), ChatTurn(role="assistant", content="three")]
    kept = prompting.trim_history(history, TOKENS, 30)
    assert [t.content for t in kept] == ["two", "three"]
    assert prompting.trim_history(history, TOKENS, 0) == []


def test_history_never_starts_with_an_answer() -> None:
    history = [ChatTurn(role="user", content="q " * 40), ChatTurn(role="assistant", content="a")]
    assert prompting.trim_history(history, TOKENS, 20) == []


def test_follow_up_is_retrieved_with_the_previous_question() -> None:
    history = [ChatTurn(role="user", content="How do I onboard a Linux server?"),
               ChatTurn(role="assistant", content="Use the script [1].")]
    assert prompting.retrieval_query("and on macOS?", history, 8) == (
        "How do I onboard a Linux server? and on macOS?")
    long = "What registry values set a static proxy for the Windows EDR sensor on servers?"
    assert prompting.retrieval_query(long, history, 8) == long
    assert prompting.retrieval_query("and on macOS?", [], 8) == "and on macOS?"


def test_rag_messages_put_numbered_sources_and_question_after_a_fixed_system_prompt() -> None:
    from shared.prompts import INSTRUCTION, rag_messages, source_header

    hits = [hit("a", text="Alpha text."), hit("b", text="Beta text.")]
    blocks = [(source_header(n, h.heading_path, h.title), h.text) for n, h in enumerate(hits, 1)]
    turns = prompting.turns([ChatTurn(role="user", content="earlier")])
    messages = rag_messages("SYSTEM", blocks, turns, "Why?")
    assert messages[0] == {"role": "system", "content": "SYSTEM"}  # the cached prefix
    assert messages[1]["content"] == "earlier"
    last = messages[-1]
    assert last["role"] == "user" and last["content"].startswith("Documentation:\n\n[1] A > Section")
    assert "[1] A > Section\nAlpha text." in last["content"]
    assert "[2] B > Section\nBeta text." in last["content"]
    assert last["content"].endswith(f"\n\nQuestion: Why?\n{INSTRUCTION}")
