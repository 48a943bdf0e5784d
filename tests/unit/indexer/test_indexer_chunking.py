"""Chunker: size limit, overlap, anchors that exist, deterministic ids, nothing lost (properties)."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from services.indexer.chunking import (
    chunk_page, merge_small, overlap_tail, point_id, split_sections,
)
from services.indexer.cleaning import CleanPage, clean_html
from shared.schemas import Chunk
from shared.settings import ProcessingSettings
from tests.conftest import SHARED

PAGES = sorted((SHARED / "site" / "en-us" / "defender-endpoint").glob("*.html"))
WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12)


def chunks_of(page: CleanPage, cfg: ProcessingSettings) -> list[Chunk]:
    return chunk_page(page, page_id="p", url="https://docs.example/x/page", page_hash="h",
                      settings=cfg)


def indivisible(text: str, limit: int) -> bool:
    """Only a code line longer than the limit may push a chunk over it."""
    return "```" in text and max(len(line) for line in text.splitlines()) + 8 > limit


def check_properties(page: CleanPage, chunks: list[Chunk], cfg: ProcessingSettings) -> None:
    assert [c.position for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert len(chunk.text) <= cfg.max_chunk_chars or indivisible(chunk.text,
                                                                    cfg.max_chunk_chars)
        assert chunk.url and chunk.anchor in page.ids
        assert set(chunk.anchors) <= page.ids
        assert chunk.embed_text.startswith(" › ".join(chunk.heading_path))
        assert chunk.id == point_id(chunk.url, chunk.position)
    for previous, chunk in zip(chunks, chunks[1:]):
        if previous.heading_path == chunk.heading_path:
            tail = overlap_tail(previous.text, cfg.chunk_overlap_chars)
            if tail and chunk.text.startswith(tail):
                assert len(tail) <= cfg.chunk_overlap_chars


def words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z0-9]{3,}", text))


@pytest.mark.parametrize("limit", [1200, 400])
def test_properties_hold_on_every_docsite_page(limit: int) -> None:
    cfg = ProcessingSettings(max_chunk_chars=limit, chunk_overlap_chars=limit // 8,
                             min_section_chars=limit // 6)
    for path in PAGES[::4]:
        page = clean_html(path.read_text(encoding="utf-8"))
        chunks = chunks_of(page, cfg)
        check_properties(page, chunks, cfg)
        assert words(page.text) - {w for b in page.blocks if b.kind == "heading"
                                   for w in words(b.text)} <= words(" ".join(c.text for c in chunks))


def test_sections_follow_h2_and_h3_with_their_heading_path() -> None:
    html = ("<main><h1 id='top'>Page</h1><p>intro " + "x " * 150 + "</p>"
            "<h2 id='a'>A</h2><p>" + "a " * 150 + "</p><h3 id='b'>B</h3><p>" + "b " * 150 + "</p>"
            "<h4 id='c'>C</h4><p>" + "c " * 150 + "</p><h2 id='d'>D</h2><p>" + "d " * 150 + "</p>"
            "</main>")
    sections = split_sections(clean_html(html))
    assert [s.path for s in sections] == [["Page"], ["Page", "A"], ["Page", "A", "B"],
                                          ["Page", "D"]]
    assert [s.anchor for s in sections] == ["top", "a", "b", "d"]
    assert sections[2].anchors == ["top", "a", "b"]
    assert any(b.kind == "heading" and b.text == "C" for b in sections[2].blocks)  # H4 inline


def test_small_sections_merge_into_a_neighbour_and_keep_their_anchor() -> None:
    html = ("<main><h1 id='top'>Page</h1><p>" + "intro " * 60 + "</p>"
            "<h2 id='parent'>Parent</h2><p>short</p><h3 id='child'>Child</h3><p>" + "c " * 200 +
            "</p><h2 id='tiny'>Tiny</h2><p>tiny text</p></main>")
    page = clean_html(html)
    merged = merge_small(split_sections(page), 100, 1200)
    assert len(merged) == 2
    parent = merged[1]  # labelled and linked where its text starts; the child's heading inline
    assert parent.path == ["Page", "Parent"] and parent.anchor == "parent"
    assert {"parent", "child", "tiny"} <= set(parent.anchors)
    chunks = chunks_of(page, ProcessingSettings(min_section_chars=100))
    assert chunks[-1].text.startswith("short\n\n### Child\n\nc c")
    assert "## Tiny\n\ntiny text" in chunks[-1].text


def test_a_short_section_merged_into_the_next_one_is_labelled_as_itself() -> None:
    """The fault: a short "MDM" section merged into the next one, "Configuration Manager", was
    labelled "Configuration Manager" but linked to #mdm, and its text showed under the wrong name."""
    long = "<p>" + "w " * 700 + "</p>"  # no room to merge into the previous section
    html = ("<main><h1 id='top'>Page</h1>" + long + "<h2 id='mdm'>MDM</h2><p>mdm text</p>"
            "<h2 id='cm'>Configuration Manager</h2><p>" + "c " * 200 + "</p></main>")
    chunks = chunks_of(clean_html(html), ProcessingSettings(min_section_chars=100,
                                                            max_chunk_chars=1200))
    merged = next(c for c in chunks if "mdm text" in c.text)
    assert merged.heading_path == ["Page", "MDM"] and merged.anchor == "mdm"
    assert merged.text.startswith("mdm text\n\n## Configuration Manager\n\nc c")
    assert {"mdm", "cm"} <= set(merged.anchors)


