"""Embedding service: POST /embed."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool

from services.embedding.encoder import Encoder
from shared.errors import NotReady, PayloadTooLarge
from shared.schemas import EmbedRequest, EmbedResponse
from shared.service import create_service_app
from shared.settings import get_settings


def create_app() -> FastAPI:
    settings = get_settings()
    state: dict[str, Encoder] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state["encoder"] = await asyncio.to_thread(
            Encoder, settings.index.embedding_model, settings.index.embedding_batch,
            settings.index.embedding_threads)
        yield

    async def model_loaded() -> tuple[bool, str]:
        encoder = state.get("encoder")
        return (True, encoder.path) if encoder else (False, "model loading")

    app = create_service_app("embedding", {"model": model_loaded}, lifespan=lifespan)

    @app.post("/embed", response_model=EmbedResponse,
              responses={413: {"description": "too many texts or a text too long"}})
    async def embed(body: EmbedRequest, _: Request) -> EmbedResponse:
        encoder = state.get("encoder")
        if encoder is None:
            raise NotReady("embedding model is still loading", retry_after=5)
        check_limits(body, settings.index.max_texts_per_request, settings.index.max_text_chars)
        vectors = await run_in_threadpool(encoder.embed, body.texts)
        return EmbedResponse(vectors=vectors, dim=encoder.dim, model=encoder.name)

    return app


def check_limits(body: EmbedRequest, max_texts: int, max_chars: int) -> None:
    if len(body.texts) > max_texts:
        raise PayloadTooLarge(f"texts: {len(body.texts)} texts, the limit is {max_texts} per request")
    for position, text in enumerate(body.texts):
        if len(text) > max_chars:
            raise PayloadTooLarge(
                f"texts[{position}]: {len(text)} characters, the limit is {max_chars}")
