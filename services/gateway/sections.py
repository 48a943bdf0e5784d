"""A page or one of its sections as clean text, rebuilt from the chunks the index stores.

Chunks carry their page URL, position, heading path and the anchors of that path, so the chunks of
`url#anchor` are those whose `anchors` hold the anchor; consecutive chunks of one section repeat
the end of the previous one (the indexer's overlap), which is cut here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from shared.errors import BadRequest, NotFound

MAX_URL_CHARS = 2000
MIN_OVERLAP_CHARS = 12  # shorter repeats are coincidence, not the indexer's overlap
MAX_OVERLAP_CHARS = 1000


@dataclass
class Section:
    url: str  # page URL with the #anchor asked for (none for a whole page)
    title: str
    heading_path: list[str]
    text: str
    passages: int


def split_link(link: str) -> tuple[str, str | None]:
    """(page URL, anchor) of a docs link; a BadRequest for anything that is not an http(s) URL."""
    link = link.strip()
    if not link or len(link) > MAX_URL_CHARS:
        raise BadRequest(f"url: give a docs link of 1 to {MAX_URL_CHARS} characters")
    parts = urlsplit(link)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadRequest(f"url: {link[:200]!r} is not an http(s) link; pass a `url` from "
                         "search_docs or ask (page URL, optionally with #anchor)")
    page = urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
    return page, parts.fragment or None


def strip_overlap(previous: str, text: str) -> str:
    """`text` without the start it repeats from the end of `previous` (the chunk overlap)."""
    longest = min(len(previous), len(text), MAX_OVERLAP_CHARS)
    for size in range(longest, MIN_OVERLAP_CHARS - 1, -1):
        if previous.endswith(text[:size]) and (size == len(text) or text[size].isspace()):
            return text[size:].lstrip()
    return text


def _heading(path: list[str]) -> str:
    """A Markdown heading for a section (the page title's own is the caller's)."""
    return "#" * len(path) + " " + path[-1] if len(path) > 1 else ""


def render(chunks: list[dict[str, Any]]) -> str:
    """Chunks of one page in reading order as text, a heading line where the section changes."""
    lines: list[str] = []
    previous: dict[str, Any] | None = None
    for chunk in sorted(chunks, key=lambda c: c.get("position", 0)):
        path = list(chunk.get("heading_path") or [chunk.get("title", "")])
        same = previous is not None and previous.get("heading_path") == chunk.get("heading_path")
        text = chunk["text"]
        if same and previous:
            text = strip_overlap(previous["text"], text)
        if not same and _heading(path):
            lines.append(_heading(path))
        if text:
            lines.append(text)
        previous = chunk
    return "\n\n".join(lines)


def section(page_url: str, anchor: str | None, chunks: list[dict[str, Any]]) -> Section:
    """The whole page, or the section `anchor` names with its subsections."""
    if not chunks:
        raise NotFound(f"{page_url} is not a page of the index; pass a `url` from search_docs "
                       "or ask")
    ordered = sorted(chunks, key=lambda c: c.get("position", 0))
    title = str(ordered[0].get("title", ""))
    if anchor is None:
        return Section(page_url, title, [title], f"# {title}\n\n" + render(ordered), len(ordered))
    chosen = [c for c in ordered if anchor in (c.get("anchors") or []) or c.get("anchor") == anchor]
    if not chosen:
        known = sorted({a for c in ordered for a in c.get("anchors") or []})
        raise NotFound(f"{page_url} has no section #{anchor}; its anchors: "
                       + ", ".join(f"#{a}" for a in known[:40]))
    path = _common_path([list(c.get("heading_path") or [title]) for c in chosen])
    return Section(f"{page_url}#{anchor}", title, path, render(chosen), len(chosen))


def _common_path(paths: list[list[str]]) -> list[str]:
    """The heading path every chosen chunk shares: the section's own."""
    common = paths[0]
    for path in paths[1:]:
        size = 0
        while size < min(len(common), len(path)) and common[size] == path[size]:
            size += 1
        common = common[:size]
    return common or paths[0][:1]
