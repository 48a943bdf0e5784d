"""What the retrieval service does, callable in-process: search, write and delete points, builds.

The HTTP routes (app.py) and the CLI (when the service is not running) both use a Retriever.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from services.embedding.client import Embedder
from services.retrieval.sparse import SparseEncoder
from services.retrieval.store import QueryPlan, StoredPoint, VectorStore
from services.retrieval.terms import TermTable
from shared.errors import Unprocessable
from shared.platforms import platform_order, platforms
from shared.schemas import Chunk, ChunkPage, CollectionInfo, PointIn, SearchHit, SearchResponse
from shared.settings import IndexSettings

log = logging.getLogger(__name__)


class Retriever:
    def __init__(self, store: VectorStore, embedder: Embedder, settings: IndexSettings) -> None:
        self.store, self.embedder, self.settings = store, embedder, settings
        self.sparse = SparseEncoder(settings)
        self.terms = TermTable(store)
        self._dim: int | None = None

    def dim(self) -> int:
        """The embedding model's vector size (asked once): every stored vector must have it."""
        if self._dim is None:
            self._dim = len(self.embedder.embed(["dimension probe"], "query")[0])
        return self._dim

    def check_dim(self, size: int, what: str) -> None:
        if size != self.dim():
            raise Unprocessable(f"{what} has {size} dimensions; the embedding model makes {self.dim()}")

    # --- search ---

    def plan(self, query: str, top_k: int, mode: str, platform_first: bool = False) -> QueryPlan:
        """Vectors and fusion for one query (hybrid falls back to dense when BM25 has no token)."""
        cfg = self.settings
        sparse = self.sparse.query(query) if mode in ("sparse", "hybrid") else None
        if sparse is not None and not sparse.indices:
            sparse = None
            mode = "dense" if mode == "hybrid" else mode
        dense = self.embedder.embed([query], "query")[0] if mode in ("dense", "hybrid") else None
        limit = top_k * 4 if cfg.max_hits_per_page else top_k
        if platform_first:
            limit = max(limit, top_k * 2)  # room to put the asked platform's pages first
        weights = (cfg.fusion_weights + [1.0, 1.0])[:2]
        return QueryPlan(mode, limit, dense, sparse, cfg.fusion, (weights[0], weights[1]),
                         cfg.rrf_k, max(cfg.prefetch_limit, limit))

    def platform_first(self, query: str, mode: str) -> bool:
        """Whether the asked platform's pages go first (hybrid only: dense and BM25 alone stay
        raw, the refusal reads their agreement)."""
        return self.settings.platform_first and mode == "hybrid" and bool(platforms(query))

    def search(self, query: str, top_k: int | None = None, mode: str | None = None) -> SearchResponse:
        started = time.perf_counter()
        top_k = top_k or self.settings.top_k
        mode = mode or self.settings.search_mode
        first = self.platform_first(query, mode)
        searched, expanded = query, []
        if self.settings.expand_acronyms:
            searched, expanded = self.terms.glossary().expand(query)
        plan = self.plan(searched, top_k, mode, first)
        found = self.store.query(plan) if plan.dense is not None or plan.sparse is not None else []
        hits = [_hit(f.score, f.payload) for f in found]
        if self.settings.max_hits_per_page:
            hits = cap_per_page(hits, self.settings.max_hits_per_page)
        if first:
            hits = platform_order(query, hits)
        hits = hits[:top_k]
        empty = not hits and self.store.info().points == 0
        took = (time.perf_counter() - started) * 1000
        return SearchResponse(hits=hits, index_empty=empty, mode=mode, took_ms=round(took, 2),
                              expanded=expanded)

    # --- writes ---

    def upsert(self, points: list[PointIn], build: str | None = None) -> int:
        for point in points:
            self.check_dim(len(point.vector), f"points: the vector of chunk {point.chunk.id}")
        stored = [StoredPoint(p.chunk.id, p.vector, self.sparse.document(p.chunk.embed_text),
                              p.chunk.model_dump()) for p in points]
        self.store.upsert(stored, build)
        return len(stored)

    def delete(self, *, url: str | None = None, page_id: str | None = None,
               keep_page_hash: str | None = None, build: str | None = None) -> int:
        return self.store.delete(url=url, page_id=page_id, keep_page_hash=keep_page_hash,
                                 build=build)

    def start_build(self, settings_hash: str, dim: int) -> str:
        self.check_dim(dim, "the build's dim")
        return self.store.start_build(settings_hash, dim)

    def publish(self, build: str) -> None:
        self.store.publish(build)

    def abort(self, build: str) -> None:
        self.store.abort(build)

    # --- reads ---

    def collection(self) -> CollectionInfo:
        info = self.store.info()
        return CollectionInfo(backend=info.backend, alias=info.alias, serving=info.serving,
                              points=info.points, empty=info.points == 0,
                              settings_hash=info.settings_hash, created_at=info.created_at,
                              updated_at=info.updated_at, vectors=info.vectors, builds=info.builds)

    def page_hashes(self) -> dict[str, str]:
        return self.store.page_hashes()

    def chunks(self, offset: str | None, limit: int, where: dict[str, str] | None = None
               ) -> ChunkPage:
        """A page of stored chunks (only those whose payload matches `where`); offset None, ""
        or "0" starts at the beginning."""
        payloads, following = self.store.scroll(offset if offset not in ("", "0") else None, limit,
                                                where)
        items = [Chunk.model_validate(p) for p in payloads if "embed_text" in p]
        return ChunkPage(items=items, next_offset=following)

    def close(self) -> None:
        self.store.close()


def _hit(score: float, payload: dict[str, Any]) -> SearchHit:
    return SearchHit(score=score, text=payload.get("text", ""), url=payload.get("url", ""),
                     anchor=payload.get("anchor"), title=payload.get("title", ""),
                     heading_path=payload.get("heading_path", []), chunk_id=payload.get("id"),
                     anchors=payload.get("anchors", []), page_id=payload.get("page_id"),
                     position=payload.get("position"), platforms=payload.get("platforms", []))


def cap_per_page(hits: list[SearchHit], cap: int) -> list[SearchHit]:
    """At most `cap` hits from one page, keeping the order."""
    seen: dict[str, int] = {}
    kept = []
    for hit in hits:
        seen[hit.url] = seen.get(hit.url, 0) + 1
        if seen[hit.url] <= cap:
            kept.append(hit)
    return kept
