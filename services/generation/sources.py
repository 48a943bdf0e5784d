"""Choosing the numbered sources of an answer from the hits.

Chunks of one section are one source: a long section is indexed in several chunks, and two of them
in the top hits were two numbered sources with the same title and link (38 of the 70 public
questions). Hits scoring under `source_min_ratio` of the best are left out. The order is
retrieval's, which puts the asked platform's pages first (`index.platform_first`).
"""

from __future__ import annotations

import itertools

from services.generation.units import drop_fragment
from shared.schemas import SearchHit, SourceRef

OVERLAP_LIMIT, MIN_OVERLAP = 400, 12  # the chunker repeats at most 150 characters (settings)


def select_hits(hits: list[SearchHit], min_ratio: float) -> list[SearchHit]:
    """The best hit and those scoring at least min_ratio of it."""
    if not hits:
        return []
    best = max(hit.score for hit in hits)
    if best <= 0:
        return hits
    return [hit for hit in hits if hit.score >= best * min_ratio]


def merge_sections(hits: list[SearchHit]) -> list[SearchHit]:
    """One hit per section link, at its best-ranked hit's place and score, its chunks' texts in
    reading order (a continuation chunk's overlap with the one before it said once)."""
    groups: dict[str, list[SearchHit]] = {}
    for hit in hits:
        groups.setdefault(link(hit), []).append(hit)
    merged = []
    for best, *rest in groups.values():
        ordered = sorted([best, *rest], key=lambda hit: hit.position or 0)
        text = ordered[0].text
        for previous, hit in itertools.pairwise(ordered):
            consecutive = None not in (previous.position, hit.position) \
                and hit.position == previous.position + 1
            # a chunk that does not follow the one before it begins with a fragment of a sentence
            # the answer does not show: without it, as a passage starting there would be
            text = join_continuation(text, hit.text) if consecutive \
                else f"{text}\n\n{drop_fragment(hit.text)}"
        merged.append(best.model_copy(update={"text": text}) if rest else best)
    return merged


def join_continuation(text: str, more: str) -> str:
    """`text` followed by the next chunk of its section, without the start the chunker repeated:
    the end of the previous chunk, or a split table's header."""
    lines = more.split("\n", 2)
    if len(lines) == 3 and lines[0].startswith("|") and lines[1].startswith("| ---") \
            and f"{lines[0]}\n{lines[1]}" in text:
        return f"{text}\n{lines[2]}"
    for size in range(min(len(text), len(more), OVERLAP_LIMIT), MIN_OVERLAP - 1, -1):
        if text.endswith(more[:size]):
            return text + more[size:]
    return f"{text}\n\n{more}"


def link(hit: SearchHit) -> str:
    """url#anchor (the URL's own fragment wins)."""
    if hit.anchor and "#" not in hit.url:
        return f"{hit.url}#{hit.anchor}"
    return hit.url


def number_sources(hits: list[SearchHit], texts: list[str] | None = None) -> list[SourceRef]:
    """Numbered [1..n] sources, with the passage text as it went into the prompt."""
    return [SourceRef(n=i, title=hit.title, heading_path=hit.heading_path, url=link(hit),
                      anchor=hit.anchor, score=round(hit.score, 4), anchors=hit.anchors,
                      platforms=hit.platforms,
                      text=texts[i - 1] if texts else hit.text)
            for i, hit in enumerate(hits, start=1)]


def choose(hits: list[SearchHit], min_ratio: float) -> list[SourceRef]:
    """The numbered sources for a question."""
    return number_sources(select_hits(merge_sections(hits), min_ratio))
