"""Platforms: MDE's documentation is written per platform (Windows, macOS, Linux, iOS, Android), and
a question that names one is answered by that platform's pages. Retrieval ranks them first; the
answer quotes no evidence from another platform's page while one of them is shown."""

from __future__ import annotations

import re
from typing import Protocol

from shared.schemas import SearchHit

PLATFORMS = {
    "windows": r"\bwindows\b|\bwin ?1[01]\b|\bserver 20\d\d\b",
    "macos": r"\bmac(?:os)?\b|\bos x\b",
    "linux": r"\blinux\b|\bubuntu\b|\brhel\b|\bdebian\b|\bcentos\b|\bsuse\b",
    "ios": r"\bios\b|\biphone|\bipad",
    "android": r"\bandroid\b",
}

# the docs' default platform: an MDE page that names none is about Windows (the Linux, macOS, iOS
# and Android pages say so in their titles; "Contextual file and folder exclusions" answered "how
# do I exclude a folder on Linux?" with `C:\documents\` paths)
DEFAULT = "windows"


def platforms(text: str) -> set[str]:
    """The platforms a text names."""
    return {name for name, pattern in PLATFORMS.items() if re.search(pattern, text, re.IGNORECASE)}


class Page(Protocol):
    """A hit or a numbered source: what says which platforms its page is about."""

    title: str
    url: str
    platforms: list[str]


def declared(page: Page) -> set[str]:
    """The platforms a page says it is about: those it declares, else those its title and URL
    name (none: a page about the docs' default platform)."""
    slug = page.url.split("#")[0].rstrip("/").rsplit("/", 1)[-1]
    return set(page.platforms) or platforms(f"{page.title} {slug.replace('-', ' ')}")


def tier(asked: set[str], page: Page) -> int:
    """0: about an asked platform, 1: names no platform (the default one's, but some hold what
    applies everywhere), 2: names only other platforms."""
    about = declared(page)
    return 0 if (about or {DEFAULT}) & asked else 2 if about else 1


def elsewhere(asked: set[str], page: Page) -> bool:
    """Whether a page is about other platforms than the asked ones."""
    return bool(asked) and tier(asked, page) > 0


def platform_order(question: str, hits: list[SearchHit]) -> list[SearchHit]:
    """The asked platform's pages first, then pages that name no platform, then pages that name
    only other platforms (stable)."""
    asked = platforms(question)
    if not asked:
        return hits
    return sorted(hits, key=lambda hit: tier(asked, hit))
