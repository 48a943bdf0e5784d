"""Prompts: the system prompt, numbered sources under a token budget, history bounded by tokens.

The numbered sources follow the system prompt in the system message and the question is the last
user turn: of the layouts tried with SmolLM2-135M (sources in the user turn before or after the
question, with or without a citing instruction), this one answers in sentences instead of echoing
the sources. The system prompt's tokens are the same prefix in every rag prompt, so the engine keeps
their KV cache.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from shared.schemas import ChatTurn, SearchHit

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


def source_header(n: int, hit: SearchHit) -> str:
    path = " > ".join(part for part in hit.heading_path if part) or hit.title
    return f"[{n}] {path}\n"


def fit_sources(hits: list[SearchHit], tokenizer: Tokenizer, budget: int) -> list[str]:
    """Passage texts that fit the token budget in rank order; the last one may be cut short."""
    texts: list[str] = []
    left = budget
    for n, hit in enumerate(hits, start=1):
        need = count(tokenizer, source_header(n, hit)) + 2
        tokens = tokenizer.encode(hit.text, add_special_tokens=False)
        if need + len(tokens) <= left:
            texts.append(hit.text)
            left -= need + len(tokens)
            continue
        room = left - need
        if room >= MIN_PASSAGE_TOKENS:
            texts.append(tokenizer.decode(tokens[:room]).rstrip() + " …")
        break
    return texts


def sources_block(hits: list[SearchHit], texts: list[str]) -> str:
    return "\n\n".join(source_header(n, hit) + text
                       for n, (hit, text) in enumerate(zip(hits, texts), start=1))


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


def rag_messages(system: str, hits: list[SearchHit], texts: list[str], history: list[ChatTurn],
                 question: str) -> list[dict[str, str]]:
    """System prompt followed by the numbered sources, the history, then the question."""
    documentation = f"{system}\n\nDocumentation:\n\n{sources_block(hits, texts)}"
    return [{"role": "system", "content": documentation},
            *({"role": turn.role, "content": turn.content} for turn in history),
            {"role": "user", "content": question}]


def plain_messages(system: str, history: list[ChatTurn], question: str) -> list[dict[str, str]]:
    """System prompt, history and the question, without sources (`ft`)."""
    return [{"role": "system", "content": system},
            *({"role": turn.role, "content": turn.content} for turn in history),
            {"role": "user", "content": question}]
