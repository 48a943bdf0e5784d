"""Index runs in-process with fakes for the crawler and the model, a real Qdrant Edge store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.indexer import indexing
from services.retrieval.edge import EdgeStore
from services.retrieval.retriever import Retriever
from shared.schemas import PageInfo, PointIn
from shared.settings import Settings, load_settings
from tests.unit.retrieval.fakes import WordEmbedder


def article(slug: str, body: str) -> str:
    sections = "".join(f"<h2 id='s{n}'>Section {n} of {slug}</h2><p>{body} {n} " + "filler " * 80
                       + "</p>" for n in range(4))
    return (f"<html><head><link rel='canonical' href='https://learn.example/{slug}'></head><body>"
            f"<main><div class='content'><h1 id='top'>{slug}</h1><p>{body}</p>{sections}</div>"
            f"</main></body></html>")


class FakeCrawler:
    """The crawler's page list and stored HTML, editable by the tests."""

    def __init__(self) -> None:
        self.html: dict[str, str] = {}
        self.info: dict[str, PageInfo] = {}

    def put(self, slug: str, body: str, state: str = "new") -> None:
        html = article(slug, body)
        self.html[slug] = html
        self.info[slug] = PageInfo(id=slug, url=f"http://mirror/{slug}", state=state,
                                   canonical_url=f"https://learn.example/{slug}",
                                   content_hash=str(hash(html)))

    def pages(self) -> list[PageInfo]:
        return list(self.info.values())

    def html_of(self, page_id: str) -> str | None:
        return self.html.get(page_id)


class Source:
    """The PageSource protocol over the fake crawler."""

    def __init__(self, crawler: FakeCrawler) -> None:
        self.crawler = crawler

    def pages(self) -> list[PageInfo]:
        return self.crawler.pages()

    def html(self, page_id: str) -> str | None:
        return self.crawler.html_of(page_id)


class FailingSink(Retriever):
    """Fault injection: the retrieval side breaks after `allowed` upserts."""

    allowed = 10**9

    def upsert(self, points: list[PointIn], build: str | None = None) -> int:
        if self.allowed <= 0:
            raise ConnectionError("retrieval went away")
        self.allowed -= 1
        return super().upsert(points, build)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[FakeCrawler, FailingSink, Settings]]:
    settings = load_settings(data_dir=tmp_path, index={"upsert_batch": 4, "batch_pages": 2},
                             processing={"max_chunk_chars": 400, "min_section_chars": 50})
    crawler = FakeCrawler()
    for n in range(5):
        crawler.put(f"page-{n}", f"original text {n}")
    sink = FailingSink(EdgeStore(tmp_path / "qdrant", "docs"), WordEmbedder(), settings.index)
    yield crawler, sink, settings
    sink.close()


def run(crawler: FakeCrawler, sink: Retriever, settings: Settings, full: bool = False) -> dict:
    return indexing.run(Source(crawler), WordEmbedder(), sink, settings, full)


def by_page(sink: Retriever) -> dict[str, dict[str, dict]]:
    pages: dict[str, dict[str, dict]] = {}
    offset = None
    while True:
        batch = sink.chunks(offset, 100)
        for chunk in batch.items:
            pages.setdefault(chunk.page_id, {})[chunk.id] = chunk.model_dump()
        offset = batch.next_offset
        if offset is None:
            return pages


def test_first_run_is_a_full_build_then_nothing_to_do(world) -> None:  # noqa: ANN001
    crawler, sink, settings = world
    first = run(crawler, sink, settings)
    assert first["full"] and first["reason"] == "index empty" and first["pages_indexed"] == 5
    assert sink.collection().settings_hash == indexing.settings_hash(settings)
    second = run(crawler, sink, settings)
    assert not second["full"] and second["pages_indexed"] == 0


def test_changed_page_only_its_points_change_and_deleted_page_goes(world) -> None:  # noqa: ANN001
    crawler, sink, settings = world
    run(crawler, sink, settings)
    before = by_page(sink)
    crawler.put("page-2", "rewritten and much shorter", state="changed")
    crawler.info["page-4"] = crawler.info["page-4"].model_copy(update={"state": "deleted"})
    result = run(crawler, sink, settings)
    assert result["pages_indexed"] == 1 and result["pages_deleted"] == 1
    after = by_page(sink)
    assert "page-4" not in after
    for page in ("page-0", "page-1", "page-3"):
        assert after[page] == before[page]
    assert {c["page_hash"] for c in after["page-2"].values()} == {crawler.info["page-2"].content_hash}


def test_run_killed_half_way_leaves_every_page_served_and_rerun_fixes_it(world) -> None:  # noqa: ANN001
    crawler, sink, settings = world
    run(crawler, sink, settings)
    for n in range(5):
        crawler.put(f"page-{n}", f"second edition {n}", state="changed")
    sink.allowed = 3  # fault: the retrieval API fails after 3 writes of this run
    with pytest.raises(ConnectionError):
        run(crawler, sink, settings)
    assert set(by_page(sink)) == {f"page-{n}" for n in range(5)}  # nothing missing meanwhile
    sink.allowed = 10**9
    result = run(crawler, sink, settings)
    assert 0 < result["pages_indexed"] < 5  # only what the broken run did not finish
    chunks = by_page(sink)
    for n in range(5):
        assert {c["page_hash"] for c in chunks[f"page-{n}"].values()} == \
            {crawler.info[f"page-{n}"].content_hash}
    assert sink.collection().points == sum(len(v) for v in chunks.values())  # no duplicates


def test_failed_full_rebuild_keeps_the_old_index_serving(world) -> None:  # noqa: ANN001
    crawler, sink, settings = world
    run(crawler, sink, settings)
    serving = sink.collection().serving
    sink.allowed = 1  # fault: the rebuild breaks after one write
    with pytest.raises(ConnectionError):
        run(crawler, sink, settings, full=True)
    info = sink.collection()
    assert info.serving == serving and info.builds == []  # the half build was dropped
    assert sink.search("original text 3", 3, "sparse").hits


def test_changed_chunk_settings_force_a_full_rebuild(world) -> None:  # noqa: ANN001
    crawler, sink, settings = world
    run(crawler, sink, settings)
    smaller = settings.model_copy(update={"processing": settings.processing.model_copy(
        update={"max_chunk_chars": 300})})
    result = run(crawler, sink, smaller)
    assert result["full"] and result["reason"] == "settings changed"
    assert sink.collection().settings_hash == indexing.settings_hash(smaller)


def test_pages_without_stored_html_are_reported_not_fatal(world) -> None:  # noqa: ANN001
    crawler, sink, settings = world
    del crawler.html["page-1"]  # fault: the crawler lost a page's HTML
    result = run(crawler, sink, settings)
    assert result["pages_failed"] == 1 and result["failed_page_ids"] == ["page-1"]
    assert result["pages_indexed"] == 4
