"""Wire models shared by services and clients (noun + role)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from shared.names import Name

from shared.answer_schemas import (  # noqa: F401 - re-exported: the answer wire models
    ChatTurn,
    DroppedSentence,
    EvidenceItem,
    FeedbackRequest,
    GenerateDone,
    GenerateRequest,
    Mode,
    SourceRef,
    Timings,
    Usage,
    WeightsInfo,
)


class EmbedRequest(BaseModel):
    texts: list[str] = Field(min_length=1)
    kind: Literal["query", "passage"] = "passage"


class EmbedResponse(BaseModel):
    vectors: list[list[float]]
    dim: int
    model: str


# --- crawler: the page store as the indexer and UI see it (GET /pages, GET /pages/{id}) ---

PageState = Literal["new", "changed", "unchanged", "deleted", "failed"]
PAGE_ID_PATTERN = r"^[0-9a-f]{1,64}$"  # a hex hash of the normalised URL
JOB_ID_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"  # what RQ accepts as a job id
UPDATE_ID_PATTERN = r"^[0-9a-f]{12}$"  # an update id (services/gateway/updates.py makes them)


class PageInfo(BaseModel):
    id: str  # hash of the normalised URL; also the raw HTML's file name
    url: str  # normalised URL that was crawled
    canonical_url: str | None = None  # <link rel="canonical">: the public URL shown in citations
    final_url: str | None = None  # after redirects
    status: int | None = None
    title: str | None = None
    state: PageState
    content_hash: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    fetched_at: float | None = None
    crawl_id: str | None = None
    error: str | None = None


class PageList(BaseModel):
    total: int
    items: list[PageInfo]


class PageOutcome(BaseModel):
    """What one crawl made of a page (GET /pages/{id} history)."""

    crawl_id: str
    state: PageState
    status: int | None = None
    error: str | None = None
    detail: str | None = None  # how it was decided: fetched, lastmod, not_modified, same_hash, ...
    at: float


class PageDetail(PageInfo):
    history: list[PageOutcome] = []


class CrawlInfo(BaseModel):
    """One crawl run (GET /crawls/{id}); `counts` has one entry per PageState."""

    id: str
    status: Literal["running", "finished", "failed", "abandoned"]
    full: bool = False
    started_at: float
    finished_at: float | None = None
    duration_sec: float | None = None
    counts: dict[str, int] = {}
    details: dict[str, int] = {}  # how outcomes were decided: lastmod, not_modified, same_hash, ...
    skipped: dict[str, int] = {}  # URLs never requested, by reason (robots, other_host, depth, ...)
    requests: int = 0
    complete: bool = False  # the frontier was exhausted (only then are unreached pages deleted)
    message: str | None = None
    errors: list[dict[str, str]] = []  # {"url", "error"} of failed pages


class CrawlList(BaseModel):
    total: int
    items: list[CrawlInfo]


class CrawlStarted(BaseModel):
    job_id: str
    crawl_id: str | None = None  # known once the job starts (it may resume an interrupted crawl)


# --- indexer/retrieval: chunks and search (POST /search, PUT /points) ---


class Chunk(BaseModel):
    id: str  # point id, derived from url + position so a re-run never duplicates
    page_id: str
    url: str  # canonical URL
    title: str
    heading_path: list[str]  # ["Page", "Section", "Subsection"]
    anchor: str | None = None  # id of the nearest heading: links go to url#anchor
    anchors: list[str] = []  # anchors of the whole heading path
    platforms: list[str] = []  # the platforms the page declares ([] = it does not say)
    position: int
    text: str  # what users see
    embed_text: str  # title + heading path + text: what is embedded
    content_hash: str
    page_hash: str


class SearchRequest(BaseModel):
    query: str = Field(min_length=1, max_length=2000)
    top_k: int | None = Field(None, ge=1, le=50)  # None: the service's index.top_k
    mode: Literal["dense", "sparse", "hybrid"] | None = None


class SearchHit(BaseModel):
    score: float
    text: str
    url: str
    anchor: str | None = None
    title: str
    heading_path: list[str]
    chunk_id: str | None = None
    anchors: list[str] = []  # anchors of the heading path (and of small sections merged in)
    page_id: str | None = None
    position: int | None = None
    platforms: list[str] = []  # the platforms the page declares ([] = it does not say)


class SearchResponse(BaseModel):
    hits: list[SearchHit]
    index_empty: bool = False
    mode: str
    took_ms: float
    expanded: list[str] = []  # long forms of the query's acronyms, appended before the search


class TermsRequest(BaseModel):
    terms: list[str] = Field(min_length=1, max_length=200)

    @field_validator("terms")
    @classmethod
    def _short_terms(cls, terms: list[str]) -> list[str]:
        for term in terms:
            if not 1 <= len(term) <= 200:
                raise ValueError(f"a term must have 1 to 200 characters, not {len(term)}: "
                                 f"{term[:40]!r}")
        return terms


class TermsResponse(BaseModel):
    """How many chunks the index holds and how many contain each term (POST /terms)."""

    documents: int
    frequencies: dict[str, int]


class PointIn(BaseModel):
    """A chunk with its dense vector; the retrieval service adds the BM25 sparse vector."""

    chunk: Chunk
    vector: list[float] = Field(min_length=1)

    @field_validator("chunk")
    @classmethod
    def _point_id_is_a_uuid(cls, chunk: Chunk) -> Chunk:
        uuid.UUID(chunk.id)  # Qdrant point ids are UUIDs (uuid5 of url + position)
        return chunk


class PointsUpsert(BaseModel):
    points: list[PointIn] = Field(min_length=1)
    build: Name | None = None  # write into an unpublished full rebuild instead of the serving index


class PointsWritten(BaseModel):
    written: int
    build: str | None = None


class PointsDeleted(BaseModel):
    deleted: int


class BuildStart(BaseModel):
    settings_hash: str
    dim: int = Field(ge=1)


class BuildInfo(BaseModel):
    build: str


class CollectionInfo(BaseModel):
    """GET /collection: what searches are served from."""

    backend: str  # qdrant-edge | qdrant-server | qdrant-client-local
    alias: str  # the collection name searches use
    serving: str | None  # the shard folder or physical collection behind it
    points: int
    empty: bool
    settings_hash: str | None = None
    created_at: float | None = None
    updated_at: float | None = None
    vectors: dict[str, dict[str, object]] = {}
    builds: list[str] = []  # unpublished full rebuilds


class ChunkPage(BaseModel):
    """GET /chunks: stored chunks in id order; pass next_offset back as offset for the next page."""

    items: list[Chunk]
    next_offset: str | None = None
