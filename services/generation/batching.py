"""Batched decoding on the MLX thread: one mlx-lm BatchGenerator per loaded weights.

Requests for the same weights join one batch and are decoded together; prompts are prefilled one at a
time in `prefill_step_size` chunks between decode steps, in arrival order. The system prompt's KV
cache is computed once per weights and handed to every prompt that starts with it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from services.generation.weights import LoadedWeights

log = logging.getLogger(__name__)


@dataclass
class Sampling:
    max_tokens: int
    temperature: float
    top_p: float
    repetition_penalty: float = 1.0  # CTRL-style divisor of recent tokens' logits; 1.0 = off
    repetition_context: int = 64  # how many recent tokens the penalty looks at
    logit_bias: dict[int, float] | None = None  # added to these tokens' logits (the evidence's)
    # the tokens that follow each token in the evidence, and what they get after that token: the
    # lead continues the documentation's phrases instead of stitching its words
    follow: dict[int, tuple[int, ...]] | None = None
    follow_bias: float = 0.0
    top_k: int = 0  # sample among the k likeliest tokens only (0: all)
    seed: int | None = None  # a fixed seed for sampling (None: a new one each time)

    @property
    def penalised(self) -> bool:
        return self.repetition_penalty != 1.0 and self.repetition_context > 0

    def following(self, last: int | None) -> tuple[int, ...]:
        """The tokens to lean towards after `last` (the previous generated token; None: none yet)."""
        if last is None or not self.follow or not self.follow_bias:
            return ()
        return self.follow.get(last, ())


def processors(sampling: Sampling, prompt_length: int) -> list[Any]:
    """The logit bias, then the repetition penalty over the tokens generated so far (the prompt
    ends with the evidence the lead should copy), as mlx-lm logits processors for one row."""
    from mlx_lm.sample_utils import make_logits_processors, make_repetition_penalty

    chain = make_logits_processors(logit_bias=sampling.logit_bias or None)
    if sampling.follow and sampling.follow_bias:
        chain.append(follow_processor(sampling, prompt_length))
    if sampling.penalised:
        penalty = make_repetition_penalty(sampling.repetition_penalty, sampling.repetition_context)
        chain.append(lambda tokens, logits: penalty(tokens[prompt_length:], logits))
    return chain


def follow_processor(sampling: Sampling, prompt_length: int) -> Any:
    """Sampling.follow_bias on the tokens that follow the last generated one in the evidence."""
    import mlx.core as mx

    def lean(tokens: Any, logits: Any) -> Any:
        last = int(tokens[-1]) if len(tokens) > prompt_length else None
        if not (ids := sampling.following(last)):
            return logits
        return logits.at[..., mx.array(ids)].add(sampling.follow_bias)

    return lean


@dataclass
class Piece:
    """Text decoded from one new token."""

    text: str


@dataclass
class Finished:
    """The end of one generation, with its counts and timings."""

    finish_reason: str | None
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    queue_ms: float
    ttft_ms: float
    tokens_per_sec: float


@dataclass
class Job:
    """One generation request inside the engine; `emit` hands events to the waiting client."""

    weights: LoadedWeights
    prompt: list[int]
    sampling: Sampling
    emit: Callable[[Any], None]
    prefix: tuple[int, ...] = ()  # the system prompt's tokens (its KV is cached)
    shared: tuple[int, ...] = ()  # a longer prefix other jobs share: a question's lead candidates
    cancel: threading.Event = field(default_factory=threading.Event)
    submitted: float = field(default_factory=time.perf_counter)
    started: float | None = None  # admitted by the MLX thread
    first_token: float | None = None
    tokens: int = 0
    cached: int = 0
    detokenizer: Any = None

    def finish(self, reason: str | None) -> None:
        now = time.perf_counter()
        self.detokenizer.finalize()
        if text := self.detokenizer.last_segment:  # reading it consumes it
            self.emit(Piece(text))
        first = self.first_token or now
        started = self.started or self.submitted
        decode = now - first
        self.emit(Finished(reason, len(self.prompt), self.cached, self.tokens,
                           (started - self.submitted) * 1000, (first - self.submitted) * 1000,
                           (self.tokens - 1) / decode if self.tokens > 1 and decode > 0 else 0.0))


def prefix_levels(job: Job) -> list[tuple[int, ...]]:
    """The job's cacheable prompt prefixes, shortest first: the system prompt, then the prompt its
    sibling lead candidates share."""
    return list(dict.fromkeys(level for level in (job.prefix, job.shared) if len(level) >= 2
                              and len(job.prompt) > len(level)
                              and tuple(job.prompt[:len(level)]) == level))


class Prefixes(OrderedDict[tuple[int, ...], Any]):
    """Saved KV of prompt prefixes (the system prompts, and a question's prompt while its lead
    candidates start), least recently used first out; both engines keep theirs here."""

    def __init__(self, entries: int) -> None:
        super().__init__()
        self.entries = entries

    def keep(self, prefix: tuple[int, ...], state: Any) -> None:
        self[prefix] = state
        self.use(prefix)
        while len(self) > self.entries:
            self.popitem(last=False)

    def use(self, prefix: tuple[int, ...]) -> Any:
        self.move_to_end(prefix)
        return self[prefix]


class PrefixCache:
    """KV caches of prompt prefixes for one model (mlx-lm caches)."""

    def __init__(self, model: Any, step: int, entries: int = 8) -> None:
        self.model, self.step = model, step
        self.caches = Prefixes(entries)

    def lookup(self, job: Job) -> tuple[list[Any] | None, int]:
        """Copies of the cache of the job's longest prefix and its length (None, 0: it has none);
        a prefix is computed once, from the cache of the shorter one when there is one."""
        levels = prefix_levels(job)
        if not levels:
            return None, 0
        start = None
        for level in levels:
            if level not in self.caches:
                self.caches.keep(level, self._compute(level, start))
            start = self.caches.use(level)
        return [_copy(cache) for cache in start], len(levels[-1])

    def _compute(self, tokens: tuple[int, ...], start: list[Any] | None) -> list[Any]:
        import mlx.core as mx
        from mlx_lm.models.cache import make_prompt_cache

        cache = [_copy(c) for c in start] if start else make_prompt_cache(self.model)
        done = cache[0].offset if start else 0
        for first in range(done, len(tokens), self.step):
            self.model(mx.array(tokens[first:first + self.step])[None], cache=cache)
            mx.eval([c.state for c in cache])
        log.info("cached the KV of a %d-token prompt prefix", len(tokens))
        return cache


def _copy(cache: Any) -> Any:
    """A KVCache holding the same keys and values, which later writes cannot reach."""
    from mlx_lm.models.cache import KVCache

    if not isinstance(cache, KVCache):
        raise TypeError(f"prefix caching supports KVCache, not {type(cache).__name__}")
    copy = KVCache()
    copy.keys = cache.keys[..., :cache.offset, :]
    copy.values = cache.values[..., :cache.offset, :]
    copy.offset = cache.offset
    return copy


class Batch:
    """The requests decoding on one set of weights."""

    def __init__(self, weights: LoadedWeights, size: int, step: int, prefix_cache: bool,
                 prefix_entries: int = 8) -> None:
        from mlx_lm.generate import BatchGenerator

        self.weights = weights
        stops = [[token] for token in sorted(weights.tokenizer.eos_token_ids)]
        self.generator = BatchGenerator(weights.model, stop_tokens=stops,
                                        completion_batch_size=size, prefill_batch_size=1,
                                        prefill_step_size=step)
        if prefix_cache and weights.prefix is None:
            # lives as long as the weights
            weights.prefix = PrefixCache(weights.model, step, prefix_entries)
        self.prefixes: PrefixCache | None = weights.prefix if prefix_cache else None
        self.jobs: dict[int, Job] = {}
        self.samplers: dict[tuple[float, float, int], Any] = {}  # one object per setting: rows sample together

    @property
    def idle(self) -> bool:
        return not self.jobs

    def __len__(self) -> int:
        return len(self.jobs)

    def add(self, job: Job) -> None:
        from mlx_lm.sample_utils import make_sampler

        cache, job.cached = (self.prefixes.lookup(job) if self.prefixes
                             else (None, 0))
        job.detokenizer = self.weights.tokenizer.detokenizer
        if job.sampling.seed is not None:  # rows share mlx's generator: the same when alone
            import mlx.core as mx

            mx.random.seed(job.sampling.seed)
        key = (job.sampling.temperature, job.sampling.top_p, job.sampling.top_k)
        sampler = self.samplers.setdefault(key, make_sampler(temp=key[0], top_p=key[1],
                                                             top_k=key[2]))
        [uid] = self.generator.insert([job.prompt[job.cached:]], max_tokens=[job.sampling.max_tokens],
                                      caches=[cache] if cache else None, samplers=[sampler],
                                      logits_processors=[processors(job.sampling, len(job.prompt))],
                                      all_tokens=[job.prompt[:job.cached]])
        job.started = time.perf_counter()
        self.jobs[uid] = job


    def step(self) -> None:
        """Drop cancelled requests, then one prefill chunk and/or one decode step."""
        gone = [uid for uid, job in self.jobs.items() if job.cancel.is_set()]
        if gone:
            self.generator.remove(gone)
            for uid in gone:
                del self.jobs[uid]
            log.info("stopped %d generation(s): the client went away", len(gone))
        if not self.jobs:
            return
        _, responses = self.generator.next()
        now = time.perf_counter()
        for response in responses:
            self._deliver(self.jobs[response.uid], response, now)

    def _deliver(self, job: Job, response: Any, now: float) -> None:
        if response.finish_reason != "stop":
            job.tokens += 1
            job.first_token = job.first_token or now
            job.detokenizer.add_token(response.token)
            if text := job.detokenizer.last_segment:
                job.emit(Piece(text))
        if response.finish_reason is not None:
            del self.jobs[response.uid]
            job.finish(response.finish_reason)

    def fail(self, error: Exception) -> None:
        """Hand an error to every request of this batch (the batch is dropped after)."""
        for job in self.jobs.values():
            job.emit(error)
        self.jobs.clear()
