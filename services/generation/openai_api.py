"""OpenAI-compatible chat: POST /v1/chat/completions (stream and not) and GET /v1/models.

`model` picks the mode (`mde-rag`, `mde-ft`, `mde-rag_ft`). Citations survive: the content is the
final answer (lead, documented evidence with [n], numbered source list), and the sources and the
evidence also travel as `sources` and `evidence` fields (on the message, and on the last chunk).
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

from services.generation.answer import Unprocessable, start
from services.generation.citations import EVIDENCE_MARK
from services.generation.engine import Engine
from services.generation.feedback import FeedbackStore
from services.generation.retrieval import EmbeddingClient, RetrievalClient
from services.generation.streaming import collect, error_event
from shared.errors import NotFound
from shared.schemas import ChatTurn, GenerateRequest, Mode
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
    history = [ChatTurn(role=m.role, content=_lead(m.text()))  # type: ignore[arg-type]
               for m in turns[:-1]]
    return GenerateRequest(question=turns[-1].text() or " ", mode=mode, history=history,
                           top_k=body.top_k, max_tokens=body.max_completion_tokens or body.max_tokens,
                           temperature=body.temperature, top_p=body.top_p)


def _lead(content: str) -> str:
    """An earlier answer as history: its lead, without the quoted evidence and the source list."""
    return content.split(FOOTER_MARK)[0].split(EVIDENCE_MARK)[0].strip() or content[:500]


def _finish(done: dict[str, Any]) -> str:
    return "length" if done.get("finish_reason") == "length" else "stop"


def _usage(done: dict[str, Any]) -> dict[str, int]:
    usage = done.get("usage") or {}
    prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def _extras(done: dict[str, Any]) -> dict[str, Any]:
    keys = ("mode", "refused", "refusal_reason", "timings", "weights", "cited", "index_empty",
            "answer_id", "lead", "dropped", "stopped")
    return {key: done.get(key) for key in keys}


def completion(done: dict[str, Any], model: str) -> dict[str, Any]:
    """A chat.completion object from the `done` event."""
    message = {"role": "assistant", "content": done.get("text", ""),
               "sources": done.get("sources", []), "evidence": done.get("evidence", []),
               "refusal": None}
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": _finish(done),
                         "logprobs": None}],
            "usage": _usage(done), "sources": done.get("sources", []),
            "evidence": done.get("evidence", []), "mde": _extras(done)}


async def chunks(events: AsyncIterator[dict[str, Any]], model: str) -> AsyncIterator[str]:
    """chat.completion.chunk objects as SSE data lines, ending with [DONE]."""
    head = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return json.dumps({**head, "choices": [choice], **extra})

    yield chunk({"role": "assistant", "content": ""})
    streamed = ""
    try:
        async for event in events:
            if event["event"] == "token":
                streamed += event["data"]["text"]
                yield chunk({"content": event["data"]["text"]})
            elif event["event"] == "done":
                done = event["data"]
                if tail := rest_of(done.get("text", ""), streamed):
                    yield chunk({"content": tail})  # the evidence and the source list
                extra = {"sources": done.get("sources", []), "evidence": done.get("evidence", [])}
                yield chunk(extra, _finish(done), **extra, usage=_usage(done), mde=_extras(done))
    except Exception as error:
        log.exception("chat completion failed mid-stream")
        yield json.dumps({"error": {**error_event(error), "message": str(error)}})
    yield "[DONE]"


def rest_of(text: str, streamed: str) -> str:
    """What the final answer adds after the streamed lead (the client has the lead's trailing
    line break already: it is not sent twice)."""
    lead = streamed.rstrip()
    if not text.startswith(lead):
        return ("\n\n" if lead else "") + text
    rest, trailing = text[len(lead):], streamed[len(lead):]
    return rest[len(trailing):] if rest.startswith(trailing) else rest


def openai_router(engine: Engine, retrieval: RetrievalClient, embedder: EmbeddingClient,
                  settings: Settings, feedback: FeedbackStore | None = None) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["openai"])

    @router.get("/models")
    async def models() -> dict[str, Any]:
        """The three modes as models."""
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0,
                                            "owned_by": "mde-learn-chatbot"} for name in MODELS]}

    @router.post("/chat/completions", responses={200: {"content": {"text/event-stream": {}}}})
    async def chat(body: ChatCompletionRequest, request: Request) -> Any:
        """Answer the last user message with the assistant (OpenAI chat completions)."""
        events = await start(to_generate(body), engine, retrieval, embedder, settings, feedback)
        if body.stream:
            return EventSourceResponse(chunks(events, body.model), ping=15)
        return completion(await collect(events, request), body.model)

    return router
