"""The running stack's HTTP APIs as the MCP tools use them (never the store or the model directly).

Every failure is a ServiceError whose message a model can act on: a service that does not answer
names its URL and how to start it; an upstream problem document keeps its detail and Retry-After.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from shared.errors import IndexEmpty, ServiceError, UpstreamError
from shared.http import raise_for_problem
from shared.settings import Settings

log = logging.getLogger(__name__)

START_HINT = "start the stack with `make run`"
EMPTY_INDEX = ("the index is empty: nothing has been crawled and indexed yet; run an update first "
               "(`mde update`, or POST /update on the gateway)")
LABELS = {"retrieval": "retrieval service", "generation": "generation service",
          "crawler": "crawler service", "gateway": "gateway"}
PAGE_SIZE = 1000  # chunks or pages asked for per request while paging


class DocsApi:
    """One async HTTP client for the services the tools read from."""

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None,
                 answer_timeout: float = 600.0) -> None:
        headers = {"Authorization": f"Bearer {settings.internal_token}"} \
            if settings.internal_token else {}
        self.urls = {name: settings.service_url(name) for name in LABELS}
        self.client = httpx.AsyncClient(headers=headers, transport=transport,
                                        timeout=httpx.Timeout(10.0, read=answer_timeout))

    async def call(self, service: str, method: str, path: str, **kwargs: Any) -> Any:
        """One request's JSON body; errors as ServiceError with the service's own message."""
        url = self.urls[service] + path
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx.TransportError as error:
            raise UpstreamError(f"the {LABELS[service]} is not answering at {self.urls[service]} "
                                f"({type(error).__name__}): {START_HINT}", retry_after=5) from None
        raise_for_problem(response, LABELS[service])
        try:
            return response.json()
        except ValueError:
            raise UpstreamError(f"the {LABELS[service]} answered {path} without JSON") from None

    async def search(self, query: str, top_k: int, mode: str) -> dict[str, Any]:
        found = await self.call("retrieval", "POST", "/search",
                                json={"query": query, "top_k": top_k, "mode": mode})
        if found.get("index_empty"):
            raise IndexEmpty(EMPTY_INDEX)
        return found

    async def ask(self, question: str, mode: str) -> dict[str, Any]:
        answer = await self.call("generation", "POST", "/generate",
                                 json={"question": question, "mode": mode},
                                 headers={"Accept": "application/json"})
        if answer.get("index_empty"):
            raise IndexEmpty(EMPTY_INDEX)
        return answer

    async def chunks(self, **where: str) -> list[dict[str, Any]]:
        """Every stored chunk of one page (by url or page_id)."""
        found: list[dict[str, Any]] = []
        offset: str | None = None
        while True:
            params: dict[str, Any] = {**where, "limit": PAGE_SIZE,
                                      **({"offset": offset} if offset else {})}
            page = await self.call("retrieval", "GET", "/chunks", params=params)
            found += page["items"]
            offset = page.get("next_offset")
            if not offset:
                return found

    async def page_chunks(self, **where: str) -> list[dict[str, Any]]:
        """The chunks of one page; an empty index is IndexEmpty, an unknown page an empty list."""
        found = await self.chunks(**where)
        if not found and (await self.collection()).get("empty"):
            raise IndexEmpty(EMPTY_INDEX)
        return found

    async def collection(self) -> dict[str, Any]:
        return await self.call("retrieval", "GET", "/collection")

    async def indexed_pages(self) -> dict[str, str]:
        return (await self.call("retrieval", "GET", "/collection/pages"))["pages"]

    async def page(self, page_id: str) -> dict[str, Any]:
        return await self.call("crawler", "GET", f"/pages/{page_id}")

    async def pages(self) -> list[dict[str, Any]]:
        """Every page the crawler knows, in URL order."""
        found: list[dict[str, Any]] = []
        while True:
            batch = await self.call("crawler", "GET", "/pages",
                                    params={"limit": PAGE_SIZE, "offset": len(found)})
            found += batch["items"]
            if not batch["items"] or len(found) >= batch["total"]:
                return found

    async def last_update(self) -> dict[str, Any] | None:
        items = (await self.call("gateway", "GET", "/updates", params={"limit": 1}))["items"]
        return items[0] if items else None

    async def close(self) -> None:
        await self.client.aclose()


def tool_message(error: ServiceError) -> str:
    """What a model reads when a tool fails: the service's message and, if busy, when to retry."""
    message = error.detail
    if error.retry_after and error.status in (429, 502, 503):
        message += f" (retry in {error.retry_after} s)"
    return message
