"""Continuous batching on one llama.cpp context: up to `batch_size` requests decode together.

Each request owns a sequence id (its own KV stream). Every step is one `llama_decode` holding the
next token of every decoding request plus as much of the waiting prompts as `llama_batch` allows,
so a new prompt prefills while the others keep decoding. The system prompt's KV is saved once per context
(`llama_state_seq_get_data`) and restored into each request that starts with it.
"""

from __future__ import annotations

import codecs
import ctypes
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from services.generation.batching import Job, Piece, Prefixes, Sampling, prefix_levels

log = logging.getLogger(__name__)


class Detokenizer:
    """mlx-lm's streaming detokenizer interface over llama.cpp's byte pieces (UTF-8 safe)."""

    def __init__(self, vocab: Any) -> None:
        import llama_cpp

        self.vocab, self.lib = vocab, llama_cpp
        self.buffer = ctypes.create_string_buffer(64)
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.segment = ""

    def add_token(self, token: int) -> None:
        size = self.lib.llama_token_to_piece(self.vocab, token, self.buffer, 64, 0, False)
        self.segment += self.decoder.decode(self.buffer.raw[:max(size, 0)])

    def finalize(self) -> None:
        self.segment += self.decoder.decode(b"", final=True)

    @property
    def last_segment(self) -> str:
        """The text since the last read (reading consumes it, as in mlx-lm)."""
        text, self.segment = self.segment, ""
        return text


def make_sampler(sampling: Sampling, n_vocab: int) -> Any:
    """A llama.cpp sampler chain: logit bias, repeat penalty over the generated tokens (as on
    MLX: the prompt ends with the evidence the lead should copy), top-k, top-p, temp."""
    from llama_cpp._internals import LlamaSampler

    sampler = LlamaSampler()
    if sampling.logit_bias:
        sampler.add_logit_bias(n_vocab, sampling.logit_bias)
    # the penalty only lowers the (at most `context`) recent tokens, so the top k after it are
    # among the top context + k before it: penalising those, not the 49k vocabulary, is the same
    # (greedy: k = 1; sampling: `top_k`, llama.cpp's top-p alone sorts the vocabulary, 2.9 ms a
    # token here, 0.05 ms after a top-k)
    keep = 1 if sampling.temperature <= 0 else sampling.top_k
    if keep and sampling.repetition_penalty >= 1:
        sampler.add_top_k(keep + (sampling.repetition_context if sampling.penalised else 0))
    if sampling.penalised:
        sampler.add_penalties(0, sampling.repetition_context, sampling.repetition_penalty, 0.0, 0.0)
    if sampling.temperature <= 0:
        sampler.add_greedy()
    else:
        if sampling.top_k:
            sampler.add_top_k(sampling.top_k)
        if sampling.top_p < 1.0:
            sampler.add_top_p(sampling.top_p, 1)
        sampler.add_temp(sampling.temperature)
        seed = sampling.seed if sampling.seed is not None else time.time_ns() & 0x7FFFFFFF
        sampler.add_dist(int(seed))
    return sampler


@dataclass
class Row:
    job: Job
    seq: int
    sampler: Any
    todo: list[int]  # prompt tokens not yet in the KV cache
    pos: int = 0  # tokens in the KV cache
    # save this sequence's KV as a prefix's once `pos` reaches each of these (shortest first)
    saves: list[int] = field(default_factory=list)
    token: int | None = None  # sampled, fed at the next step
    last: int | None = None  # the last generated token (Sampling.following)
    logits: int = -1  # this step's output index in the batch


