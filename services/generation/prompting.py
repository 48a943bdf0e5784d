"""Prompt material: the system prompts, texts under a token budget, history bounded by tokens.
The chat layout itself is `shared.prompts` (the trainer builds its RAG pairs with it too)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from shared.schemas import ChatTurn

FOLLOW_UP = re.compile(r"^(and|or|but|also|what about|how about|then|so|same|it|that|this|those|"
                       r"they|there|on|for|with|in)\b", re.IGNORECASE)
MIN_PASSAGE_TOKENS = 48  # a trimmed last source shorter than this is left out instead


class Tokenizer(Protocol):
    def encode(self, text: str, **kwargs: Any) -> list[int]: ...

    def decode(self, tokens: list[int], **kwargs: Any) -> str: ...


@lru_cache(maxsize=8)
def read_prompt(path: str) -> str:
    return Path(path).read_text(encoding="utf-8").strip()


def count(tokenizer: Tokenizer, text: str) -> int:
    return len(tokenizer.encode(text, add_special_tokens=False))


def fit_sources(texts: list[str], headers: list[str], tokenizer: Tokenizer,
                budget: int) -> list[str]:
    """Texts that fit the token budget in order; the last one may be cut short."""
    kept: list[str] = []
    left = budget
    for header, text in zip(headers, texts):
        need = count(tokenizer, header) + 2
        tokens = tokenizer.encode(text, add_special_tokens=False)
        if need + len(tokens) <= left:
            kept.append(text)
            left -= need + len(tokens)
            continue
        room = left - need
        if room >= MIN_PASSAGE_TOKENS:
            kept.append(tokenizer.decode(tokens[:room]).rstrip() + " …")
        break
    return kept


def trim_history(history: list[ChatTurn], tokenizer: Tokenizer, budget: int) -> list[ChatTurn]:
    """The most recent turns within the token budget, dropping the oldest first (whole turns)."""
    kept: list[ChatTurn] = []
    left = budget
    for turn in reversed(history):
        cost = count(tokenizer, turn.content) + 4
        if cost > left:
            break
        kept.append(turn)
        left -= cost
    kept.reverse()
    while kept and kept[0].role != "user":  # a history starts with a question
        kept.pop(0)
    return kept


def retrieval_query(question: str, history: list[ChatTurn], max_words: int) -> str:
    """The question, with the previous question in front when it reads like a follow-up."""
    previous = next((turn.content for turn in reversed(history) if turn.role == "user"), None)
    if previous is None:
        return question
    short = len(question.split()) <= max_words
    if short or FOLLOW_UP.match(question.strip()):
        return f"{previous.strip()} {question.strip()}"
    return question


def turns(history: list[ChatTurn]) -> list[dict[str, str]]:
    return [{"role": turn.role, "content": turn.content} for turn in history]
