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


def test_the_follow_map_holds_what_comes_after_each_evidence_token() -> None:
    """pipeline.copy_follow over a word-level stand-in tokenizer: each token maps to the tokens
    after it in the evidence (text, and each line as a sentence would start it); no special ids."""
    from types import SimpleNamespace

    from services.generation.pipeline import copy_follow
    from shared.schemas import EvidenceItem

    vocab: dict[str, int] = {"<s>": 0}

    def encode(text: str) -> list[int]:
        return [0] + [vocab.setdefault(word, len(vocab)) for word in text.split()]

    weights = SimpleNamespace(tokenizer=SimpleNamespace(encode=encode, all_special_ids=[0]))
    items = [EvidenceItem(n=1, kind="code", text="mdatp config proxy set", url="u"),
             EvidenceItem(n=1, kind="sentence", text="proxy off", url="u")]
    follow = copy_follow(items, weights)  # type: ignore[arg-type]
    ids = {word: vocab[word] for word in ("mdatp", "config", "proxy", "set", "off")}
    assert follow[ids["proxy"]] == tuple(sorted((ids["set"], ids["off"])))
    assert follow[ids["mdatp"]] == (ids["config"],) and 0 not in follow
    assert all(0 not in after for after in follow.values())
    assert copy_follow([], weights) == {}  # type: ignore[arg-type]
