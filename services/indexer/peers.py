"""The indexer's three peers, over HTTP (jobs on any host) or in-process (the CLI on one machine).

PageSource: the crawler's page store.  PointSink: the retrieval service's points and builds.
The embedder lives in services/embedding/client.py.
"""

from __future__ import annotations

import logging
from typing import Protocol

from shared.http import ServiceClient, service_client
from shared.schemas import BuildInfo, CollectionInfo, PageInfo, PageList, PointIn
from shared.settings import Settings

log = logging.getLogger(__name__)
PAGE_LIMIT = 1000


class PageSource(Protocol):
    def pages(self) -> list[PageInfo]: ...

    def html(self, page_id: str) -> str | None: ...


class PointSink(Protocol):
    def collection(self) -> CollectionInfo: ...

    def page_hashes(self) -> dict[str, str]: ...

    def upsert(self, points: list[PointIn], build: str | None = None) -> int: ...

    def delete(self, *, url: str | None = None, page_id: str | None = None,
               keep_page_hash: str | None = None, build: str | None = None) -> int: ...

    def start_build(self, settings_hash: str, dim: int) -> str: ...

    def publish(self, build: str) -> None: ...

    def abort(self, build: str) -> None: ...


class HttpPageSource:
    """GET /pages (paged) and GET /pages/{id}/html on the crawler API."""

    def __init__(self, settings: Settings, client: ServiceClient | None = None) -> None:
        self.client = client or service_client("crawler", settings, timeout=60.0)

    def pages(self) -> list[PageInfo]:
        found: list[PageInfo] = []
        while True:
            response = self.client.get("/pages", params={"limit": PAGE_LIMIT, "offset": len(found)})
            page = PageList.model_validate(response.json())
            found.extend(page.items)
            if not page.items or len(found) >= page.total:
                return found

    def html(self, page_id: str) -> str | None:
        from shared.errors import NotFound

        try:
            return self.client.get(f"/pages/{page_id}/html").text
        except NotFound:
            return None


class StorePageSource:
    """The crawler's page store opened in this process (same DATA_DIR)."""

    def __init__(self, settings: Settings) -> None:
        from services.crawler.store import PageStore

        self.store = PageStore(settings)

    def pages(self) -> list[PageInfo]:
        found: list[PageInfo] = []
        while True:
            page = self.store.list_pages(None, None, PAGE_LIMIT, len(found))
            found.extend(page.items)
            if not page.items or len(found) >= page.total:
                return found

    def html(self, page_id: str) -> str | None:
        raw = self.store.read_html(page_id)
        return raw.decode("utf-8", errors="replace") if raw is not None else None


class RetrievalClient:
    """The retrieval API's write side: PUT/DELETE /points, builds, GET /collection."""

    def __init__(self, settings: Settings, client: ServiceClient | None = None) -> None:
        self.client = client or service_client("retrieval", settings, timeout=120.0)

    def collection(self) -> CollectionInfo:
        return CollectionInfo.model_validate(self.client.get("/collection").json())

    def page_hashes(self) -> dict[str, str]:
        return dict(self.client.get("/collection/pages").json()["pages"])

    def upsert(self, points: list[PointIn], build: str | None = None) -> int:
        body = {"points": [p.model_dump() for p in points], "build": build}
        return int(self.client.put("/points", json=body).json()["written"])

    def delete(self, *, url: str | None = None, page_id: str | None = None,
               keep_page_hash: str | None = None, build: str | None = None) -> int:
        params = {k: v for k, v in (("url", url), ("page_id", page_id),
                                    ("keep_page_hash", keep_page_hash), ("build", build)) if v}
        return int(self.client.delete("/points", params=params).json()["deleted"])

    def start_build(self, settings_hash: str, dim: int) -> str:
        response = self.client.post("/collection/builds", json={"settings_hash": settings_hash,
                                                                "dim": dim})
        return BuildInfo.model_validate(response.json()).build

    def publish(self, build: str) -> None:
        self.client.post(f"/collection/builds/{build}/publish")

    def abort(self, build: str) -> None:
        self.client.delete(f"/collection/builds/{build}")
