"""Pass chat requests through to the generation service (and page listings to the crawler),
streaming unbuffered: each upstream chunk is forwarded as soon as it arrives."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask

from shared.errors import UpstreamError

HOP_HEADERS = {"content-length", "transfer-encoding", "connection", "keep-alive", "content-encoding"}


class Proxy:
    def __init__(self, timeout: float = 600.0) -> None:
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=timeout))

    async def forward(self, request: Request, target: str, token: str = "") -> Response:
        """Send the request on to target and stream the answer back as it comes."""
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() in ("content-type", "accept", "last-event-id")}
        if token:
            headers["authorization"] = f"Bearer {token}"
        upstream_request = self.client.build_request(
            request.method, target, params=request.query_params, headers=headers,
            content=await request.body())
        try:
            upstream = await self.client.send(upstream_request, stream=True)
        except httpx.TransportError as error:
            raise UpstreamError(f"{target} is not reachable ({type(error).__name__})",
                                retry_after=5) from None
        response_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS}
        return StreamingResponse(self._chunks(upstream), status_code=upstream.status_code,
                                 headers=response_headers, background=BackgroundTask(upstream.aclose))

    @staticmethod
    async def _chunks(upstream: httpx.Response) -> AsyncIterator[bytes]:
        async for chunk in upstream.aiter_raw():
            yield chunk

    async def close(self) -> None:
        await self.client.aclose()
