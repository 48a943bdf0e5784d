"""Indexer service API (debug): queue an index run, follow it, see how a crawled page is chunked."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, FastAPI
from fastapi import Path as FastAPIPath
from pydantic import BaseModel
from rq.exceptions import NoSuchJobError
from rq.job import Job

from services.gateway import pipeline
from services.indexer import indexing
from services.indexer.peers import HttpPageSource
from shared.errors import NotFound
from shared.queues import redis_connection
from shared.schemas import JOB_ID_PATTERN, PAGE_ID_PATTERN, Chunk, PageInfo
from shared.service import TokenDep, create_service_app, redis_check
from shared.settings import get_settings


class IndexRequest(BaseModel):
    full: bool = False  # rebuild everything into a new build, switch when complete


class IndexStarted(BaseModel):
    job_id: str
    status_url: str


def job_view(job: Job, connection: Any) -> dict[str, Any]:
    """Status, progress and result of an index job, following a fan-out to its final job."""
    status = job.get_status()
    view: dict[str, Any] = {"job_id": job.id, "status": getattr(status, "value", status),
                            "progress": job.meta, "result": job.return_value()}
    final_id = (view["result"] or {}).get("final_job_id")
    if final_id:
        try:
            final = Job.fetch(final_id, connection=connection)
            view["final"] = {"job_id": final_id,
                             "status": getattr(final.get_status(), "value", final.get_status()),
                             "progress": final.meta, "result": final.return_value()}
        except NoSuchJobError:
            view["final"] = {"job_id": final_id, "status": "missing"}
    return view


def create_app() -> FastAPI:
    settings = get_settings()
    app = create_service_app("indexer", {"redis": redis_check(settings)})

    @app.post("/index", status_code=202, response_model=IndexStarted, dependencies=[TokenDep(settings)])
    def start(body: IndexRequest | None = Body(None)) -> IndexStarted:
        """Queue an index run (what changed since the last one, or everything with full) as an
        index-only update: it takes the update lock, so it never runs beside an update (429)."""
        record = pipeline.start_update(redis_connection(settings), settings, ["index"],
                                       bool(body and body.full), force=True, trigger="indexer_api")
        job_id = record.job_id("index")
        return IndexStarted(job_id=job_id, status_url=f"/index/{job_id}")

    @app.get("/index/{job_id}")
    def status(job_id: Annotated[str, FastAPIPath(pattern=JOB_ID_PATTERN)]) -> dict[str, Any]:
        """An index job's state, progress (`stage`, `done`, `total`) and summary."""
        connection = redis_connection(settings)
        try:
            job = Job.fetch(job_id, connection=connection)
        except NoSuchJobError:
            raise NotFound(f"no index job {job_id}") from None
        return job_view(job, connection)

    @app.get("/settings-hash")
    def current_hash() -> dict[str, str]:
        """The hash a collection must carry to be updated incrementally with these settings."""
        return {"settings_hash": indexing.settings_hash(settings)}

    @app.get("/pages/{page_id}/chunks", response_model=list[Chunk])
    def preview(page_id: Annotated[str, FastAPIPath(pattern=PAGE_ID_PATTERN)]) -> list[Chunk]:
        """How a crawled page is cleaned and chunked now (nothing is embedded or written)."""
        source = HttpPageSource(settings)
        html = source.html(page_id)
        if html is None:
            raise NotFound(f"no stored HTML for page {page_id}")
        page = source.client.get(f"/pages/{page_id}").json()
        return indexing.page_chunks(PageInfo.model_validate(page), html, settings.processing)

    return app
