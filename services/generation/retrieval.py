"""The peers the generation service asks before it answers: retrieval (search, corpus term
statistics) and embedding (similarity of evidence units to the question)."""

from __future__ import annotations

import logging
from typing import Literal

import httpx

from shared.errors import UpstreamError
from shared.http import raise_for_problem
from shared.schemas import SearchRequest, SearchResponse, TermsResponse
from shared.settings import Settings

SearchMode = Literal["dense", "sparse", "hybrid"]
MAX_TERMS = 200

log = logging.getLogger(__name__)


def _client(url: str, settings: Settings, transport: httpx.AsyncBaseTransport | None
            ) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {settings.internal_token}"} if settings.internal_token else {}
    return httpx.AsyncClient(base_url=url, headers=headers, transport=transport,
                             timeout=settings.infer.retrieval_timeout_sec)


class RetrievalClient:
    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = settings.retrieval_url
        self.client = _client(self.url, settings, transport)

    async def _post(self, path: str, body: dict[str, object]) -> httpx.Response:
        """POST; problems come back as typed errors, an unreachable service as 502."""
        try:
            response = await self.client.post(path, json=body)
        except httpx.TransportError as error:
            raise UpstreamError(f"retrieval at {self.url} is not reachable "
                                f"({type(error).__name__}): start it with `make run`",
                                retry_after=5) from None
        raise_for_problem(response, "retrieval")
        return response

    async def search(self, query: str, top_k: int, mode: SearchMode | None = None
                     ) -> SearchResponse:
        body = SearchRequest(query=query[:2000], top_k=top_k, mode=mode).model_dump(exclude_none=True)
        return SearchResponse.model_validate((await self._post("/search", body)).json())

    async def terms(self, terms: list[str]) -> TermsResponse:
        """In how many indexed chunks each term occurs (and how many chunks there are)."""
        if not terms:
            return TermsResponse(documents=0, frequencies={})
        body = {"terms": [term[:200] for term in terms[:MAX_TERMS]]}
        return TermsResponse.model_validate((await self._post("/terms", body)).json())

    async def close(self) -> None:
        await self.client.aclose()


class EmbeddingClient:
    """Cosine similarity of texts to a question through the embedding service; None when the
    service cannot answer (evidence is then chosen on terms alone, and the answer says so)."""

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = settings.embedding_url
        self.client = _client(self.url, settings, transport)
        self.max_texts = settings.index.max_texts_per_request
        self.max_chars = settings.index.max_text_chars

    async def similarities(self, question: str, texts: list[str]) -> list[float] | None:
        vectors: list[list[float]] = []
        batch = [question, *texts]
        try:
            for start in range(0, len(batch), self.max_texts):
                part = [text[: self.max_chars] for text in batch[start:start + self.max_texts]]
                response = await self.client.post("/embed", json={"texts": part, "kind": "passage"})
                response.raise_for_status()
                vectors.extend(response.json()["vectors"])
        except (httpx.HTTPError, KeyError, ValueError) as error:
            log.warning("embedding at %s failed (%s): evidence chosen on terms alone", self.url,
                        error)
            return None
        first = vectors[0]
        return [sum(a * b for a, b in zip(first, vector)) for vector in vectors[1:]]

    async def close(self) -> None:
        await self.client.aclose()
