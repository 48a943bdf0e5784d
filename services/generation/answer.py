"""A question to a stream of answer events, through the stages of `pipeline` then the lead.

Events, in order: `sources` (numbered hits), `evidence` (documented units, before the model starts),
`token` (the lead's checked sentences), `done` (the final answer: lead + evidence + sources).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from services.generation import (
    citations,
    lead_choice,
    pipeline,
    prompting,
    refusal,
    sources,
    support,
)
from services.generation.engine import Engine, Finished, Sampling
from services.generation.feedback import FeedbackStore
from services.generation.lead import LeadGate
from services.generation.pipeline import Prepared
from services.generation.retrieval import EmbeddingClient, RetrievalClient
from shared.errors import ServiceError
from shared.prompts import plain_messages
from shared.schemas import GenerateDone, GenerateRequest, Timings, Usage
from shared.settings import Settings


class Unprocessable(ServiceError):
    status, code = 422, "invalid_request"


def check_limits(body: GenerateRequest, settings: Settings) -> None:
    """422 naming the field when a request is past the configured limits."""
    if len(body.question) > settings.infer.max_question_chars:
        raise Unprocessable(f"question: {len(body.question)} characters, the limit is "
                            f"{settings.infer.max_question_chars}")
    if body.max_tokens is not None and body.max_tokens > settings.infer.max_tokens_cap:
        raise Unprocessable(f"max_tokens: {body.max_tokens} is over the cap of "
                            f"{settings.infer.max_tokens_cap}")


def sampling_for(body: GenerateRequest, settings: Settings, prepared: Prepared) -> Sampling:
    """The request's sampling; a rag lead is short unless the request asks for a length, and
    leans towards the evidence's words."""
    infer = settings.infer
    lead = prepared.mode != "ft" and infer.evidence.enabled
    default = infer.lead_max_tokens if lead else infer.max_new_tokens
    return Sampling(max_tokens=body.max_tokens or default,
                    temperature=infer.temperature if body.temperature is None else body.temperature,
                    top_p=body.top_p or infer.top_p, top_k=infer.sample_top_k,
                    repetition_penalty=infer.repetition_penalty,
                    repetition_context=infer.repetition_context,
                    logit_bias=prepared.copy_bias or None, follow=prepared.copy_follow or None,
                    follow_bias=infer.evidence.copy_follow_bias)


async def prepare(body: GenerateRequest, engine: Engine, retrieval: RetrievalClient,
                  embedder: EmbeddingClient, settings: Settings) -> Prepared:
    """retrieve → choose sources → extract evidence → decide refusal → build the prompt."""
    served = engine.ready()
    mode = body.mode or served.default_mode(settings.app.mode)
    weights = served.for_mode(mode)
    infer = settings.infer
    history = prompting.trim_history(body.history, weights.tokenizer, infer.history_tokens)
    prepared = Prepared(mode, weights)
    if mode == "ft":
        system = prompting.read_prompt(settings.model.ft_system_prompt_file)
        messages = plain_messages(system, prompting.turns(history), body.question)
        prepared.prompt, prepared.prefix = pipeline.render(weights, messages, system)
        return prepared
    query = prompting.retrieval_query(body.question, body.history, infer.followup_max_words)
    retrieved = await pipeline.retrieve(retrieval, query, body.question, body.top_k or infer.top_k,
                                        infer.refusal_depth)
    prepared.retrieval_ms, prepared.index_empty = retrieved.ms, retrieved.found.index_empty
    prepared.verdict = pipeline.decide(retrieved, body.question, settings)
    shown = sources.choose(retrieved.found.hits, infer.source_min_ratio)
    if prepared.verdict.refused:
        prepared.sources = refusal.nearest_pages(shown, pipeline.NEAREST)
        return prepared
    extracted = await pipeline.extract(body.question, shown, retrieved.stats, embedder, settings)
    prepared.sources, prepared.evidence = extracted.sources, extracted.items
    prepared.evidence_ms, prepared.evidence_scoring = extracted.ms, extracted.scoring
    pipeline.build(prepared, extracted, history, body.question, settings)
    return prepared


async def start(body: GenerateRequest, engine: Engine, retrieval: RetrievalClient,
                embedder: EmbeddingClient, settings: Settings,
                feedback: FeedbackStore | None = None) -> AsyncIterator[dict[str, Any]]:
    """Check the request, run the stages before generation, and return the answer's events
    (errors up to here are HTTP errors; after, they are `error` events)."""
    check_limits(body, settings)
    engine.check_capacity()
    prepared = await prepare(body, engine, retrieval, embedder, settings)
    events = answer_events(engine, prepared, sampling_for(body, settings, prepared), settings)
    return recorded(events, body.question, feedback) if feedback else events


async def recorded(events: AsyncIterator[dict[str, Any]], question: str,
                   feedback: FeedbackStore) -> AsyncIterator[dict[str, Any]]:
    """The events, with the finished answer kept for votes."""
    async for event in events:
        if event["event"] == "done":
            await asyncio.to_thread(feedback.record, question, event["data"])
        yield event


