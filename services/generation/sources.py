"""Choosing the numbered sources of an answer from the hits.

Chunks of one section are one source: a long section is indexed in several chunks, and two of them
in the top hits were two numbered sources with the same title and link (38 of the 70 public
questions). Hits scoring under `source_min_ratio` of the best are left out. MDE's documentation is written per
platform, and a question that names a platform (Linux, macOS, Windows, iOS, Android) is answered by
that platform's pages: pages whose title names only other platforms move after the rest, keeping
retrieval's order otherwise (and evidence is not quoted from them while the asked platform's pages
are shown).
"""

from __future__ import annotations

import itertools
import re

from shared.schemas import SearchHit, SourceRef

PLATFORMS = {
    "windows": r"\bwindows\b|\bwin ?1[01]\b|\bserver 20\d\d\b",
    "macos": r"\bmac(?:os)?\b|\bos x\b",
    "linux": r"\blinux\b|\bubuntu\b|\brhel\b|\bdebian\b|\bcentos\b|\bsuse\b",
    "ios": r"\bios\b|\biphone|\bipad",
    "android": r"\bandroid\b",
}
OVERLAP_LIMIT, MIN_OVERLAP = 400, 12  # the chunker repeats at most 150 characters (settings)


def platforms(text: str) -> set[str]:
    """The platforms a text names."""
    return {name for name, pattern in PLATFORMS.items() if re.search(pattern, text, re.IGNORECASE)}


def elsewhere(asked: set[str], title: str, url: str) -> bool:
    """Whether a page (by its title and URL) is about other platforms than the asked ones."""
    slug = url.split("#")[0].rstrip("/").rsplit("/", 1)[-1]
    named = platforms(f"{title} {slug.replace('-', ' ')}")
    return bool(asked) and bool(named) and not named & asked


def platform_order(question: str, hits: list[SearchHit]) -> list[SearchHit]:
    """Hits of pages about another platform than the question's go last (stable)."""
    asked = platforms(question)
    if not asked:
        return hits
    return sorted(hits, key=lambda hit: elsewhere(asked, hit.title, hit.url))


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
    for group in groups.values():
        if len(group) == 1:
            merged.append(group[0])
            continue
        ordered = sorted(group, key=lambda hit: hit.position if hit.position is not None else 0)
        text = ordered[0].text
        for previous, hit in itertools.pairwise(ordered):
            consecutive = None not in (previous.position, hit.position) \
                and hit.position == previous.position + 1
            text = join_continuation(text, hit.text) if consecutive else f"{text}\n\n{hit.text}"
        merged.append(group[0].model_copy(update={"text": text}))
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
                      text=texts[i - 1] if texts else hit.text)
            for i, hit in enumerate(hits, start=1)]


def choose(question: str, hits: list[SearchHit], min_ratio: float) -> list[SourceRef]:
    """The numbered sources for a question."""
    return number_sources(platform_order(question, select_hits(merge_sections(hits), min_ratio)))
