"""The vector store interface the retrieval service uses, whatever holds the points.

Two implementations with the same collection layout (dense `dense` cosine vectors + sparse `bm25`
vectors with the IDF modifier) and the same queries: Qdrant Edge in-process (`edge.py`, the default,
under DATA_DIR/qdrant) and a Qdrant server through qdrant-client (`remote.py`, when QDRANT_URL is set).

A full rebuild goes into a *build* (a new Edge shard folder, or a new server collection behind the
alias) that replaces the serving one only when it is published.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.retrieval.sparse import Sparse
from shared.settings import Settings

DENSE, SPARSE = "dense", "bm25"


@dataclass(frozen=True)
class StoredPoint:
    id: str
    dense: list[float]
    sparse: Sparse
    payload: dict[str, Any]


@dataclass(frozen=True)
class QueryPlan:
    """One search: dense, sparse, or both fused in the store (prefetch + fusion)."""

    mode: str  # dense | sparse | hybrid
    limit: int
    dense: list[float] | None = None
    sparse: Sparse | None = None
    fusion: str = "rrf"  # rrf | dbsf
    weights: tuple[float, float] = (1.0, 1.0)  # dense, sparse
    rrf_k: int = 60
    prefetch_limit: int = 50


@dataclass(frozen=True)
class Found:
    id: str
    score: float
    payload: dict[str, Any]


@dataclass
class StoreInfo:
    backend: str
    alias: str  # the name searches use
    serving: str | None  # the shard folder or collection behind it
    points: int = 0
    settings_hash: str | None = None
    created_at: float | None = None
    updated_at: float | None = None
    vectors: dict[str, Any] = field(default_factory=dict)
    builds: list[str] = field(default_factory=list)


class VectorStore(Protocol):
    backend: str

    def info(self) -> StoreInfo: ...

    def upsert(self, points: list[StoredPoint], build: str | None = None) -> None: ...

    def delete(self, *, url: str | None = None, page_id: str | None = None,
               keep_page_hash: str | None = None, build: str | None = None) -> int: ...

    def query(self, plan: QueryPlan) -> list[Found]: ...

    def scroll(self, offset: str | None, limit: int, where: dict[str, str] | None = None
               ) -> tuple[list[dict[str, Any]], str | None]: ...

    def page_hashes(self) -> dict[str, str]: ...

    def start_build(self, settings_hash: str, dim: int) -> str: ...

    def publish(self, build: str) -> None: ...

    def abort(self, build: str) -> None: ...

    def close(self) -> None: ...


class StoreLocked(RuntimeError):
    """The embedded store is open in another process (the retrieval service)."""


def page_hash_pairs(payloads: Iterable[dict[str, Any] | None]) -> dict[str, str]:
    """page_id -> page_hash from point payloads (scrolled with just those two fields)."""
    return {str(p["page_id"]): str(p["page_hash"]) for p in payloads if p and "page_id" in p}


def vector_config(dim: int | None) -> dict[str, Any]:
    return {DENSE: {"size": dim, "distance": "Cosine"}, SPARSE: {"modifier": "idf"}}


class ReadWriteLock:
    """Many searches at once; a switch of the serving shard waits for them and blocks new ones."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing)
            self._writing = True
            self._cond.wait_for(lambda: self._readers == 0)
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


def open_store(settings: Settings) -> VectorStore:
    """Qdrant Edge under DATA_DIR/qdrant, or qdrant-client when index.qdrant_url is set."""
    if settings.index.qdrant_url:
        from services.retrieval.remote import RemoteStore

        return RemoteStore.connect(settings.index.qdrant_url, settings.index.qdrant_api_key,
                                   settings.index.collection)
    from services.retrieval.edge import EdgeStore

    return EdgeStore(settings.data_dir / "qdrant" / settings.index.collection,
                     settings.index.collection)
