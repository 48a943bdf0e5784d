"""Chunks for trainer tests, made from ../shared/corpus Markdown (read in place, never copied)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from shared.schemas import Chunk

CORPUS = Path(__file__).resolve().parents[4] / "shared" / "corpus" / "mde"
HEADING = re.compile(r"^(#{1,3})\s+(.+?)\s*$")


def _sections(body: str) -> list[tuple[list[str], str]]:
    path: list[str] = []
    sections: list[tuple[list[str], list[str]]] = []
    for line in body.splitlines():
        match = HEADING.match(line)
        if match:
            level = len(match.group(1))
            path = path[:level - 1] + [match.group(2)]
            sections.append((list(path), []))
        elif sections:
            sections[-1][1].append(line)
    return [(p, "\n".join(lines).strip()) for p, lines in sections if "\n".join(lines).strip()]


def page_chunks(name: str, max_chars: int = 1000) -> list[Chunk]:
    """Heading-split chunks of one corpus page (a test stand-in for the indexer's chunker)."""
    url = json.loads((CORPUS / "MANIFEST.json").read_text())[name]["url"]
    body = (CORPUS / name).read_text(encoding="utf-8").split("\n---\n", 1)[-1]
    page_hash = hashlib.sha256(body.encode()).hexdigest()
    chunks = []
    for path, text in _sections(body):
        anchor = re.sub(r"[^a-z0-9]+", "-", path[-1].lower()).strip("-")
        position = len(chunks)
        chunks.append(Chunk(
            id=f"{name}#{position}", page_id=page_hash[:16], url=url, title=path[0],
            heading_path=path, anchor=anchor, anchors=[anchor], position=position,
            text=text[:max_chars], embed_text=" › ".join(path) + "\n\n" + text[:max_chars],
            content_hash=hashlib.sha256(text.encode()).hexdigest(), page_hash=page_hash))
    return chunks


def corpus_chunks(limit: int | None = None, max_chars: int = 1000) -> list[Chunk]:
    """Chunks of the first `limit` corpus pages (by file name)."""
    names = sorted(p.name for p in CORPUS.glob("*.md") if p.name != "ATTRIBUTION.md")
    return [chunk for name in names[:limit] for chunk in page_chunks(name, max_chars)]
