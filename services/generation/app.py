"""Generation service: POST /generate (SSE or JSON), GET /model, POST /reload, /v1 (OpenAI)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from sse_starlette.sse import EventSourceResponse

from services.generation.answer import start
from services.generation.engine import Engine
from services.generation.feedback import FeedbackStore
from services.generation.openai_api import openai_router
from services.generation.retrieval import EmbeddingClient, RetrievalClient
from services.generation.streaming import collect, error_event
from shared.schemas import FeedbackRequest, GenerateRequest
from shared.service import TokenDep, create_service_app
from shared.settings import get_settings

log = logging.getLogger(__name__)


def create_app() -> FastAPI:
    settings = get_settings()
    engine = Engine(settings)
    retrieval, embedder = RetrievalClient(settings), EmbeddingClient(settings)
    feedback = FeedbackStore(settings.data_dir / "feedback.sqlite")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await engine.start()
        yield
        await engine.stop()
        await retrieval.close()
        await embedder.close()
        feedback.close()

    async def model_loaded() -> tuple[bool, str]:
        weights = engine.weights
        return (True, weights.base.info.path) if weights else (False, "model loading")

    app = create_service_app("generation", {"model": model_loaded}, lifespan=lifespan)
    app.state.engine, app.state.retrieval, app.state.embedder = engine, retrieval, embedder

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
        events = await start(body, engine, retrieval, embedder, settings, feedback)
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse(await collect(events, request))
        return EventSourceResponse(sse(events), ping=15)

    @app.post("/feedback")
    async def vote(body: FeedbackRequest) -> dict[str, Any]:
        """Thumbs up or down on an answer (by the `answer_id` of its `done` event)."""
        return await asyncio.to_thread(feedback.vote, body.answer_id, body.vote, body.comment)

    @app.get("/feedback")
    async def votes(limit: Annotated[int, Query(ge=1, le=1000)] = 50,
                    vote: Literal["up", "down"] | None = None) -> dict[str, Any]:
        """The latest votes with their question, answer and sources."""
        return {"items": await asyncio.to_thread(feedback.votes, limit, vote)}

    app.include_router(openai_router(engine, retrieval, embedder, settings, feedback))
    return app


async def sse(events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, str]]:
    """Events as SSE; a failure after the stream started becomes an `error` event."""
    try:
        async for event in events:
            yield {"event": event["event"], "data": json.dumps(event["data"])}
    except Exception as error:
        log.exception("generation failed mid-stream")
        yield {"event": "error", "data": json.dumps(error_event(error))}
