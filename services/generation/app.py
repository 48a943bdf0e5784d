"""Generation service: POST /generate (SSE or JSON), GET /model."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sse_starlette.sse import EventSourceResponse

from services.generation.answer import (answer_events, build_messages, check_limits,
                                        sampling_for)
from services.generation.engine import Engine
from shared.errors import NotReady
from shared.schemas import GenerateRequest
from shared.service import create_service_app
from shared.settings import get_settings


def create_app() -> FastAPI:
    settings = get_settings()
    engine = Engine(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await engine.start()
        yield
        engine.executor.shutdown(wait=False, cancel_futures=True)

    async def model_loaded() -> tuple[bool, str]:
        return (True, engine.base.info.path) if engine.base else (False, "model loading")

    app = create_service_app("generation", {"model": model_loaded}, lifespan=lifespan)
    app.state.engine = engine

    @app.get("/model")
    async def model() -> dict[str, Any]:
        """Which weights serve each mode."""
        return {mode: engine.weights_for(mode).info.model_dump() for mode in ("rag", "ft", "rag_ft")}

    @app.post("/generate", responses={200: {"content": {"text/event-stream": {}}},
                                      503: {"description": "busy or not ready"}})
    async def generate(body: GenerateRequest, request: Request) -> Any:
        """Answer a question as Server-Sent Events (or JSON with Accept: application/json)."""
        check_limits(body, settings)
        mode = body.mode or settings.app.mode
        if mode != "ft":
            raise NotReady(f"mode {mode} needs the retrieval service, which is not built yet; "
                           "use mode ft")
        weights = engine.weights_for(mode)
        engine.check_capacity()
        prompt = engine.render_prompt(weights, build_messages(body, settings))
        events = answer_events(engine, weights, prompt, sampling_for(body, settings), mode)
        if "application/json" in request.headers.get("accept", ""):
            async for event in events:
                if event["event"] == "done":
                    return JSONResponse(event["data"])
        return EventSourceResponse(
            ({"event": e["event"], "data": json.dumps(e["data"])} async for e in events),
            ping=15)

    return app
