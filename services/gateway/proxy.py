"""Pass chat requests through to the generation service (and page listings to the crawler),
streaming unbuffered: each upstream chunk is forwarded as soon as it arrives. With several
generation replicas a request goes to the least busy ready one, and on to the next if that one
refuses the connection or answers 503 before anything was streamed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask

from services.gateway.replicas import Replicas
from shared.errors import UpstreamError

HOP_HEADERS = {"content-length", "transfer-encoding", "connection", "keep-alive", "content-encoding"}


class Proxy:
    def __init__(self, timeout: float = 600.0) -> None:
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=timeout))

    async def forward(self, request: Request, target: str, token: str = "") -> Response:
        """Send the request on to target and stream the answer back as it comes."""
        upstream = await self._send(request, target, token)
        return self._stream(upstream, BackgroundTask(upstream.aclose))

    async def forward_any(self, request: Request, replicas: Replicas, path: str,
                          token: str = "") -> Response:
        """Forward to the best replica; the next when it is down or busy (503) before streaming."""
        tried: list[str] = []
        for url in replicas.order():
            tried.append(url)
            try:
                upstream = await self._send(request, url + path, token)
            except UpstreamError:
                replicas.failed(url, "connection refused")
                continue
            if upstream.status_code == 503 and len(tried) < len(replicas.urls):
                await upstream.aclose()  # busy or still loading: another replica may answer now
                continue
            replicas.started(url)
            return self._stream(upstream, BackgroundTask(upstream.aclose),
                                {"x-generation-replica": url},
                                lambda used=url: replicas.ended(used))
        raise UpstreamError(f"no generation replica is reachable (tried {', '.join(tried)})",
                            retry_after=5)

    async def _send(self, request: Request, target: str, token: str) -> httpx.Response:
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() in ("content-type", "accept", "last-event-id")}
        if token:
            headers["authorization"] = f"Bearer {token}"
        upstream_request = self.client.build_request(
            request.method, target, params=request.query_params, headers=headers,
            content=await request.body())
        try:
            return await self.client.send(upstream_request, stream=True)
        except httpx.TransportError as error:
            raise UpstreamError(f"{target} is not reachable ({type(error).__name__})",
                                retry_after=5) from None

    def _stream(self, upstream: httpx.Response, background: BackgroundTask,
                extra: dict[str, str] | None = None,
                ended: Callable[[], None] = lambda: None) -> Response:
        response_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS}
        response_headers.update(extra or {})
        return StreamingResponse(self._chunks(upstream, ended), status_code=upstream.status_code,
                                 headers=response_headers, background=background)

    @staticmethod
    async def _chunks(upstream: httpx.Response, ended: Callable[[], None]) -> AsyncIterator[bytes]:
        try:
            async for chunk in upstream.aiter_raw():
                yield chunk
        finally:  # also when the upstream dies mid-stream or the client leaves
            ended()

    async def close(self) -> None:
        await self.client.aclose()
