"""The MLX model owner: loads weights once and runs every generation on one dedicated thread.

MLX work must not interleave across threads, so all of it goes through a one-thread executor; the
async side reads tokens from a queue, and a client that goes away sets a cancel flag that stops the
decode loop at the next token.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.errors import Busy, NotReady
from shared.mlx_runtime import use_fast_blas
from shared.schemas import WeightsInfo
from shared.settings import Settings

log = logging.getLogger(__name__)

MODEL_HINT = "run `make setup` (it converts the default model into MODELS_DIR)"


@dataclass
class LoadedWeights:
    model: Any
    tokenizer: Any
    info: WeightsInfo


@dataclass
class Sampling:
    max_tokens: int
    temperature: float
    top_p: float


def load_weights(path: str, kind: str = "base", version: str | None = None,
                 adapter_path: str | None = None) -> LoadedWeights:
    """Load an mlx-lm model (a folder or a hub id) and, optionally, a LoRA adapter."""
    use_fast_blas()
    from mlx_lm import load

    if Path(path).is_absolute() and not Path(path).exists():
        raise NotReady(f"model folder {path} does not exist: {MODEL_HINT}")
    model, tokenizer = load(path, adapter_path=adapter_path)
    info = WeightsInfo(kind=kind, version=version, path=adapter_path or path, loaded_at=time.time())  # type: ignore[arg-type]
    log.info("loaded %s weights from %s", kind, info.path)
    return LoadedWeights(model, tokenizer, info)


class Engine:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlx")
        self.base: LoadedWeights | None = None
        self.pending = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.base = await loop.run_in_executor(self.executor, load_weights, self.settings.model.base_id)

    def weights_for(self, mode: str) -> LoadedWeights:
        """Which weights serve a mode: base until an adapter or merge is published."""
        if self.base is None:
            raise NotReady("the generation model is still loading", retry_after=5)
        return self.base

    def render_prompt(self, weights: LoadedWeights, messages: list[dict[str, str]]) -> list[int]:
        return weights.tokenizer.apply_chat_template(messages, add_generation_prompt=True)

    def check_capacity(self) -> None:
        """503 + Retry-After before a response starts when the bounded queue is full."""
        if self.pending >= self.settings.infer.queue_size:
            raise Busy(f"{self.pending} generations queued, the limit is "
                       f"{self.settings.infer.queue_size}", retry_after=5)

    async def stream(self, weights: LoadedWeights, prompt: list[int],
                     sampling: Sampling) -> AsyncIterator[Any]:
        """Yield mlx-lm GenerationResponse items; stops the MLX loop when the consumer leaves."""
        self.check_capacity()
        self.pending += 1
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancel = threading.Event()

        def put(item: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            try:
                for response in self._generate(weights, prompt, sampling):
                    if cancel.is_set():
                        log.info("generation cancelled by the client")
                        break
                    put(response)
            except Exception as error:  # noqa: BLE001 - handed to the consumer
                put(error)
            finally:
                put(None)

        loop.run_in_executor(self.executor, work)
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            cancel.set()
            self.pending -= 1

    def _generate(self, weights: LoadedWeights, prompt: list[int], sampling: Sampling) -> Any:
        from mlx_lm import stream_generate
        from mlx_lm.sample_utils import make_sampler

        sampler = make_sampler(temp=sampling.temperature, top_p=sampling.top_p)
        return stream_generate(
            weights.model, weights.tokenizer, prompt, max_tokens=sampling.max_tokens,
            sampler=sampler, prefill_step_size=self.settings.model.prefill_step_size)
