"""Both stores behind one interface: Qdrant Edge in a temp dir and qdrant-client's local mode."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from services.retrieval.edge import EdgeStore
from services.retrieval.remote import RemoteStore
from services.retrieval.retriever import Retriever
from services.retrieval.store import StoreLocked, VectorStore
from shared.errors import InvalidName
from shared.settings import IndexSettings
from tests.unit.retrieval.fakes import CORPUS, DIM, WordEmbedder, make_chunk, points


@pytest.fixture(params=["edge", "client"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    if request.param == "edge":
        opened: VectorStore = EdgeStore(tmp_path / "qdrant" / "docs", "docs")
    else:
        opened = RemoteStore(QdrantClient(":memory:"), "docs", server=False)
    yield opened
    opened.close()


def retriever(store: VectorStore, **settings: object) -> Retriever:
    return Retriever(store, WordEmbedder(), IndexSettings(**settings))


def fill(r: Retriever, build: str | None = None) -> None:
    r.upsert(points([make_chunk(*row) for row in CORPUS]), build)


def urls(response) -> list[str]:  # noqa: ANN001
    return [hit.url.rsplit("/", 1)[-1] for hit in response.hits]


def test_empty_index_says_so(store: VectorStore) -> None:
    response = retriever(store).search("anything at all", 5, "hybrid")
    assert response.hits == [] and response.index_empty is True
    info = retriever(store).collection()
    assert info.empty and info.points == 0


@pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
@pytest.mark.parametrize("fusion", ["rrf", "dbsf"])
def test_each_mode_finds_verbatim_technical_tokens(store: VectorStore, mode: str,
                                                  fusion: str) -> None:
    r = retriever(store, fusion=fusion)
    fill(r)
    for query, expected in [("Set-MpPreference", "enable-controlled-folders"),
                            ("0x80070005", "troubleshoot-onboarding"),
                            ("mdatp exclusion folder add", "linux-exclusions")]:
        response = r.search(query, 3, mode)
        assert urls(response)[0] == expected, (mode, query, urls(response))
        assert response.mode == mode and not response.index_empty


def test_code_tokenizer_splits_camel_case_for_sparse_search(store: VectorStore) -> None:
    r = retriever(store)
    fill(r)
    assert urls(r.search("enable controlled folder access", 1, "sparse")) == \
        ["enable-controlled-folders"]


def test_hits_carry_payload_fields(store: VectorStore) -> None:
    r = retriever(store)
    fill(r)
    hit = r.search("tamper protection", 1, "hybrid").hits[0]
    assert hit.title == "tamper-protection" and hit.anchor == "intro"
    assert hit.heading_path == ["tamper-protection", "intro"] and hit.anchors == ["top", "intro"]
    assert hit.chunk_id and hit.page_id == "id-tamper-protection" and hit.position == 0


def test_rerun_upsert_never_duplicates(store: VectorStore) -> None:
    r = retriever(store)
    fill(r)
    fill(r)
    assert r.collection().points == len(CORPUS)


def test_delete_by_url_page_id_and_stale_hash(store: VectorStore) -> None:
    r = retriever(store)
    fill(r)
    r.upsert(points([make_chunk("linux-exclusions", 0, "new text", page_hash="h2")]))
    assert r.delete(page_id="id-linux-exclusions", keep_page_hash="h2") == 1  # stale position 1
    assert r.page_hashes()["id-linux-exclusions"] == "h2"
    url = make_chunk("tamper-protection", 0, "").url
    assert r.delete(url=url) == 1
    assert "id-tamper-protection" not in r.page_hashes()
    assert r.collection().points == len(CORPUS) - 2


def test_build_is_invisible_until_published_then_replaces(store: VectorStore) -> None:
    r = retriever(store)
    fill(r)
    build = r.start_build("hash-2", DIM)
    r.upsert(points([make_chunk("new-page", 0, "brand new tamper article")]), build)
    assert "new-page" not in urls(r.search("brand new tamper article", 5, "hybrid"))
    assert build in r.collection().builds
    r.publish(build)
    info = r.collection()
    assert info.points == 1 and info.settings_hash == "hash-2" and info.serving == build
    assert urls(r.search("brand new tamper article", 5, "hybrid")) == ["new-page"]
    assert info.builds == []


def test_abort_drops_a_build(store: VectorStore) -> None:
    r = retriever(store)
    build = r.start_build("h", DIM)
    r.abort(build)
    assert build not in r.collection().builds
    with pytest.raises(KeyError):
        r.upsert(points([make_chunk("x", 0, "text")]), build)


def test_scroll_pages_through_every_chunk(store: VectorStore) -> None:
    r = retriever(store)
    fill(r)
    seen, offset = [], None
    while True:
        page = r.chunks(offset, 2)
        seen += [c.id for c in page.items]
        offset = page.next_offset
        if offset is None:
            break
    assert sorted(seen) == sorted(make_chunk(*row).id for row in CORPUS)


def test_scroll_of_one_page_by_url_or_page_id(store: VectorStore) -> None:
    r = retriever(store)
    fill(r)
    wanted = [make_chunk(*row) for row in CORPUS if row[0] == "linux-exclusions"]
    by_url = r.chunks(None, 100, {"url": wanted[0].url}).items
    by_id = r.chunks(None, 100, {"page_id": wanted[0].page_id}).items
    assert sorted(c.id for c in by_url) == sorted(c.id for c in by_id) == sorted(c.id for c in wanted)
    assert r.chunks(None, 100, {"url": wanted[0].url + "-nope"}).items == []


def test_edge_store_reopens_and_refuses_a_second_owner(tmp_path: Path) -> None:
    root = tmp_path / "qdrant" / "docs"
    first = EdgeStore(root, "docs")
    fill(retriever(first))
    with pytest.raises(StoreLocked):
        EdgeStore(root, "docs")  # fault: a second process opens the embedded store
    first.close()
    again = EdgeStore(root, "docs")
    assert retriever(again).collection().points == len(CORPUS)
    again.close()


def test_hits_per_page_cap(store: VectorStore) -> None:
    r = retriever(store, max_hits_per_page=1)
    fill(r)
    found = urls(r.search("exclusion linux global scope", 5, "hybrid"))
    assert found.count("linux-exclusions") == 1


@pytest.mark.parametrize("build", ["..", "../docs", "/tmp/x", ".hidden", "a/b"])
def test_a_build_name_that_is_a_path_is_refused(store: VectorStore, tmp_path: Path,
                                                build: str) -> None:
    """Fault: a build name from a request that leads outside the store (second wall: the store
    itself checks, whatever the API let through)."""
    r = retriever(store)
    fill(r)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    for call in (lambda: r.publish(build), lambda: r.abort(build),
                 lambda: r.delete(page_id="id-tamper-protection", build=build),
                 lambda: fill(r, build)):
        with pytest.raises(InvalidName):
            call()
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before
    assert store.info().points == len(CORPUS)


def test_a_client_store_never_touches_another_collection(tmp_path: Path) -> None:
    """Fault: a build name that is another collection on the same Qdrant server."""
    client = QdrantClient(":memory:")
    store = RemoteStore(client, "docs", server=False)
    fill(retriever(store))
    bystander = RemoteStore(client, "other", server=False)
    fill(retriever(bystander))
    other = bystander.info().serving
    for call in (lambda: store.abort(other), lambda: store.publish(other),
                 lambda: store.delete(page_id="id-tamper-protection", build=other)):
        with pytest.raises(InvalidName):
            call()
    assert client.collection_exists(other) and bystander.info().points == len(CORPUS)


def test_a_search_without_top_k_gets_index_top_k(store: VectorStore) -> None:
    """Fault: index.top_k never reached a request (SearchRequest filled in 5 before the
    retriever could fall back to it)."""
    from shared.schemas import SearchRequest

    r = retriever(store, top_k=2)
    fill(r)
    body = SearchRequest.model_validate({"query": "exclusions for linux"})
    assert len(r.search(body.query, body.top_k, body.mode).hits) == 2


def test_a_query_naming_a_platform_gets_that_platforms_pages_first(store: VectorStore) -> None:
    # the fault: "… on our linux servers" ranked the macOS page first, its words matched better
    rows = [("mac-support-perf", 0, "wdavdaemon high CPU usage: real-time protection statistics "
                                    "show which process causes high CPU usage"),
            ("linux-support-perf", 0, "Troubleshoot performance issues of the agent"),
            ("tamper-protection", 0, "Tamper protection locks security settings")]
    query = "wdavdaemon high CPU usage on our linux servers"
    raw = retriever(store, platform_first=False)
    raw.upsert(points([make_chunk(*row) for row in rows]))
    assert urls(raw.search(query, 1, "hybrid")) == ["mac-support-perf"]
    ranked = retriever(store)
    assert urls(ranked.search(query, 1, "hybrid")) == ["linux-support-perf"]  # from 2 fetched
    # a page naming no platform follows the Linux page, and precedes the macOS one
    assert urls(ranked.search(query, 3, "hybrid"))[1:] == ["tamper-protection", "mac-support-perf"]
    assert urls(ranked.search(query, 1, "dense")) == ["mac-support-perf"]  # refusal's view: raw
    assert urls(ranked.search("wdavdaemon high CPU usage", 1, "hybrid")) == ["mac-support-perf"]


def test_a_page_declaring_only_another_platform_goes_last(store: VectorStore) -> None:
    # the fault: a Windows-only page whose title names no platform counted as neutral
    windows_only = make_chunk("behavioral-blocking", 0, "wdavdaemon high CPU usage statistics")
    rows = [windows_only.model_copy(update={"platforms": ["windows"]}),
            make_chunk("linux-support-perf", 0, "Troubleshoot performance issues of the agent")]
    ranked = retriever(store)
    ranked.upsert(points(rows))
    found = ranked.search("wdavdaemon high CPU usage on our linux servers", 2, "hybrid")
    assert urls(found) == ["linux-support-perf", "behavioral-blocking"]
    assert found.hits[1].platforms == ["windows"]  # stored with the chunk, returned with the hit


def test_an_acronym_the_docs_define_is_searched_with_its_words(store: VectorStore) -> None:
    # the fault: "ASR" in a question matched only the page defining it; the others write the words
    rows = [("reduction-overview", 0, "Attack surface reduction (ASR) rules overview"),
            ("rule-exclusions", 0, "Exclusions from attack surface reduction rules"),
            ("tamper-protection", 0, ("Exclusions from tamper protection: file and folder "
                                     "exclusions, process exclusions"))]
    plain = retriever(store, expand_acronyms=False)
    plain.upsert(points([make_chunk(*row) for row in rows]))
    found = plain.search("ASR exclusions", 2, "sparse")
    assert found.expanded == [] and urls(found) == ["reduction-overview", "tamper-protection"]
    spelled = retriever(store).search("ASR exclusions", 2, "sparse")
    assert spelled.expanded == ["attack surface reduction"]
    assert urls(spelled) == ["reduction-overview", "rule-exclusions"]
