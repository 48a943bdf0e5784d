"""Gateway: the public entry point — updates and their status, jobs, readiness, chat proxies."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.routing import Route

from services.gateway import bootstrap, pipeline, updates
from services.gateway.jobs_view import queues_view
from services.gateway.mcp_http import McpEndpoint
from services.gateway.metrics import refresh_queue_gauges
from services.gateway.monitor import Monitor
from services.gateway.proxy import Proxy
from services.gateway.readiness import replicas_check, service_check
from services.gateway.replicas import Replicas
from shared.queues import redis_connection
from shared.service import ReadyCheck, TokenDep, create_service_app, redis_check
from shared.settings import SERVICES, get_settings

log = logging.getLogger(__name__)


class UpdateRequest(BaseModel):
    stages: list[str] | None = None
    full: bool = False


def create_app() -> FastAPI:
    settings = get_settings()
    redis = redis_connection(settings)
    monitor = Monitor(redis, settings)
    proxy = Proxy()
    mcp = McpEndpoint(settings)
    replicas = Replicas(settings.generation_replicas)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(bootstrap.run_monitor(monitor, settings)),
                 asyncio.create_task(replicas.watch(proxy.client))]
        async with mcp.running():
            yield
        for task in tasks:
            task.cancel()
        await proxy.close()

    checks: dict[str, ReadyCheck] = {"redis": redis_check(settings)}
    checks.update({name: service_check(name, settings) for name in SERVICES
                   if name not in ("gateway", "generation")})
    checks["generation"] = replicas_check(replicas)
    app = create_service_app("gateway", checks, lifespan=lifespan,
                             on_metrics=lambda: refresh_queue_gauges(redis))
    app.router.routes.append(Route("/mcp", mcp, include_in_schema=False))  # MCP, see mcp_http.py

    update_token = TokenDep(settings, update=True)  # UPDATE_TOKEN or the internal token

    @app.post("/update", status_code=202, dependencies=[update_token],
              responses={401: {}, 429: {"description": "busy or too soon"}})
    async def start_update(request: Request, body: UpdateRequest | None = None,
                           force: bool = False) -> dict[str, str]:
        """Start crawl -> index -> prepare_dataset -> finetune (-> merge)."""
        body = body or UpdateRequest()
        record = await asyncio.to_thread(pipeline.start_update, redis, settings, body.stages,
                                         body.full, force)
        return {"update_id": record.id, "status_url": f"/update/{record.id}"}

    @app.get("/update/{update_id}")
    async def update_status(update_id: str) -> dict[str, Any]:
        return await asyncio.to_thread(describe, update_id)

    def describe(update_id: str) -> dict[str, Any]:
        record = updates.load(redis, update_id)
        body = {k: v for k, v in record.__dict__.items() if k != "snapshot"}
        return {**body, "stages": pipeline.stage_views(redis, record)}

    @app.post("/update/{update_id}/retry", status_code=202, responses={401: {}, 409: {}, 429: {}},
              dependencies=[update_token])
    async def retry(update_id: str) -> dict[str, str]:
        record = await asyncio.to_thread(pipeline.retry_update, redis, settings, update_id)
        return {"update_id": record.id, "status_url": f"/update/{record.id}"}

    @app.get("/updates")
    async def recent_updates(limit: int = 20) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            items = [describe(r.id) for r in updates.recent(redis, min(max(limit, 1), 50))]
            return {"items": items, "scheduler": monitor.scheduler_state()}

        return await asyncio.to_thread(read)

    @app.get("/jobs")
    async def jobs() -> dict[str, Any]:
        return await asyncio.to_thread(queues_view, redis)

    for path, target in (("/ask", "/generate"), ("/v1/chat/completions", "/v1/chat/completions"),
                         ("/v1/models", "/v1/models")):
        add_replica_route(app, proxy, replicas, path, target, settings.internal_token)
    add_proxy_route(app, proxy, "/pages", settings.service_url("crawler") + "/pages",
                    settings.internal_token)
    app.state.replicas = replicas
    return app


def add_replica_route(app: FastAPI, proxy: Proxy, replicas: Replicas, path: str, target: str,
                      token: str) -> None:
    async def forward(request: Request) -> Response:
        return await proxy.forward_any(request, replicas, target, token)

    app.add_api_route(path, forward, methods=["GET"] if path == "/v1/models" else ["POST"],
                      name=f"proxy {path}",
                      responses={502: {"description": "no replica reachable"}})


def add_proxy_route(app: FastAPI, proxy: Proxy, path: str, target: str, token: str) -> None:
    methods = ["GET"] if path in ("/v1/models", "/pages") else ["POST"]

    async def forward(request: Request) -> Response:
        return await proxy.forward(request, target, token)

    app.add_api_route(path, forward, methods=methods, name=f"proxy {path}",
                      responses={502: {"description": "upstream not reachable"}})
