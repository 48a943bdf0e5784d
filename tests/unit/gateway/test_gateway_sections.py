"""Sections rebuilt from chunks: the indexer's overlap cut, subsections kept, links validated."""

from __future__ import annotations

import re

import pytest

from services.gateway import sections
from services.indexer.chunking import chunk_page
from services.indexer.cleaning import Block, CleanPage, clean_html
from shared.errors import BadRequest, NotFound
from shared.settings import ProcessingSettings
from tests.conftest import SHARED

URL = "https://docs.example/en-us/defender-endpoint/page"
SITE = SHARED / "site" / "en-us" / "defender-endpoint"


def chunks_of(page: CleanPage, **cfg: int) -> list[dict]:
    settings = ProcessingSettings(**cfg)
    found = chunk_page(page, page_id="p1", url=URL, page_hash="h", settings=settings)
    return [c.model_dump() for c in reversed(found)]  # the store hands them back in id order


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def numbered_page() -> CleanPage:
    """An intro, a long H2 section (many distinct sentences) and an H3 under it."""
    long_text = " ".join(f"Sentence number {n} explains step {n} of the setup." for n in range(60))
    return CleanPage("Page title", URL, [
        Block("heading", "Page title", 1, "top"),
        Block("text", "The intro says what the page covers, in enough words to stand alone. " * 4),
        Block("heading", "Configure it", 2, "configure-it"), Block("text", long_text),
        Block("heading", "On Linux", 3, "on-linux"),
        Block("text", "Run mdatp config real-time-protection --value enabled on the device. " * 4),
        Block("heading", "Other topic", 2, "other-topic"),
        Block("text", "An unrelated section with its own words about reporting and alerts. " * 4)],
        ids={"top", "configure-it", "on-linux", "other-topic"})


def test_overlap_between_chunks_of_a_section_is_cut() -> None:
    chunks = chunks_of(numbered_page(), max_chunk_chars=400, chunk_overlap_chars=150)
    assert len([c for c in chunks if c["anchor"] == "configure-it"]) > 3  # really split
    text = sections.render(chunks)
    for n in range(60):
        assert text.count(f"Sentence number {n} explains") == 1, n
    positions = [text.index(f"Sentence number {n} explains") for n in range(60)]
    assert positions == sorted(positions)


def test_a_section_holds_its_subsections_and_its_own_heading() -> None:
    chunks = chunks_of(numbered_page(), max_chunk_chars=400, chunk_overlap_chars=150)
    found = sections.section(URL, "configure-it", chunks)
    assert found.url == URL + "#configure-it"
    assert found.heading_path == ["Page title", "Configure it"]
    assert found.text.startswith("## Configure it\n\n") and "### On Linux" in found.text
    assert "mdatp config real-time-protection" in found.text
    assert "unrelated section" not in found.text and "intro says" not in found.text
    sub = sections.section(URL, "on-linux", chunks)
    assert sub.text.startswith("### On Linux") and "Sentence number" not in sub.text


def test_whole_page_without_anchor_and_errors_for_unknown_ones() -> None:
    chunks = chunks_of(numbered_page(), max_chunk_chars=400, chunk_overlap_chars=150)
    page = sections.section(URL, None, chunks)
    assert page.text.startswith("# Page title\n\nThe intro says") and page.passages == len(chunks)
    with pytest.raises(NotFound, match="has no section #nope; its anchors: #configure-it"):
        sections.section(URL, "nope", chunks)
    with pytest.raises(NotFound, match="is not a page of the index"):
        sections.section(URL, None, [])


@pytest.mark.parametrize("slug", ["linux-exclusions", "enable-controlled-folders"])
def test_a_real_page_loses_no_block(slug: str) -> None:
    page = clean_html((SITE / f"{slug}.html").read_text())
    text = squash(sections.render(chunks_of(page)))
    for block in page.blocks:
        if block.kind in ("text", "code"):
            assert squash(block.text) in text, block.text[:80]


@pytest.mark.parametrize("link, page, anchor", [
    (URL + "#scope", URL, "scope"), (URL, URL, None), (f" {URL}?view=x#a ", URL + "?view=x", "a")])
def test_split_link(link: str, page: str, anchor: str | None) -> None:
    assert sections.split_link(link) == (page, anchor)


@pytest.mark.parametrize("link", ["", "file:///etc/passwd", "/en-us/page#a", "javascript:x",
                                  "https://" + "a" * 2000])
def test_links_that_are_not_docs_urls_are_refused(link: str) -> None:
    with pytest.raises(BadRequest, match="url: "):
        sections.split_link(link)
