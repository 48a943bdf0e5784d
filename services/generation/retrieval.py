"""The retrieval service as the generation service sees it: search, and probes for single terms."""

from __future__ import annotations

import logging
from typing import Literal

import httpx

from shared.errors import UpstreamError
from shared.http import raise_for_problem
from shared.schemas import SearchRequest, SearchResponse

SearchMode = Literal["dense", "sparse", "hybrid"]
from shared.settings import Settings

log = logging.getLogger(__name__)


class RetrievalClient:
    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        headers = {"Authorization": f"Bearer {settings.internal_token}"} if settings.internal_token else {}
        self.url = settings.retrieval_url
        self.client = httpx.AsyncClient(base_url=self.url, headers=headers, transport=transport,
                                        timeout=settings.infer.retrieval_timeout_sec)

    async def search(self, query: str, top_k: int, mode: SearchMode | None = None
                     ) -> SearchResponse:
        """POST /search; problems come back as typed errors, an unreachable service as 502."""
        body = SearchRequest(query=query[:2000], top_k=top_k, mode=mode).model_dump(exclude_none=True)
        try:
            response = await self.client.post("/search", json=body)
        except httpx.TransportError as error:
            raise UpstreamError(f"retrieval at {self.url} is not reachable "
                                f"({type(error).__name__}): start it with `make run`",
                                retry_after=5) from None
        raise_for_problem(response, "retrieval")
        return SearchResponse.model_validate(response.json())

    async def close(self) -> None:
        await self.client.aclose()
