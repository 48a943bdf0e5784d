"""Turn a question into prompt messages and a stream of answer events (sources, token..., done)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from services.generation.engine import Engine, LoadedWeights, Sampling
from shared.errors import ServiceError
from shared.schemas import GenerateDone, GenerateRequest, Mode, Timings, Usage
from shared.settings import Settings


class Unprocessable(ServiceError):
    status, code = 422, "invalid_request"


@lru_cache(maxsize=8)
def read_prompt(path: str) -> str:
    return Path(path).read_text(encoding="utf-8").strip()


def check_limits(body: GenerateRequest, settings: Settings) -> None:
    """422 naming the field when a request is past the configured limits."""
    if len(body.question) > settings.infer.max_question_chars:
        raise Unprocessable(f"question: {len(body.question)} characters, the limit is "
                            f"{settings.infer.max_question_chars}")
    if body.max_tokens is not None and body.max_tokens > settings.infer.max_tokens_cap:
        raise Unprocessable(f"max_tokens: {body.max_tokens} is over the cap of "
                            f"{settings.infer.max_tokens_cap}")


def sampling_for(body: GenerateRequest, settings: Settings) -> Sampling:
    infer = settings.infer
    return Sampling(
        max_tokens=body.max_tokens or infer.max_new_tokens,
        temperature=infer.temperature if body.temperature is None else body.temperature,
        top_p=body.top_p or infer.top_p,
    )


def build_messages(body: GenerateRequest, settings: Settings) -> list[dict[str, str]]:
    """System prompt, then the chat history, then the question (no retrieved context: `ft`)."""
    messages = [{"role": "system", "content": read_prompt(settings.model.ft_system_prompt_file)}]
    messages += [{"role": turn.role, "content": turn.content} for turn in body.history]
    messages.append({"role": "user", "content": body.question})
    return messages


async def answer_events(engine: Engine, weights: LoadedWeights, prompt: list[int],
                        sampling: Sampling, mode: Mode) -> AsyncIterator[dict[str, Any]]:
    """`sources` first, then one `token` event per text piece, then `done` with usage and timings."""
    yield {"event": "sources", "data": {"sources": []}}
    started = time.perf_counter()
    first_token_at: float | None = None
    pieces: list[str] = []
    last: Any = None
    async for response in engine.stream(weights, prompt, sampling):
        last = response
        if first_token_at is None:
            first_token_at = time.perf_counter()
        if response.text:
            pieces.append(response.text)
            yield {"event": "token", "data": {"text": response.text}}
    ended = time.perf_counter()
    first = first_token_at or ended
    done = GenerateDone(
        text="".join(pieces), mode=mode,
        finish_reason=last.finish_reason if last else None,
        usage=Usage(prompt_tokens=len(prompt), completion_tokens=last.generation_tokens if last else 0),
        timings=Timings(time_to_first_token_ms=(first - started) * 1000,
                        tokens_per_sec=last.generation_tps if last else 0.0,
                        total_ms=(ended - started) * 1000),
        weights=weights.info,
    )
    yield {"event": "done", "data": done.model_dump()}
