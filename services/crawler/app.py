"""Crawler service API: inspect pages and crawls, read raw HTML, queue a crawl."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Body, FastAPI, Query
from fastapi import Path as FastAPIPath
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from services.crawler.jobs import enqueue_crawl
from services.crawler.ledger import CrawlLedger
from services.crawler.store import PageStore
from shared.errors import NotFound
from shared.schemas import (
    PAGE_ID_PATTERN, CrawlInfo, CrawlList, CrawlStarted, PageDetail, PageList, PageState,
)
from shared.service import TokenDep, create_service_app, redis_check
from shared.settings import Settings, get_settings

HTML = "text/html; charset=utf-8"
PageId = Annotated[str, FastAPIPath(pattern=PAGE_ID_PATTERN)]
# crawled HTML is someone else's page: never let its scripts run on this API's origin
RAW_HTML_HEADERS = {"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}


class CrawlRequest(BaseModel):
    full: bool = False  # ignore lastmod and validators: fetch every page again
    max_pages: int | None = Field(default=None, ge=1)


def create_app() -> FastAPI:
    settings = get_settings()
    app = create_service_app("crawler", {"redis": redis_check(settings)})
    store = PageStore(settings)
    _page_routes(app, store)
    _crawl_routes(app, CrawlLedger(store), settings)
    return app


def _page_routes(app: FastAPI, store: PageStore) -> None:
    @app.get("/pages", response_model=PageList)
    def list_pages(state: PageState | None = None,
                   q: Annotated[str | None, Query(max_length=200)] = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 50,
                   offset: Annotated[int, Query(ge=0, le=2**62)] = 0) -> PageList:
        """Pages by URL, filtered by state and by text in the URL or title."""
        return store.list_pages(state, q, limit, offset)

    @app.get("/pages/{page_id}", response_model=PageDetail)
    def get_page(page_id: PageId) -> PageDetail:
        """A page's metadata and its outcome in each crawl, newest first."""
        info = store.get(page_id)
        if info is None:
            raise NotFound(f"no page {page_id}")
        return PageDetail(**info.model_dump(), history=store.history(page_id))

    @app.get("/pages/{page_id}/html", response_class=Response,
             responses={200: {"content": {"text/html": {}}}})
    def get_html(page_id: PageId) -> Response:
        """The stored HTML (UTF-8), for an indexer that does not share the data folder; sandboxed
        (`Content-Security-Policy: sandbox`) so its scripts never run next to the APIs."""
        html = store.read_html(page_id) if store.get(page_id) else None
        if html is None:
            raise NotFound(f"no stored HTML for page {page_id}")
        return Response(html, media_type=HTML, headers=RAW_HTML_HEADERS)


def _crawl_routes(app: FastAPI, ledger: CrawlLedger, settings: Settings) -> None:
    @app.get("/crawls", response_model=CrawlList)
    def list_crawls(limit: Annotated[int, Query(ge=1, le=200)] = 20,
                    offset: Annotated[int, Query(ge=0, le=2**62)] = 0) -> CrawlList:
        """Crawls, newest first, with counts per state."""
        return ledger.list_crawls(limit, offset)

    @app.get("/crawls/{crawl_id}", response_model=CrawlInfo)
    def get_crawl(crawl_id: str) -> CrawlInfo:
        """One crawl: counts per state, how they were decided, skips, duration, errors."""
        crawl = ledger.get(crawl_id)
        if crawl is None:
            raise NotFound(f"no crawl {crawl_id}")
        return crawl

    @app.post("/crawl", status_code=202, response_model=CrawlStarted,
              responses={409: {"description": "a crawl is running or queued"}},
              dependencies=[TokenDep(settings)])
    async def start_crawl(request: Annotated[CrawlRequest | None, Body()] = None) -> JSONResponse:
        """Queue a crawl on the `crawl` queue; 409 while another one holds the lock."""
        request = request or CrawlRequest()
        job_id = await asyncio.to_thread(enqueue_crawl, settings, request.full, request.max_pages)
        return JSONResponse(CrawlStarted(job_id=job_id).model_dump(), status_code=202)
