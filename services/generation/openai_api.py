"""OpenAI-compatible chat: POST /v1/chat/completions (stream and not) and GET /v1/models.

`model` picks the mode (`mde-rag`, `mde-ft`, `mde-rag_ft`). Citations survive: the sources travel as
a `sources` field (on the message, and on the last stream chunk) and as a numbered list at the end of
the content, so a plain OpenAI client shows them.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette.sse import EventSourceResponse

from services.generation import citations
from services.generation.answer import (
    Unprocessable,
    answer_events,
    check_limits,
    prepare,
    sampling_for,
)
from services.generation.engine import Engine
from services.generation.retrieval import RetrievalClient
from services.generation.streaming import collect, error_event
from shared.errors import NotFound
from shared.schemas import ChatTurn, GenerateRequest, Mode, SourceRef
from shared.settings import Settings

log = logging.getLogger(__name__)

MODELS: dict[str, Mode] = {"mde-rag": "rag", "mde-ft": "ft", "mde-rag_ft": "rag_ft"}
FOOTER_MARK = "\n\nSources:\n"


class ChatMessage(BaseModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(str(part.get("text", "")) for part in self.content)
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=1, le=50)  # retrieval depth (not an OpenAI field)


def to_generate(body: ChatCompletionRequest) -> GenerateRequest:
    """The last user message is the question; earlier user/assistant turns are the history."""
    mode = MODELS.get(body.model) or MODELS.get(f"mde-{body.model}")
    if mode is None:
        raise NotFound(f"model {body.model!r} does not exist: use one of {', '.join(MODELS)}")
    turns = [m for m in body.messages if m.role in ("user", "assistant")]
    if not turns or turns[-1].role != "user":
        raise Unprocessable("messages: the last user or assistant message must be the user's")
    history = [ChatTurn(role=m.role, content=m.text().split(FOOTER_MARK)[0])  # type: ignore[arg-type]
               for m in turns[:-1]]
    return GenerateRequest(question=turns[-1].text() or " ", mode=mode, history=history,
                           top_k=body.top_k, max_tokens=body.max_completion_tokens or body.max_tokens,
                           temperature=body.temperature, top_p=body.top_p)


def _finish(done: dict[str, Any]) -> str:
    return "length" if done.get("finish_reason") == "length" else "stop"


def _usage(done: dict[str, Any]) -> dict[str, int]:
    usage = done.get("usage") or {}
    prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def _extras(done: dict[str, Any]) -> dict[str, Any]:
    keys = ("mode", "refused", "refusal_reason", "timings", "weights", "cited", "index_empty")
    return {key: done.get(key) for key in keys}


def completion(done: dict[str, Any], model: str) -> dict[str, Any]:
    """A chat.completion object from the `done` event."""
    sources = [SourceRef.model_validate(s) for s in done.get("sources", [])]
    message = {"role": "assistant", "content": done.get("text", "") + citations.footer(sources),
               "sources": done.get("sources", []), "refusal": None}
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": _finish(done),
                         "logprobs": None}],
            "usage": _usage(done), "sources": done.get("sources", []), "mde": _extras(done)}


async def chunks(events: AsyncIterator[dict[str, Any]], model: str) -> AsyncIterator[str]:
    """chat.completion.chunk objects as SSE data lines, ending with [DONE]."""
    head = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return json.dumps({**head, "choices": [choice], **extra})

    yield chunk({"role": "assistant", "content": ""})
    try:
        async for event in events:
            if event["event"] == "token":
                yield chunk({"content": event["data"]["text"]})
            elif event["event"] == "done":
                done = event["data"]
                sources = [SourceRef.model_validate(s) for s in done.get("sources", [])]
                if footer := citations.footer(sources):
                    yield chunk({"content": footer})
                yield chunk({"sources": done.get("sources", [])}, _finish(done),
                            sources=done.get("sources", []), usage=_usage(done), mde=_extras(done))
    except Exception as error:
        log.exception("chat completion failed mid-stream")
        yield json.dumps({"error": {**error_event(error), "message": str(error)}})
    yield "[DONE]"


def openai_router(engine: Engine, retrieval: RetrievalClient, settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["openai"])

    @router.get("/models")
    async def models() -> dict[str, Any]:
        """The three modes as models."""
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0,
                                            "owned_by": "mde-learn-chatbot"} for name in MODELS]}

    @router.post("/chat/completions", responses={200: {"content": {"text/event-stream": {}}}})
    async def chat(body: ChatCompletionRequest, request: Request) -> Any:
        """Answer the last user message with the assistant (OpenAI chat completions)."""
        generate = to_generate(body)
        check_limits(generate, settings)
        engine.check_capacity()
        prepared = await prepare(generate, engine, retrieval, settings)
        events = answer_events(engine, prepared, sampling_for(generate, settings))
        if body.stream:
            return EventSourceResponse(chunks(events, body.model), ping=15)
        return completion(await collect(events, request), body.model)

    return router
