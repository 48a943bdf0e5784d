"""SearchHit builders for generation unit tests."""

from __future__ import annotations

from shared.schemas import SearchHit

BASE = "https://learn.microsoft.com/en-us/defender-endpoint/"


def hit(slug: str, score: float = 1.0, text: str = "", anchor: str | None = None,
        heading: str = "Section") -> SearchHit:
    title = slug.replace("-", " ").capitalize()
    return SearchHit(score=score, text=text or f"About {title}.", url=BASE + slug, anchor=anchor,
                     title=title, heading_path=[title, heading], chunk_id=f"{slug}-{anchor}")
