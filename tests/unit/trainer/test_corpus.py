"""Chunks for the dataset: GET /chunks page by page, a chunks.jsonl, or the file when retrieval is down."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from services.trainer import corpus
from shared import http
from shared.settings import Settings
from tests.unit.trainer.corpus import corpus_chunks

CHUNKS = corpus_chunks(2)


def serve(monkeypatch: pytest.MonkeyPatch, handler: Callable[[httpx.Request], httpx.Response]) -> None:
    monkeypatch.setattr(http, "service_client", lambda name, settings=None, timeout=30.0:
                        http.ServiceClient(name, "http://retrieval.test",
                                           transport=httpx.MockTransport(handler)))


def test_fetch_follows_next_offset(monkeypatch: pytest.MonkeyPatch,
                                   make_settings: Callable[..., Settings]) -> None:
    offsets = []

    def handler(request: httpx.Request) -> httpx.Response:
        offset = request.url.params.get("offset")
        offsets.append(offset)
        start = int(offset or 0)
        items = [c.model_dump() for c in CHUNKS[start:start + 3]]
        more = start + 3 < len(CHUNKS)
        return httpx.Response(200, json={"items": items, "next_offset": str(start + 3) if more else None})

    serve(monkeypatch, handler)
    assert corpus.fetch_chunks(make_settings(), page_size=3) == CHUNKS
    assert offsets[0] is None and len(offsets) == -(-len(CHUNKS) // 3)


def test_unreachable_retrieval_falls_back_to_the_processed_file(
        monkeypatch: pytest.MonkeyPatch, make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(retrieval_url="http://127.0.0.1:9")
    with pytest.raises(http.UpstreamError):
        corpus.load_chunks(settings)
    path = settings.data_dir / "processed" / "chunks.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(c.model_dump_json() + "\n" for c in CHUNKS))
    assert corpus.load_chunks(settings) == CHUNKS
    assert corpus.load_chunks(settings, Path(path)) == CHUNKS
