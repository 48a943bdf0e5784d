"""Turn a question into a prompt (retrieval, sources, refusal) and a stream of answer events.

Events, in order: `sources` (numbered hits), `token` (text pieces), `done` (GenerateDone).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from services.generation import citations, prompting, refusal
from services.generation.engine import Engine, Finished, Piece, Sampling
from services.generation.retrieval import RetrievalClient
from services.generation.weights import LoadedWeights
from shared.errors import ServiceError
from shared.schemas import (
    GenerateDone,
    GenerateRequest,
    Mode,
    SearchResponse,
    SourceRef,
    Timings,
    Usage,
)
from shared.settings import Settings

NEAREST = 3  # pages listed with a refusal


class Unprocessable(ServiceError):
    status, code = 422, "invalid_request"


@dataclass
class Prepared:
    """Everything decided before generation starts."""

    mode: Mode
    weights: LoadedWeights
    prompt: list[int] = field(default_factory=list)
    prefix: tuple[int, ...] = ()
    sources: list[SourceRef] = field(default_factory=list)
    verdict: refusal.Verdict = field(default_factory=lambda: refusal.Verdict(False))
    index_empty: bool = False
    retrieval_ms: float = 0.0
    attribution: float = 0.0  # min word overlap for an added [n]; 0 = off


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


def render(weights: LoadedWeights, messages: list[dict[str, str]],
           system: str) -> tuple[list[int], tuple[int, ...]]:
    """Prompt tokens, and the prefix they share with the bare system prompt (cacheable)."""
    tokenizer = weights.tokenizer
    prompt = list(tokenizer.apply_chat_template(messages, add_generation_prompt=True))
    alone = tokenizer.apply_chat_template([{"role": "system", "content": system}])
    shared = next((i for i, (a, b) in enumerate(zip(prompt, alone)) if a != b), len(alone))
    return prompt, tuple(prompt[:shared])


async def prepare(body: GenerateRequest, engine: Engine, retrieval: RetrievalClient,
                  settings: Settings) -> Prepared:
    """Pick the weights, retrieve, decide on refusal and build the prompt."""
    served = engine.ready()
    mode = body.mode or served.default_mode(settings.app.mode)
    weights = served.for_mode(mode)
    tokenizer, infer = weights.tokenizer, settings.infer
    history = prompting.trim_history(body.history, tokenizer, infer.history_tokens)
    if mode == "ft":
        system = prompting.read_prompt(settings.model.ft_system_prompt_file)
        prompt, prefix = render(weights, prompting.plain_messages(system, history, body.question),
                                system)
        return Prepared(mode, weights, prompt, prefix)
    started = time.perf_counter()
    query = prompting.retrieval_query(body.question, body.history, infer.followup_max_words)
    found, evidence = await search(retrieval, query, body.question, body.top_k or infer.top_k,
                                   infer.refusal_depth)
    verdict = (refusal.Verdict(True, "the index is empty") if found.index_empty
               else refusal.decide(evidence, infer))
    prepared = Prepared(mode, weights, verdict=verdict, index_empty=found.index_empty,
                        attribution=infer.attribution_min_overlap)
    prepared.retrieval_ms = (time.perf_counter() - started) * 1000
    if verdict.refused:
        prepared.sources = citations.number_sources(found.hits[:NEAREST])
        return prepared
    hits = citations.select_hits(found.hits, infer.source_min_ratio)
    texts = prompting.fit_sources(hits, tokenizer, infer.context_tokens)
    prepared.sources = citations.number_sources(hits[:len(texts)], texts)
    system = prompting.read_prompt(settings.model.system_prompt_file)
    messages = prompting.rag_messages(system, hits, texts, history, body.question)
    prepared.prompt, prepared.prefix = render(weights, messages, system)
    return prepared


async def search(retrieval: RetrievalClient, query: str, question: str, top_k: int,
                 depth: int) -> tuple[SearchResponse, refusal.Evidence]:
    """The hybrid hits for the prompt, and the refusal evidence from dense and keyword hits."""
    found, dense, keyword = await asyncio.gather(retrieval.search(query, top_k),
                                                 retrieval.search(query, depth, "dense"),
                                                 retrieval.search(query, depth, "sparse"))
    return found, refusal.gather(question, found.hits, dense.hits, keyword.hits, depth)


def sources_event(prepared: Prepared) -> dict[str, Any]:
    return {"event": "sources", "data": {"sources": [s.model_dump() for s in prepared.sources],
                                         "index_empty": prepared.index_empty}}


async def answer_events(engine: Engine, prepared: Prepared, sampling: Sampling
                        ) -> AsyncIterator[dict[str, Any]]:
    """`sources` first, then one `token` event per text piece, then `done` with usage and timings."""
    yield sources_event(prepared)
    started = time.perf_counter()
    if prepared.verdict.refused:
        text = refusal.refusal_text(prepared.sources, prepared.index_empty)
        yield {"event": "token", "data": {"text": text}}
        yield {"event": "done", "data": done_event(prepared, text, None, started).model_dump()}
        return
    guard = citations.UrlGuard(prepared.sources)
    attributor = (citations.Attributor(prepared.sources, prepared.attribution)
                  if prepared.attribution and prepared.sources else None)
    pieces: list[str] = []
    finished: Finished | None = None
    async for item in engine.stream(prepared.weights, prepared.prompt, sampling, prepared.prefix):
        if isinstance(item, Piece):
            text = guard.feed(item.text)
            text = attributor.feed(text) if attributor else text
        else:
            finished, text = item, guard.flush()
            text = attributor.feed(text) + attributor.flush() if attributor else text
        if text:
            pieces.append(text)
            yield {"event": "token", "data": {"text": text}}
    done = done_event(prepared, "".join(pieces), finished, started)
    yield {"event": "done", "data": done.model_dump()}


def done_event(prepared: Prepared, text: str, finished: Finished | None,
               started: float) -> GenerateDone:
    total = (time.perf_counter() - started) * 1000
    return GenerateDone(
        text=text, mode=prepared.mode,
        finish_reason=finished.finish_reason if finished else ("refused" if prepared.verdict.refused
                                                              else None),
        usage=Usage(prompt_tokens=len(prepared.prompt),
                    completion_tokens=finished.completion_tokens if finished else 0,
                    cached_tokens=finished.cached_tokens if finished else 0),
        timings=Timings(retrieval_ms=round(prepared.retrieval_ms, 1),
                        time_to_first_token_ms=round(finished.ttft_ms if finished else 0.0, 1),
                        tokens_per_sec=round(finished.tokens_per_sec if finished else 0.0, 2),
                        total_ms=round(total + prepared.retrieval_ms, 1),
                        queue_ms=round(finished.queue_ms if finished else 0.0, 1)),
        weights=prepared.weights.info, refused=prepared.verdict.refused,
        refusal_reason=prepared.verdict.reason, sources=prepared.sources,
        cited=[] if prepared.verdict.refused else citations.cited(text, len(prepared.sources)),
        index_empty=prepared.index_empty)
