"""Generation service: POST /generate (SSE or JSON), GET /model, POST /reload, /v1 (OpenAI)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sse_starlette.sse import EventSourceResponse

from services.generation.answer import answer_events, check_limits, prepare, sampling_for
from services.generation.engine import Engine
from services.generation.openai_api import openai_router
from services.generation.retrieval import RetrievalClient
from services.generation.streaming import collect, error_event
from shared.schemas import GenerateRequest
from shared.service import TokenDep, create_service_app
from shared.settings import get_settings

log = logging.getLogger(__name__)


def create_app() -> FastAPI:
    settings = get_settings()
    engine = Engine(settings)
    retrieval = RetrievalClient(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await engine.start()
        yield
        await engine.stop()
        await retrieval.close()

    async def model_loaded() -> tuple[bool, str]:
        weights = engine.weights
        return (True, weights.base.info.path) if weights else (False, "model loading")

    app = create_service_app("generation", {"model": model_loaded}, lifespan=lifespan)
    app.state.engine, app.state.retrieval = engine, retrieval

    @app.get("/model")
    async def model() -> dict[str, Any]:
        """Which weights serve each mode, the mode a request without one gets, and the engine."""
        served = engine.ready()
        return {**served.describe(), "default_mode": served.default_mode(settings.app.mode),
                "engine": engine.describe()}

    @app.post("/reload", dependencies=[TokenDep(settings)])
    async def reload() -> dict[str, Any]:
        """Load the published adapter (or merge) again; running answers finish on the old one."""
        changed = await engine.reload()
        return {"changed": changed, **(await model())}

    @app.post("/generate", responses={200: {"content": {"text/event-stream": {}}},
                                      503: {"description": "busy or not ready"}})
    async def generate(body: GenerateRequest, request: Request) -> Any:
        """Answer a question as Server-Sent Events (or JSON with Accept: application/json)."""
        check_limits(body, settings)
        engine.check_capacity()
        prepared = await prepare(body, engine, retrieval, settings)
        events = answer_events(engine, prepared, sampling_for(body, settings))
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse(await collect(events, request))
        return EventSourceResponse(sse(events), ping=15)

    app.include_router(openai_router(engine, retrieval, settings))
    return app


async def sse(events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, str]]:
    """Events as SSE; a failure after the stream started becomes an `error` event."""
    try:
        async for event in events:
            yield {"event": event["event"], "data": json.dumps(event["data"])}
    except Exception as error:
        log.exception("generation failed mid-stream")
        yield {"event": "error", "data": json.dumps(error_event(error))}
