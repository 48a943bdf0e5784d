"""The chat layout of a RAG prompt, shared by the generation service (serving) and the trainer
(its `rag_ft` pairs), so a fine-tune learns exactly the prompt it is served.

The numbered documentation follows the system prompt in the system message and the question is the
last user turn: of the layouts tried with SmolLM2-135M this one answers instead of echoing the
sources, and the system prompt's tokens are a prefix the engine caches.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def source_header(n: int, heading_path: Sequence[str], title: str) -> str:
    path = " > ".join(part for part in heading_path if part) or title
    return f"[{n}] {path}\n"


def documentation(blocks: Iterable[tuple[str, str]]) -> str:
    """Numbered blocks (header from `source_header`, text) as one Documentation section."""
    return "\n\n".join(header + text for header, text in blocks)


def rag_messages(system: str, blocks: Iterable[tuple[str, str]], history: Iterable[dict[str, str]],
                 question: str) -> list[dict[str, str]]:
    """System prompt followed by the numbered documentation, the history, then the question."""
    return [{"role": "system", "content": f"{system}\n\nDocumentation:\n\n{documentation(blocks)}"},
            *history, {"role": "user", "content": question}]


def plain_messages(system: str, history: Iterable[dict[str, str]],
                   question: str) -> list[dict[str, str]]:
    """System prompt, history and the question, without documentation (`ft`)."""
    return [{"role": "system", "content": system}, *history, {"role": "user", "content": question}]
