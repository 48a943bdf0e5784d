"""The model owner: every model call (loading, prefill, decoding) runs on one engine thread.

The thread takes requests from an inbox in arrival order and steps the backend (MLX or llama.cpp,
chosen by `model.engine`); the async side reads events from a queue. A client that goes away sets a
cancel flag that the thread honours at its next step. A reload loads the new weights on the thread,
then swaps them in: requests already running finish on the weights they started with.
"""

from __future__ import annotations

import asyncio
import logging
import platform
import queue
import sys
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from typing import Any, Protocol

from services.generation.batching import Finished, Job, Piece, Sampling
from services.generation.weights import LoadedWeights, Published, WeightSet, published
from shared.errors import Busy, NotReady
from shared.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["Backend", "Engine", "Finished", "Piece", "Sampling", "choose_engine"]


class Backend(Protocol):
    """What an engine does on the engine thread; services.generation.{mlx,llama}_engine have one."""

    name: str

    def prepare(self) -> None: ...
    def load_base(self) -> LoadedWeights: ...
    def load_published(self, found: Published) -> LoadedWeights: ...
    def admit(self, job: Job) -> None: ...
    def step(self) -> None: ...
    def rows(self) -> int: ...
    def describe(self) -> dict[str, Any]: ...


def choose_engine(configured: str, system: str | None = None, machine: str | None = None) -> str:
    """`auto` is MLX on Apple Silicon (Metal) and llama.cpp on every other machine."""
    if configured != "auto":
        return configured
    system, machine = system or sys.platform, machine or platform.machine()
    return "mlx" if system == "darwin" and machine == "arm64" else "llama_cpp"


def step_groups(groups: dict[Any, Any]) -> None:
    """One step of each group of requests (one per loaded weights): a group that fails hands the
    error to its requests, an empty one is dropped."""
    for key, group in list(groups.items()):
        try:
            group.step()
        except Exception as error:
            log.exception("generation failed")
            group.fail(error)
        if not len(group):
            del groups[key]


def make_backend(settings: Settings) -> Backend:
    if choose_engine(settings.model.engine) == "mlx":
        from services.generation.mlx_engine import MlxBackend

        return MlxBackend(settings)
    from services.generation.llama_engine import LlamaBackend

    return LlamaBackend(settings)


class Engine:
    def __init__(self, settings: Settings, backend: Backend | None = None) -> None:
        self.settings = settings
        self.backend = backend or make_backend(settings)
        self.weights: WeightSet | None = None
        self.pending = 0
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="engine", daemon=True)
        self.reload_lock = asyncio.Lock()

    # --- async side ---

    async def start(self) -> None:
        """Start the engine thread and load the base weights, then whatever is published."""
        self.thread.start()
        await self.call(self.backend.prepare)
        self.weights = WeightSet(await self.call(self.backend.load_base))
        await self.reload()

    async def stop(self) -> None:
        self.stopping = True
        self.inbox.put(None)
        await asyncio.to_thread(self.thread.join, 30)

    async def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run model work on the engine thread and wait for its result."""
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
                tuned = await self.call(self.backend.load_published, found)
                changed = True
            self.weights = WeightSet(current.base, tuned)
            log.info("serving %s for ft and rag_ft", tuned.info.path if tuned else "the base weights")
            return changed

    def ready(self) -> WeightSet:
        if self.weights is None:
            raise NotReady("the generation model is still loading", retry_after=5)
        return self.weights

    def describe(self) -> dict[str, Any]:
        """GET /model and doctor: which engine, its version and threads."""
        return self.backend.describe()

    @property
    def busy(self) -> bool:
        """Requests are queued or decoding (tests wait for this to clear after a disconnect)."""
        return self.pending > 0 or self.backend.rows() > 0

    def check_capacity(self) -> None:
        """503 + Retry-After before a response starts when the bounded queue is full."""
        if self.pending >= self.settings.infer.queue_size:
            raise Busy(f"{self.pending} generations in progress or queued, the limit is "
                       f"{self.settings.infer.queue_size}", retry_after=5)

    async def stream(self, weights: LoadedWeights, prompt: list[int], sampling: Sampling,
                     prefix: tuple[int, ...] = (), shared: tuple[int, ...] = (),
                     sibling: bool = False) -> AsyncIterator[Piece | Finished]:
        """Pieces of text as tokens are decoded, then Finished; leaving early stops the work.
        `prefix`: the system prompt's tokens, `shared`: a longer prefix other requests share (both
        are computed once and cached); a `sibling` (another lead of an admitted answer) is not
        turned away by the queue's bound, its answer was admitted."""
        if not sibling:
            self.check_capacity()
        self.pending += 1
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[Any] = asyncio.Queue()

        def emit(item: Any) -> None:
            loop.call_soon_threadsafe(events.put_nowait, item)

        job = Job(weights, prompt, sampling, emit, prefix, shared)
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

    # --- the engine thread ---

    def _run(self) -> None:
        while not self.stopping:
            self._take(block=not self.backend.rows())
            try:
                self.backend.step()
            except Exception:  # a backend hands errors to its jobs; this keeps the thread alive
                log.exception("engine step failed")

    def _take(self, block: bool) -> None:
        """Everything in the inbox: requests go to the backend, calls run here."""
        try:
            item = self.inbox.get(block=block)
        except queue.Empty:
            return
        while item is not None:
            if isinstance(item, Job):
                if not item.cancel.is_set():
                    self.backend.admit(item)
            else:
                self._execute(*item)
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                return

    @staticmethod
    def _execute(function: Callable[..., Any], args: tuple[Any, ...], future: Future[Any]) -> None:
        try:
            future.set_result(function(*args))
        except BaseException as error:  # noqa: BLE001 - handed to the caller
            future.set_exception(error)
