"""The MLX backend: one mlx-lm BatchGenerator per loaded weights (services.generation.batching)."""

from __future__ import annotations

import logging
from typing import Any

from services.generation.batching import Batch, Job
from services.generation.engine import step_groups
from services.generation.weights import LoadedWeights, Published, load_published, load_weights
from shared.mlx_runtime import use_fast_blas
from shared.settings import Settings

log = logging.getLogger(__name__)


class MlxBackend:
    name = "mlx"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.batches: dict[tuple[Any, ...], Batch] = {}

    def prepare(self) -> None:
        """Compile the fused CPU kernels once per machine (before anything imports mlx)."""
        model = self.settings.model
        if model.native_kernels and model.fast_kernels:
            use_fast_blas()
            from services.generation.kernels import native_compiler

            native_compiler()

    def load_base(self) -> LoadedWeights:
        model = self.settings.model
        return load_weights(model.base_id, "base", None, None, model.fast_kernels)

    def load_published(self, found: Published) -> LoadedWeights:
        return load_published(self.settings, found)

    def admit(self, job: Job) -> None:
        key = job.weights.key
        if key not in self.batches:
            infer = self.settings.infer
            self.batches[key] = Batch(job.weights, infer.batch_size,
                                      self.settings.model.prefill_step_size, infer.prefix_cache,
                                      infer.prefix_cache_entries)
        try:
            self.batches[key].add(job)
        except Exception as error:
            log.exception("could not start a generation")
            job.emit(error)

    def step(self) -> None:
        step_groups(self.batches)

    def rows(self) -> int:
        return sum(len(batch.jobs) for batch in self.batches.values())

    def describe(self) -> dict[str, Any]:
        import mlx.core as mx
        from mlx_lm import __version__ as mlx_lm_version

        return {"engine": self.name, "version": f"mlx {mx.__version__}, mlx-lm {mlx_lm_version}",
                "threads": None, "device": str(mx.default_device()),
                "batch_size": self.settings.infer.batch_size}