def test_code_block_is_never_cut_when_it_fits_and_split_at_lines_when_not() -> None:
    code = "\n".join(f"line {n} " + "y" * 40 for n in range(40))
    html = f"<main><h1 id='t'>T</h1><p>{'w ' * 300}</p><pre><code>{code}</code></pre></main>"
    cfg = ProcessingSettings(max_chunk_chars=1200, chunk_overlap_chars=100, min_section_chars=0)
    chunks = chunks_of(clean_html(html), cfg)
    pieces = [c.text for c in chunks if "```" in c.text]
    assert all(p.count("```") == 2 for p in pieces)  # every piece is a closed fence
    lines = [line for p in pieces for line in p.splitlines() if line.startswith("line ")]
    assert lines == code.splitlines()  # every line once, in order, none cut
    small = f"<main><h1 id='t'>T</h1><p>{'w ' * 500}</p><pre><code>a\nb</code></pre></main>"
    assert any("```\na\nb\n```" in c.text for c in chunks_of(clean_html(small), cfg))


def test_a_split_table_repeats_its_header_and_never_cuts_a_row() -> None:
    rows = "".join(f"<tr><td>row{n}</td><td>{'v ' * 30}</td></tr>" for n in range(40))
    html = (f"<main><h1 id='t'>T</h1><table><thead><tr><th>Name</th><th>Value</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></main>")
    chunks = chunks_of(clean_html(html), ProcessingSettings(max_chunk_chars=600))
    assert len(chunks) > 2
    for chunk in chunks:
        assert chunk.text.startswith("| Name | Value |\n| --- | --- |")
        assert all(line.startswith("|") and line.endswith("|") for line in chunk.text.splitlines())


def test_ids_are_deterministic_and_rerun_identical() -> None:
    page = clean_html(PAGES[0].read_text(encoding="utf-8"))
    first, second = chunks_of(page, ProcessingSettings()), chunks_of(page, ProcessingSettings())
    assert [c.model_dump() for c in first] == [c.model_dump() for c in second]
    assert len({c.id for c in first}) == len(first)
    assert point_id("u", 1) != point_id("u", 2) != point_id("v", 1)


paragraph = st.lists(WORDS, min_size=1, max_size=120).map(" ".join)
block = st.one_of(
    paragraph.map(lambda t: f"<p>{t}</p>"),
    st.lists(paragraph, min_size=1, max_size=6).map(
        lambda items: "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"),
    st.lists(st.tuples(WORDS, paragraph), min_size=1, max_size=12).map(
        lambda rows: "<table><tr><th>k</th><th>v</th></tr>" +
        "".join(f"<tr><td>{a}</td><td>{b}</td></tr>" for a, b in rows) + "</table>"),
    st.lists(st.text(alphabet="abc xyz=();", min_size=0, max_size=90), min_size=1,
             max_size=30).map(lambda lines: "<pre><code>" + "\n".join(lines) + "</code></pre>"),
)
section = st.tuples(st.sampled_from(["h2", "h3", "h4"]), WORDS, st.lists(block, max_size=4))


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(intro=st.lists(block, max_size=3), sections=st.lists(section, max_size=8),
       limit=st.integers(200, 1500), overlap=st.integers(0, 200), small=st.integers(0, 300))
def test_chunk_properties_on_generated_pages(intro: list[str], sections: list, limit: int,
                                            overlap: int, small: int) -> None:
    body = "".join(intro) + "".join(
        f"<{tag} id='s{n}-{name}'>{name}</{tag}>{''.join(blocks)}"
        for n, (tag, name, blocks) in enumerate(sections))
    page = clean_html(f"<html><body><main><h1 id='top'>Title</h1>{body}</main></body></html>")
    cfg = ProcessingSettings(max_chunk_chars=limit, chunk_overlap_chars=overlap,
                             min_section_chars=small)
    chunks = chunks_of(page, cfg)
    check_properties(page, chunks, cfg)
    body_words = words("\n".join(b.text for b in page.blocks if b.kind != "heading"))
    assert body_words <= words(" ".join(c.text for c in chunks))
