"""Wire models shared by services and clients (noun + role)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from shared.names import Name

Mode = Literal["rag", "ft", "rag_ft"]


class EmbedRequest(BaseModel):
    texts: list[str] = Field(min_length=1)
    kind: Literal["query", "passage"] = "passage"


class EmbedResponse(BaseModel):
    vectors: list[list[float]]
    dim: int
    model: str


class ChatTurn(BaseModel):
    role: Literal["user", "assistant"]
    content: str


class GenerateRequest(BaseModel):
    question: str = Field(min_length=1)
    mode: Mode | None = None
    history: list[ChatTurn] = []
    top_k: int | None = Field(None, ge=1, le=50)
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0  # prompt tokens served from the system prompt's KV cache


class Timings(BaseModel):
    retrieval_ms: float = 0.0
    evidence_ms: float = 0.0  # choosing the evidence (embedding its units included)
    time_to_first_token_ms: float
    tokens_per_sec: float
    total_ms: float
    queue_ms: float = 0.0  # waiting for the model thread to take the request


class SourceRef(BaseModel):
    """One numbered source of an answer: the `sources` event, `done` and /v1 responses."""

    n: int
    title: str
    heading_path: list[str] = []
    url: str  # url#anchor when the hit has an anchor
    anchor: str | None = None
    score: float
    text: str = ""
    anchors: list[str] = []  # anchors of the sections inside the passage (evidence links to them)


class EvidenceItem(BaseModel):
    """A documented unit quoted verbatim from source [n]: the `evidence` event and `done`."""

    n: int
    kind: Literal["sentence", "item", "step", "row", "code"]
    text: str
    url: str  # url#anchor of the section it sits in
    language: str = ""  # a code block's language


class FeedbackRequest(BaseModel):
    """POST /feedback: a thumbs up or down on one answer, with an optional comment."""

    answer_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    vote: Literal["up", "down"]
    comment: str = Field("", max_length=2000)


class DroppedSentence(BaseModel):
    """A generated sentence left out of the final answer, and why."""

    text: str
    reason: str


class WeightsInfo(BaseModel):
    kind: Literal["base", "adapter", "merged"]
    version: str | None = None
    path: str
    loaded_at: float
    metrics: dict[str, float] = {}


class GenerateDone(BaseModel):
    text: str
    mode: Mode
    finish_reason: str | None
    usage: Usage
    timings: Timings
    weights: WeightsInfo
    refused: bool = False
    refusal_reason: str | None = None  # the evidence that decided a refusal
    sources: list[SourceRef] = []
    cited: list[int] = []  # source numbers the answer's text cites
    index_empty: bool = False
    answer_id: str = ""  # what POST /feedback votes on
    lead: str = ""  # the model's checked sentences (the streamed `token` text)
    evidence: list[EvidenceItem] = []
    lead_sentences: int = 0  # generated sentences kept (each passed the support check)
    dropped: list[DroppedSentence] = []  # generated sentences the sources do not support
    stopped: str | None = None  # why the lead was cut short: repeated | sentences
    evidence_scoring: str = ""  # terms+embedding | terms (the embedding service did not answer)


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


class SearchResponse(BaseModel):
    hits: list[SearchHit]
    index_empty: bool = False
    mode: str
    took_ms: float


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