def gate_for(prepared: Prepared, settings: Settings) -> LeadGate:
    infer = settings.infer
    checked = support.prepare(prepared.sources) if prepared.mode != "ft" else None
    return LeadGate(checked, citations.allowed_urls(prepared.sources), len(prepared.sources),
                    infer.support_min_coverage,
                    infer.lead_max_sentences if prepared.evidence else 10_000,
                    evidence=[item.text for item in prepared.evidence])


async def answer_events(engine: Engine, prepared: Prepared, sampling: Sampling,
                        settings: Settings) -> AsyncIterator[dict[str, Any]]:
    """`sources`, `evidence`, one `token` per checked sentence, then `done`."""
    yield {"event": "sources", "data": {"sources": [s.model_dump() for s in prepared.sources],
                                        "index_empty": prepared.index_empty}}
    started = time.perf_counter()
    if prepared.verdict.refused:
        text = refusal.refusal_text(prepared.sources, prepared.index_empty)
        yield {"event": "token", "data": {"text": text}}
        yield {"event": "done", "data": done_event(prepared, text, text, None, started).model_dump()}
        return
    if prepared.mode != "ft":
        yield {"event": "evidence", "data": {
            "evidence": [item.model_dump() for item in prepared.evidence],
            "time_to_evidence_ms": round(prepared.retrieval_ms + prepared.evidence_ms, 1)}}
    run = await lead(engine, prepared, sampling, settings)
    if run is None:  # one lead: streamed as its sentences pass the check
        run = lead_choice.LeadRun(gate_for(prepared, settings))
        async for text in lead_choice.write(engine, prepared, sampling, run):
            yield {"event": "token", "data": {"text": text}}
    elif text := "".join(run.gate.released):
        yield {"event": "token", "data": {"text": text}}
    gate, finished = run.gate, run.finished
    if finished is None:  # cut short: the counts the engine did not get to report
        finished = cut_short(gate.stopped, len(prepared.prompt), run.pieces, started, run.first)
    final = citations.compose(gate.text, prepared.evidence, prepared.sources)
    done = done_event(prepared, gate.text, final, finished, started, gate, run.candidates)
    yield {"event": "done", "data": done.model_dump()}


async def lead(engine: Engine, prepared: Prepared, sampling: Sampling,
               settings: Settings) -> lead_choice.LeadRun | None:
    """The best of `infer.lead_candidates` leads over the evidence, written side by side in the
    batch rows other requests leave free (None: one lead, streamed as it is written): under load
    an answer writes fewer, so the others do not wait for its alternatives."""
    free = settings.infer.batch_size - engine.pending
    count = min(settings.infer.lead_candidates, free) if prepared.evidence else 1
    if count < 2:
        return None
    gates = [gate_for(prepared, settings) for _ in range(count)]
    return await lead_choice.best(engine, prepared, sampling, gates,
                                  settings.infer.lead_candidate_temperature)


def cut_short(reason: str | None, prompt: int, pieces: int, started: float,
              first: float) -> Finished:
    now = time.perf_counter()
    decode = now - first if first else 0.0
    return Finished(reason, prompt, 0, pieces, 0.0, ((first or now) - started) * 1000,
                    (pieces - 1) / decode if pieces > 1 and decode > 0 else 0.0)


def done_event(prepared: Prepared, lead: str, text: str, finished: Finished | None,
               started: float, gate: LeadGate | None = None,
               candidates: int = 1) -> GenerateDone:
    total = (time.perf_counter() - started) * 1000
    refused = prepared.verdict.refused
    body = text.split(citations.footer(prepared.sources))[0] if prepared.sources else text
    return GenerateDone(
        text=text, lead=lead, mode=prepared.mode, answer_id=uuid.uuid4().hex,
        finish_reason=finished.finish_reason if finished else ("refused" if refused
                                                              else "stop"),
        usage=Usage(prompt_tokens=len(prepared.prompt),
                    completion_tokens=finished.completion_tokens if finished else 0,
                    cached_tokens=finished.cached_tokens if finished else 0),
        timings=Timings(retrieval_ms=round(prepared.retrieval_ms, 1),
                        evidence_ms=round(prepared.evidence_ms, 1),
                        time_to_first_token_ms=round(finished.ttft_ms if finished else 0.0, 1),
                        tokens_per_sec=round(finished.tokens_per_sec if finished else 0.0, 2),
                        total_ms=round(total + prepared.retrieval_ms + prepared.evidence_ms, 1),
                        queue_ms=round(finished.queue_ms if finished else 0.0, 1)),
        weights=prepared.weights.info, refused=refused,
        refusal_reason=prepared.verdict.reason, sources=prepared.sources,
        cited=[] if refused else citations.cited(body, len(prepared.sources)),
        index_empty=prepared.index_empty, evidence=prepared.evidence,
        dropped=gate.dropped if gate else [], stopped=gate.stopped if gate else None,
        lead_candidates=candidates, lead_sentences=len(gate.kept) if gate else 0,
        lead_quoted=len(gate.quoted) if gate else 0,
        evidence_scoring=prepared.evidence_scoring)