class Slots:
    """The requests decoding on one llama.cpp context (one per loaded weights)."""

    def __init__(self, context: Any, model: Any, size: int, per_sequence: int, chunk: int,
                 prefix_cache: bool, prefix_entries: int = 8) -> None:
        import llama_cpp
        from llama_cpp._internals import LlamaBatch

        self.lib, self.context, self.model = llama_cpp, context, model
        self.per_sequence, self.chunk, self.prefix_cache = per_sequence, chunk, prefix_cache
        self.batch = LlamaBatch(n_tokens=chunk + size, embd=0, n_seq_max=1, verbose=False)
        self.free = list(range(size))
        self.rows: list[Row] = []
        self.waiting: deque[Job] = deque()
        self.prefixes = Prefixes(prefix_entries)

    def __len__(self) -> int:
        return len(self.rows) + len(self.waiting)

    def add(self, job: Job) -> None:
        if len(job.prompt) >= self.per_sequence:
            raise ValueError(f"the prompt has {len(job.prompt)} tokens, the context holds "
                             f"{self.per_sequence} (model.llama_context)")
        self.waiting.append(job)

    def step(self) -> None:
        """Drop cancelled requests, start waiting ones, then one decode call for all of them."""
        for row in [row for row in self.rows if row.job.cancel.is_set()]:
            self._release(row)
            log.info("stopped a generation: the client went away")
        self.waiting = deque(job for job in self.waiting if not job.cancel.is_set())
        held: list[Job] = []
        while self.waiting and self.free:
            job = self.waiting.popleft()
            (held.append if self._being_filled(job) else self._start)(job)
        self.waiting.extendleft(reversed(held))
        if self.rows:
            self._decode(self._fill())

    def fail(self, error: Exception) -> None:
        for row in list(self.rows):
            row.job.emit(error)
            self._release(row)
        for job in self.waiting:
            job.emit(error)
        self.waiting.clear()

    def _being_filled(self, job: Job) -> bool:
        """Another request is computing one of this job's prefixes now: the job waits a step and
        restores it (a question's lead candidates share their whole prompt)."""
        if not self.prefix_cache or not any(row.saves for row in self.rows):
            return False
        filling = {tuple(row.job.prompt[:n]) for row in self.rows for n in row.saves}
        return any(level in filling for level in prefix_levels(job))

    def _start(self, job: Job) -> None:
        self.free.sort(reverse=True)  # lowest id first: llama.cpp batches only consecutive ids
        sampler = make_sampler(job.sampling, self.model.n_vocab())
        row = Row(job, self.free.pop(), sampler, list(job.prompt))
        levels = prefix_levels(job) if self.prefix_cache else []
        restored = next((level for level in reversed(levels) if level in self.prefixes
                         and self._restore(row.seq, self.prefixes.use(level))), ())
        if restored:
            row.pos, row.todo = len(restored), list(job.prompt[len(restored):])
        row.saves = [len(level) for level in levels
                     if len(level) > len(restored) and level not in self.prefixes]
        # the first request fills the cache and reads from it, as on MLX (PrefixCache.lookup)
        job.cached, job.started = max([row.pos, *row.saves]), time.perf_counter()
        job.detokenizer = Detokenizer(self.model.vocab)
        self.rows.append(row)

    def _fill(self) -> int:
        """Put every decoding row's token, then prompt chunks in arrival order, into the batch."""
        batch, n = self.batch.batch, 0
        # by sequence id: with a KV stream per request, llama.cpp decodes one ubatch only over
        # increasing, consecutive ids (llama_batch_allocr::split_equal), else one per request
        self.rows.sort(key=lambda row: row.seq)
        for row in self.rows:
            row.logits = -1
            if row.token is not None:
                n = self._put(batch, n, [row.token], row, True)
        for row in sorted(self.rows, key=lambda row: row.job.submitted):  # prompts: arrival order
            room = self.chunk - n
            if not row.todo or room <= 0:
                continue
            if row.saves:  # stop at the end of a prefix to save its KV alone
                room = min(room, row.saves[0] - row.pos)
            part = row.todo[:room]
            n = self._put(batch, n, part, row, len(part) == len(row.todo))
        batch.n_tokens = n
        return n

    def _put(self, batch: Any, n: int, tokens: list[int], row: Row, logits: bool) -> int:
        for i, token in enumerate(tokens):
            batch.token[n + i], batch.pos[n + i] = token, row.pos + i
            batch.seq_id[n + i][0], batch.n_seq_id[n + i], batch.logits[n + i] = row.seq, 1, False
        batch.logits[n + len(tokens) - 1] = logits
        row.logits = n + len(tokens) - 1 if logits else -1
        row.pos += len(tokens)
        if row.token is not None:
            row.token = None
        else:
            row.todo = row.todo[len(tokens):]
        return n + len(tokens)

    def _decode(self, n: int) -> None:
        if n == 0:
            return
        if (code := self.lib.llama_decode(self.context.ctx, self.batch.batch)) != 0:
            raise RuntimeError(f"llama_decode returned {code} (no room in the KV cache?)")
        now = time.perf_counter()
        for row in list(self.rows):
            if row.saves and row.pos == row.saves[0]:
                self.prefixes.keep(tuple(row.job.prompt[:row.pos]), self._save(row.seq))
                row.saves.pop(0)
            if row.logits >= 0:
                self._lean(row)
                token = self.lib.llama_sampler_sample(row.sampler.sampler, self.context.ctx,
                                                      row.logits)
                self._deliver(row, token, now)

    def _lean(self, row: Row) -> None:
        """Sampling.follow_bias on this row's logits, before its sampler chain reads them."""
        if ids := row.job.sampling.following(row.last):
            logits = self.lib.llama_get_logits_ith(self.context.ctx, row.logits)
            for token in ids:
                logits[token] += row.job.sampling.follow_bias

    def _deliver(self, row: Row, token: int, now: float) -> None:
        job = row.job
        if self.lib.llama_vocab_is_eog(self.model.vocab, token):
            return self._finish(row, "stop")
        job.tokens += 1
        job.first_token = job.first_token or now
        job.detokenizer.add_token(token)
        if text := job.detokenizer.last_segment:
            job.emit(Piece(text))
        if job.tokens >= job.sampling.max_tokens or row.pos + 1 >= self.per_sequence:
            return self._finish(row, "length")
        row.token = row.last = token

    def _finish(self, row: Row, reason: str) -> None:
        self._release(row)
        row.job.finish(reason)

    def _release(self, row: Row) -> None:
        self.lib.llama_memory_seq_rm(self.context.memory, row.seq, -1, -1)
        row.sampler.close()
        self.rows.remove(row)
        self.free.append(row.seq)

    def _save(self, seq: int) -> Any:
        size = self.lib.llama_state_seq_get_size(self.context.ctx, seq)
        data = (ctypes.c_uint8 * size)()
        self.lib.llama_state_seq_get_data(self.context.ctx, data, size, seq)
        log.info("cached the KV of a %d-token prompt prefix", self.lib.llama_memory_seq_pos_max(
            self.context.memory, seq) + 1)
        return data

    def _restore(self, seq: int, data: Any) -> bool:
        return bool(self.lib.llama_state_seq_set_data(self.context.ctx, data, len(data), seq))

