"""The MLX model owner: every MLX call (loading, prefill, decoding) runs on one thread.

The thread takes requests from an inbox in arrival order and steps one batch per loaded weights; the
async side reads events from a queue. A client that goes away sets a cancel flag that the thread
honours at its next step. A reload loads the new weights on the thread, then swaps them in: requests
already running finish on the weights they started with.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from typing import Any

from services.generation.batching import Batch, Finished, Job, Piece, Sampling
from services.generation.weights import (
    LoadedWeights,
    WeightSet,
    load_published,
    load_weights,
    published,
)
from shared.errors import Busy, NotReady
from shared.mlx_runtime import use_fast_blas
from shared.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["Engine", "Finished", "Piece", "Sampling"]


class Engine:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.weights: WeightSet | None = None
        self.pending = 0
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.batches: dict[tuple[Any, ...], Batch] = {}
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="mlx", daemon=True)
        self.reload_lock = asyncio.Lock()

    # --- async side ---

    async def start(self) -> None:
        """Start the MLX thread and load the base weights, then whatever is published."""
        if self.settings.model.native_kernels and self.settings.model.fast_kernels:
            use_fast_blas()  # before kernels imports mlx
            from services.generation.kernels import native_compiler

            native_compiler()
        self.thread.start()
        base = await self.call(load_weights, self.settings.model.base_id, "base", None, None,
                               self.settings.model.fast_kernels)
        self.weights = WeightSet(base)
        await self.reload()

    async def stop(self) -> None:
        self.stopping = True
        self.inbox.put(None)
        await asyncio.to_thread(self.thread.join, 30)

    async def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run MLX work on the MLX thread and wait for its result."""
        future: Future[Any] = Future()
        self.inbox.put((function, args, future))
        return await asyncio.wrap_future(future)

    async def reload(self) -> bool:
        """Load the published adapter or merge (if it changed) and swap it in; True if it changed."""
        async with self.reload_lock:
            current = self.ready()
            found = published(self.settings)
            serving = current.tuned.info if current.tuned else None
            if found is None:
                changed = serving is not None
                tuned = None
            elif serving and (serving.kind, serving.version) == (found.kind, found.version):
                return False
            else:
                tuned = await self.call(load_published, self.settings, found)
                changed = True
            self.weights = WeightSet(current.base, tuned)
            log.info("serving %s for ft and rag_ft", tuned.info.path if tuned else "the base weights")
            return changed

    def ready(self) -> WeightSet:
        if self.weights is None:
            raise NotReady("the generation model is still loading", retry_after=5)
        return self.weights

    def check_capacity(self) -> None:
        """503 + Retry-After before a response starts when the bounded queue is full."""
        if self.pending >= self.settings.infer.queue_size:
            raise Busy(f"{self.pending} generations in progress or queued, the limit is "
                       f"{self.settings.infer.queue_size}", retry_after=5)

    async def stream(self, weights: LoadedWeights, prompt: list[int], sampling: Sampling,
                     prefix: tuple[int, ...] = ()) -> AsyncIterator[Piece | Finished]:
        """Pieces of text as tokens are decoded, then Finished; leaving early stops the work."""
        self.check_capacity()
        self.pending += 1
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[Any] = asyncio.Queue()

        def emit(item: Any) -> None:
            loop.call_soon_threadsafe(events.put_nowait, item)

        job = Job(weights, prompt, sampling, emit, prefix)
        self.inbox.put(job)
        try:
            while True:
                item = await events.get()
                if isinstance(item, Exception):
                    raise item
                yield item
                if isinstance(item, Finished):
                    return
        finally:
            job.cancel.set()
            self.pending -= 1

    # --- the MLX thread ---

    def _run(self) -> None:
        while not self.stopping:
            self._take(block=not self.batches)
            for key, batch in list(self.batches.items()):
                try:
                    batch.step()
                except Exception as error:
                    log.exception("generation failed")
                    batch.fail(error)
                if batch.idle:
                    del self.batches[key]

    def _take(self, block: bool) -> None:
        """Everything in the inbox: requests join their weights' batch, calls run here."""
        try:
            item = self.inbox.get(block=block)
        except queue.Empty:
            return
        while item is not None:
            if isinstance(item, Job):
                self._admit(item)
            else:
                self._execute(*item)
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                return

    def _admit(self, job: Job) -> None:
        if job.cancel.is_set():
            return
        key = job.weights.key
        if key not in self.batches:
            infer = self.settings.infer
            self.batches[key] = Batch(job.weights, infer.batch_size,
                                      self.settings.model.prefill_step_size, infer.prefix_cache)
        try:
            self.batches[key].add(job)
        except Exception as error:
            log.exception("could not start a generation")
            job.emit(error)

    @staticmethod
    def _execute(function: Callable[..., Any], args: tuple[Any, ...], future: Future[Any]) -> None:
        try:
            future.set_result(function(*args))
        except BaseException as error:  # noqa: BLE001 - handed to the caller
            future.set_exception(error)
