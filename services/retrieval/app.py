"""Retrieval service API: owns the vector store; search, write and delete points, full rebuilds."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from collections.abc import Callable
from typing import Annotated, Any, AsyncIterator

from fastapi import FastAPI, Query
from fastapi import Path as FastAPIPath

from services.retrieval.retriever import Retriever
from services.retrieval.store import open_store
from shared.errors import BadRequest, NotFound, NotReady
from shared.names import NAME_PATTERN
from shared.schemas import (
    BuildInfo, BuildStart, ChunkPage, CollectionInfo, PointsDeleted, PointsUpsert, PointsWritten,
    SearchRequest, SearchResponse, TermsRequest, TermsResponse,
)
from shared.service import TokenDep, create_service_app
from shared.settings import Settings, get_settings

BuildPath = Annotated[str, FastAPIPath(pattern=NAME_PATTERN)]
BuildQuery = Annotated[str | None, Query(pattern=NAME_PATTERN)]


def make_retriever(settings: Settings) -> Retriever:
    """The store plus the query embedder: the embedding API, or the model in this process."""
    from services.embedding.client import Embedder, HttpEmbedder, LocalEmbedder

    embedder: Embedder = LocalEmbedder(settings) if settings.index.query_embedder == "local" \
        else HttpEmbedder(settings)
    return Retriever(open_store(settings), embedder, settings.index)


def create_app() -> FastAPI:
    settings = get_settings()
    state: dict[str, Retriever] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state["retriever"] = await asyncio.to_thread(make_retriever, settings)
        yield
        state.pop("retriever").close()

    def retriever() -> Retriever:
        if "retriever" not in state:
            raise NotReady("the vector store is opening", retry_after=2)
        return state["retriever"]

    async def store_open() -> tuple[bool, str]:
        found = state.get("retriever")
        return (True, found.store.backend) if found else (False, "store opening")

    app = create_service_app("retrieval", {"store": store_open}, lifespan=lifespan)

    @app.post("/search", response_model=SearchResponse)
    def search(body: SearchRequest) -> SearchResponse:
        """Hits for a query; `index_empty` is true when nothing has been indexed yet."""
        return retriever().search(body.query, body.top_k, body.mode)

    @app.post("/terms", response_model=TermsResponse)
    def terms(body: TermsRequest) -> TermsResponse:
        """How many chunks the index holds and how many contain each term (for IDF weights)."""
        return retriever().terms.lookup(body.terms)

    _read_routes(app, retriever)
    _write_routes(app, retriever, TokenDep(settings))
    return app


def _read_routes(app: FastAPI, retriever: Callable[[], Retriever]) -> None:
    @app.get("/collection", response_model=CollectionInfo)
    def collection() -> CollectionInfo:
        """Point count, alias, vector layout, settings hash, last update."""
        return retriever().collection()

    @app.get("/collection/pages")
    def collection_pages() -> dict[str, dict[str, str]]:
        """page_id -> page_hash of every indexed page (what an incremental index run compares)."""
        return {"pages": retriever().page_hashes()}

    @app.get("/chunks", response_model=ChunkPage)
    def chunks(offset: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
               url: Annotated[str | None, Query(max_length=2000)] = None,
               page_id: Annotated[str | None, Query(max_length=200)] = None) -> ChunkPage:
        """Stored chunks in id order (only one page's with `url` or `page_id`); pass
        `next_offset` back as `offset` for the next page."""
        where = {k: v for k, v in (("url", url), ("page_id", page_id)) if v}
        try:
            return retriever().chunks(offset, limit, where)
        except ValueError:
            raise BadRequest(f"offset: {offset!r} is not a point id from next_offset") from None


def _write_routes(app: FastAPI, retriever: Callable[[], Retriever], token: Any) -> None:
    @app.put("/points", response_model=PointsWritten, dependencies=[token])
    def put_points(body: PointsUpsert) -> PointsWritten:
        """Write chunks with their dense vectors (BM25 vectors are computed here)."""
        try:
            written = retriever().upsert(body.points, body.build)
        except KeyError as error:
            raise NotFound(str(error).strip("'")) from None
        return PointsWritten(written=written, build=body.build)

    @app.delete("/points", response_model=PointsDeleted, dependencies=[token])
    def delete_points(url: str | None = None, page_id: str | None = None,
                      keep_page_hash: str | None = None, build: BuildQuery = None) -> PointsDeleted:
        """Delete a page's points by url or page_id (all, or those whose page_hash differs)."""
        if not url and not page_id:
            raise BadRequest("url or page_id: one of them is required")
        return PointsDeleted(deleted=retriever().delete(url=url, page_id=page_id,
                                                        keep_page_hash=keep_page_hash, build=build))

    @app.post("/collection/builds", response_model=BuildInfo, status_code=201,
              dependencies=[token])
    def start_build(body: BuildStart) -> BuildInfo:
        """Start a full rebuild: a new shard or collection that searches don't see yet."""
        return BuildInfo(build=retriever().start_build(body.settings_hash, body.dim))

    @app.post("/collection/builds/{build}/publish", response_model=CollectionInfo,
              dependencies=[token])
    def publish(build: BuildPath) -> CollectionInfo:
        """Switch searches to a finished build; the previous one is dropped."""
        try:
            retriever().publish(build)
        except KeyError as error:
            raise NotFound(str(error).strip("'")) from None
        return retriever().collection()

    @app.delete("/collection/builds/{build}", status_code=204, dependencies=[token])
    def abort(build: BuildPath) -> None:
        """Drop an unpublished build."""
        retriever().abort(build)
