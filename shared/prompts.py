"""The chat layout of a RAG prompt, shared by the generation service (serving) and the trainer
(its `rag_ft` pairs), so a fine-tune learns exactly the prompt it is served.

The system prompt alone is the system message (a prefix the engine caches); the numbered
documentation, the question and how to answer it are the last user turn. With SmolLM2-135M writing
over the evidence this layout doubled the share of sentences the sources support (0.10 -> 0.47 on
the tune half, docs/BENCHMARKS.md): the words to copy stand right before the answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def source_header(n: int, heading_path: Sequence[str], title: str) -> str:
    path = " > ".join(part for part in heading_path if part) or title
    return f"[{n}] {path}\n"


def documentation(blocks: Iterable[tuple[str, str]]) -> str:
    """Numbered blocks (header from `source_header`, text) as one Documentation section."""
    return "\n\n".join(header + text for header, text in blocks)


INSTRUCTION = "Answer in one or two sentences, in the documentation's own words, with its [n]."


def rag_messages(system: str, blocks: Iterable[tuple[str, str]], history: Iterable[dict[str, str]],
                 question: str) -> list[dict[str, str]]:
    """System prompt, the history, then the numbered documentation with the question."""
    turn = f"Documentation:\n\n{documentation(blocks)}\n\nQuestion: {question}\n{INSTRUCTION}"
    return [{"role": "system", "content": system}, *history, {"role": "user", "content": turn}]


def plain_messages(system: str, history: Iterable[dict[str, str]],
                   question: str) -> list[dict[str, str]]:
    """System prompt, history and the question, without documentation (`ft`)."""
    return [{"role": "system", "content": system}, *history, {"role": "user", "content": question}]
