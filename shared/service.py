"""What every service app shares: /health, /ready, /metrics, problem details, body limit, token,
and the refusal of cross-site writes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import PayloadTooLarge, ServiceError, Unauthorized, problem
from shared.security import SameSiteWrites, bearer_matches, internal_token_required
from shared.settings import Settings, get_settings

log = logging.getLogger(__name__)

ReadyCheck = Callable[[], Awaitable[tuple[bool, str]]]
PROBLEM_JSON = "application/problem+json"

REQUESTS = Counter("mde_http_requests_total", "HTTP requests", ["service", "route", "status"])
LATENCY = Histogram("mde_http_request_seconds", "HTTP request latency", ["service", "route"])


def problem_response(status: int, title: str, detail: str, code: str | None = None,
                     headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(problem(status, title, detail, code), status_code=status,
                        media_type=PROBLEM_JSON, headers=headers)


class BodyLimit:
    """Refuse request bodies past max_bytes with 413, by header or by counting a streamed body."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self._refuse(scope, receive, send, int(length))
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise PayloadTooLarge(f"request body over {self.max_bytes} bytes")
            return message

        await self.app(scope, counting_receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, length: int) -> None:
        detail = f"request body of {length} bytes is over the limit of {self.max_bytes} bytes"
        await problem_response(413, "Payload Too Large", detail, "payload_too_large")(scope, receive, send)


def token_guard(settings: Settings, update: bool = False) -> Callable[..., None]:
    """A dependency for mutating routes: the internal token once a service leaves loopback (or with
    REQUIRE_INTERNAL_TOKEN); with `update`, UPDATE_TOKEN opens the route too and, once set, is
    needed. A required token that is not configured refuses every request (fail closed)."""
    required = internal_token_required(settings) or (update and bool(settings.update_token))
    tokens = (settings.internal_token, settings.update_token if update else "")
    needed = "UPDATE_TOKEN or the internal token" if update else "the internal token"

    def check(authorization: Annotated[str | None, Header()] = None) -> None:
        if required and not bearer_matches(authorization, *tokens):
            raise Unauthorized(f"missing or wrong token: send Authorization: Bearer <{needed}>")

    return check


def _validation_detail(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"] if p != "body")
        parts.append(f"{field or 'body'}: {item['msg']}")
    return "; ".join(parts)


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(_: Request, error: ServiceError) -> JSONResponse:
        headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
        return problem_response(error.status, type(error).__name__, error.detail, error.code, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return problem_response(422, "Unprocessable Content", _validation_detail(error), "invalid_request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        detail = str(error.detail) if error.status_code != 404 else f"no route {request.url.path}"
        return problem_response(error.status_code, str(error.detail), detail, headers=error.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        # a bug still answers a problem document, never plain text (the server logs the traceback)
        log.error("%s %s: unexpected %s: %s", request.method, request.url.path,
                  type(error).__name__, error)
        detail = f"unexpected {type(error).__name__} on {request.url.path}; see the service log"
        return problem_response(500, "Internal Server Error", detail, "internal")


def _install_metrics(app: FastAPI, name: str, on_metrics: Callable[[], None] | None) -> None:
    @app.middleware("http")
    async def measure(request: Request, call_next: Callable[[Request], Awaitable[Any]]) -> Any:
        started = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        REQUESTS.labels(name, route, str(response.status_code)).inc()
        LATENCY.labels(name, route).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> PlainTextResponse:
        if on_metrics is not None:
            await asyncio.to_thread(on_metrics)  # refresh gauges that are read, not pushed
        return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class Problem(BaseModel):
    """RFC 9457 problem details: every error of every service has this shape."""

    type: str
    title: str
    status: int
    detail: str


# Statuses the shared error handling can answer on any route, documented once for all of them.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": description} for status, description in (
        (400, "bad request"), (401, "missing or wrong token"),
        (403, "a mutating request a browser sent from another site"),
        (404, "unknown route or item"),
        (409, "conflicts with work in progress"), (413, "body or input over a limit"),
        (422, "invalid request, the field is named"), (429, "busy or too soon: see Retry-After"),
        (502, "an upstream service is not reachable"), (503, "not ready or busy: see Retry-After"))
}


def create_service_app(name: str, checks: dict[str, ReadyCheck],
                       on_metrics: Callable[[], None] | None = None, **fastapi_args: Any) -> FastAPI:
    """A FastAPI app with the routes and behaviour every service shares."""
    settings = get_settings()
    app = FastAPI(title=f"mde {name}", responses=COMMON_RESPONSES, **fastapi_args)
    app.state.settings = settings
    _install_handlers(app)
    _install_metrics(app, name, on_metrics)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SameSiteWrites, bind_host=settings.bind_host)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": name}

    @app.get("/ready", responses={503: {"description": "a dependency is not ready"}})
    async def ready() -> JSONResponse:
        outcomes = await asyncio.gather(*(check() for check in checks.values()))
        results = dict(zip(checks, outcomes))
        ok = all(passed for passed, _ in results.values())
        body = {"ready": ok, "service": name,
                "checks": {k: {"ok": p, "detail": d} for k, (p, d) in results.items()}}
        return JSONResponse(body, status_code=200 if ok else 503)

    return app


def redis_check(settings: Settings) -> ReadyCheck:
    """A /ready check that pings Redis without blocking the event loop."""
    from shared.queues import redis_ping

    async def check() -> tuple[bool, str]:
        return await asyncio.to_thread(redis_ping, settings)

    return check


def TokenDep(settings: Settings | None = None, update: bool = False) -> Any:  # noqa: N802
    return Depends(token_guard(settings or get_settings(), update))
