"""Retrieval API with a real Qdrant Edge store in a temp DATA_DIR and the real embedding model
(loaded in the service: index.query_embedder=local)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import lru_cache

import pytest
from fastapi.testclient import TestClient

from services.embedding.client import LocalEmbedder
from shared.schemas import PointIn
from shared.settings import Settings
from tests.unit.retrieval.fakes import CORPUS, make_chunk

pytestmark = pytest.mark.slow


@pytest.fixture
def api(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    make_settings(index__query_embedder="local", index__collection="api_test")
    from services.retrieval.app import create_app

    with TestClient(create_app()) as client:
        yield client


@lru_cache(maxsize=1)
def corpus_vectors() -> list[list[float]]:
    from shared.settings import load_settings

    return LocalEmbedder(load_settings()).embed([make_chunk(*row).embed_text for row in CORPUS])


def put_corpus(api: TestClient, build: str | None = None) -> None:
    chunks = [make_chunk(*row) for row in CORPUS]
    vectors = corpus_vectors()
    body = {"points": [PointIn(chunk=c, vector=v).model_dump() for c, v in zip(chunks, vectors)],
            "build": build}
    response = api.put("/points", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["written"] == len(chunks)


@pytest.mark.parametrize(("body", "named"), [
    ({}, "query"),                                            # fault: no query
    ({"query": ""}, "query"),                                 # fault: empty query
    ({"query": "x", "top_k": 0}, "top_k"),                    # fault: top_k below 1
    ({"query": "x", "top_k": 51}, "top_k"),                   # fault: top_k above 50
    ({"query": "x", "mode": "fuzzy"}, "mode"),                # fault: unknown mode
    ({"query": "x" * 2001}, "query"),                         # fault: query too long
])
def test_bad_search_bodies_are_422_naming_the_field(api: TestClient, body: dict, named: str) -> None:
    response = api.post("/search", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert named in response.json()["detail"]


def test_bad_point_bodies_are_422(api: TestClient) -> None:
    assert api.put("/points", json={"points": []}).status_code == 422  # fault: no points
    bad = {"points": [{"chunk": {"id": "x"}, "vector": [0.1]}]}  # fault: chunk misses fields
    response = api.put("/points", json=bad)
    assert response.status_code == 422 and "points.0.chunk" in response.json()["detail"]
    assert api.delete("/points").status_code == 400  # fault: neither url nor page_id


def test_empty_index_answers_200_with_no_hits(api: TestClient) -> None:
    response = api.post("/search", json={"query": "how do I onboard a Linux server?"})
    assert response.status_code == 200
    body = response.json()
    assert body["hits"] == [] and body["index_empty"] is True
    assert api.get("/collection").json()["empty"] is True


def test_points_search_delete_and_collection(api: TestClient) -> None:
    put_corpus(api)
    info = api.get("/collection").json()
    assert info["points"] == len(CORPUS) and info["backend"] == "qdrant-edge"
    assert info["vectors"]["dense"]["size"] == 384 and info["vectors"]["bm25"]["modifier"] == "idf"
    for mode in ("dense", "sparse", "hybrid"):
        body = api.post("/search", json={"query": "Set-MpPreference audit mode", "top_k": 2,
                                          "mode": mode}).json()
        assert body["hits"][0]["url"].endswith("/enable-controlled-folders"), mode
        assert body["mode"] == mode and body["index_empty"] is False
    url = make_chunk("linux-exclusions", 0, "").url
    assert api.delete("/points", params={"url": url}).json()["deleted"] == 2
    assert api.get("/collection").json()["points"] == len(CORPUS) - 2
    pages = api.get("/collection/pages").json()["pages"]
    assert "id-linux-exclusions" not in pages and pages["id-tamper-protection"] == "h1"


def test_chunks_scroll_for_the_trainer(api: TestClient) -> None:
    put_corpus(api)
    first = api.get("/chunks", params={"limit": 3, "offset": 0}).json()  # the trainer starts at 0
    assert len(first["items"]) == 3 and first["next_offset"]
    rest = api.get("/chunks", params={"limit": 10, "offset": first["next_offset"]}).json()
    assert len(rest["items"]) == len(CORPUS) - 3 and rest["next_offset"] is None
    assert {"text", "url", "heading_path", "embed_text"} <= set(rest["items"][0])
    assert api.get("/chunks", params={"offset": "not-an-id"}).status_code == 400  # fault


def test_chunks_of_one_page_for_get_section(api: TestClient) -> None:
    put_corpus(api)
    url = "https://learn.example/en-us/defender-endpoint/linux-exclusions"
    items = api.get("/chunks", params={"url": url}).json()["items"]
    assert sorted(c["position"] for c in items) == [0, 1] and {c["url"] for c in items} == {url}
    by_id = api.get("/chunks", params={"page_id": "id-linux-exclusions"}).json()["items"]
    assert len(by_id) == 2
    assert api.get("/chunks", params={"url": url + "/unknown"}).json()["items"] == []


def test_builds_publish_and_abort(api: TestClient) -> None:
    put_corpus(api)
    build = api.post("/collection/builds", json={"settings_hash": "abc", "dim": 384}).json()["build"]
    put_corpus(api, build)
    assert api.get("/collection").json()["settings_hash"] is None  # still the old one serving
    published = api.post(f"/collection/builds/{build}/publish").json()
    assert published["serving"] == build and published["settings_hash"] == "abc"
    assert api.post("/collection/builds/nope/publish").status_code == 404  # fault: no such build
    other = api.post("/collection/builds", json={"settings_hash": "x", "dim": 384}).json()["build"]
    assert api.delete(f"/collection/builds/{other}").status_code == 204
    assert other not in api.get("/collection").json()["builds"]


def test_build_names_never_become_paths_outside_the_store(api: TestClient,
                                                          make_settings: Callable[..., Settings]
                                                          ) -> None:
    """Fault: build names that are paths. Before, `DELETE /collection/builds/..` removed
    DATA_DIR/qdrant, `POST /collection/builds/../publish` served `..` and `PUT /points` with
    `build: "../x"` wrote a shard outside the store (%2E%2E reaches the route as `..`)."""
    put_corpus(api)
    store_root = make_settings().data_dir / "qdrant"
    before = sorted(p.name for p in (store_root / "api_test").iterdir())
    attempts = [
        api.delete("/collection/builds/%2E%2E"),
        api.post("/collection/builds/%2E%2E/publish"),
        api.delete("/collection/builds/.hidden"),
        api.delete("/points", params={"page_id": "id-tamper-protection", "build": "../api_test"}),
        api.put("/points", json={"points": api_points()[:1], "build": "../x"}),
        api.put("/points", json={"points": api_points()[:1], "build": "/tmp/x"}),
    ]
    for response in attempts:
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    assert sorted(p.name for p in (store_root / "api_test").iterdir()) == before
    assert sorted(p.name for p in store_root.iterdir()) == ["api_test"]  # nothing written beside
    assert api.get("/collection").json()["points"] == len(CORPUS)


def api_points() -> list[dict]:
    return [PointIn(chunk=make_chunk(*row), vector=v).model_dump()
            for row, v in zip(CORPUS, corpus_vectors())]
