"""LoRA training through mlx-lm's Python API, in-process, with checkpoints and resume.

mlx-lm's `train` runs the loop; this module gives it the LoRA model, a warm-up + cosine optimizer,
length-bucketed batches that can skip what a resumed run already trained on, and a callback that
reports progress and writes checkpoints (weights + optimizer state + step).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from services.trainer import checkpoint
from shared.mlx_runtime import use_fast_blas
from shared.progress import Progress
from shared.settings import FinetuneSettings

log = logging.getLogger(__name__)


MIN_TARGET_TOKENS = 4


class Diverged(RuntimeError):
    """The training loss stopped being a finite number."""


@dataclass
class TrainResult:
    steps: int
    resumed_from: int
    seconds: float
    trained_tokens: int
    tokens_per_sec: float
    losses: list[dict[str, float]] = field(default_factory=list)  # {"iteration", "train_loss"}
    val_losses: list[dict[str, float]] = field(default_factory=list)
    diverged: str | None = None


def load_base(base_id: str, blas: str = "auto") -> tuple[Any, Any]:
    """The base model and tokenizer, with OpenBLAS in place before mlx is imported."""
    use_fast_blas(blas)
    from mlx_lm import load

    return load(base_id)  # type: ignore[return-value]


def lora_parameters(ft: FinetuneSettings) -> dict[str, float]:
    # mlx-lm multiplies the LoRA product by `scale`; alpha / rank is the usual convention
    return {"rank": ft.lora_rank, "scale": ft.lora_alpha / ft.lora_rank, "dropout": ft.lora_dropout}


def adapter_config(ft: FinetuneSettings, base_id: str) -> dict[str, Any]:
    """The adapter_config.json mlx-lm's `load(..., adapter_path=)` and fuse read."""
    return {"fine_tune_type": "lora", "num_layers": ft.num_layers, "model": base_id,
            "lora_parameters": lora_parameters(ft), "iters": ft.iters,
            "learning_rate": ft.learning_rate, "batch_size": ft.batch_size,
            "max_seq_length": ft.max_seq_length, "seed": ft.seed}


def attach_lora(model: Any, ft: FinetuneSettings) -> None:
    """Freeze the base and turn the last `num_layers` blocks' linear layers into LoRA layers."""
    from mlx_lm.tuner.utils import linear_to_lora_layers

    layers = len(model.layers) if ft.num_layers == -1 else min(ft.num_layers, len(model.layers))
    model.freeze()
    linear_to_lora_layers(model, layers, lora_parameters(ft))


def make_optimizer(ft: FinetuneSettings) -> Any:
    """Adam with a linear warm-up, then cosine decay to 10 % of the learning rate."""
    import mlx.optimizers as optim

    decay_steps = max(ft.iters - ft.warmup_iters, 1)
    schedule = optim.cosine_decay(ft.learning_rate, decay_steps, ft.learning_rate * 0.1)
    if ft.warmup_iters:
        warmup = optim.linear_schedule(ft.learning_rate * 0.01, ft.learning_rate, ft.warmup_iters)
        schedule = optim.join_schedules([warmup, schedule], [ft.warmup_iters])
    return optim.Adam(learning_rate=schedule)


def tokenize(records: list[dict[str, Any]], tokenizer: Any, mask_prompt: bool,
             max_seq_length: int) -> list[tuple]:
    """(tokens, prompt_length) per record, through mlx-lm's own dataset classes. Records whose
    answer starts past max_seq_length are dropped: a batch of them has no target token (loss 0/0)."""
    import types

    from mlx_lm.tuner.datasets import create_dataset

    if not records:
        return []
    data = create_dataset(records, tokenizer, types.SimpleNamespace(mask_prompt=mask_prompt))
    items = [data.process(data[i]) for i in range(len(data))]
    kept = [(tokens, offset) for tokens, offset in items
            if min(len(tokens), max_seq_length) - offset >= MIN_TARGET_TOKENS]
    if len(kept) < len(items):
        log.info("dropped %d of %d records with no answer within %d tokens", len(items) - len(kept),
                 len(items), max_seq_length)
    return kept


class Batches:
    """mlx-lm's `iterate_batches` contract, sorted by real token length, seeded, and able to skip
    the batches a resumed run already trained on (so it sees the same data as an unbroken one)."""

    def __init__(self, seed: int, skip: int = 0) -> None:
        self.seed, self.skip = seed, skip

    def __call__(self, dataset: list[tuple], batch_size: int, max_seq_length: int,
                 loop: bool = False, seed: int | None = None, comm_group: Any = None) -> Any:
        import numpy as np

        order = sorted(range(len(dataset)), key=lambda i: len(dataset[i][0]))
        if len(order) < batch_size:
            raise ValueError(f"need at least batch_size={batch_size} records, have {len(order)}")
        groups = [order[i:i + batch_size] for i in range(0, len(order) - batch_size + 1, batch_size)]
        rng = np.random.default_rng(self.seed)
        produced = 0
        while True:
            for g in rng.permutation(len(groups)):
                produced += 1
                if loop and produced <= self.skip:
                    continue
                yield self._pad([dataset[j] for j in groups[g]], max_seq_length)
            if not loop:
                return

    @staticmethod
    def _pad(items: list[tuple], max_seq_length: int) -> tuple[Any, Any]:
        import mlx.core as mx
        import numpy as np

        longest = max(len(tokens) for tokens, _ in items)
        width = min(1 + 32 * ((longest + 31) // 32), max_seq_length)
        array = np.zeros((len(items), width), np.int32)
        lengths = []
        for row, (tokens, offset) in enumerate(items):
            kept = tokens[:width]
            array[row, :len(kept)] = kept
            lengths.append((offset, len(kept)))
        return mx.array(array), mx.array(lengths)


class QuietUI:
    """Stands in for mlx-lm's console TrainUI: progress goes through our callback instead, so the
    CLI bar and the worker log are not overprinted."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        if name == "val_task":
            from contextlib import nullcontext

            return lambda total: nullcontext(lambda: None)
        return lambda *args, **kwargs: None


class Reporter:
    """mlx-lm TrainingCallback: progress with ETA, loss history, divergence check, checkpoints."""

    def __init__(self, total: int, offset: int, every: int, accumulation: int,
                 progress: Progress, save: Any) -> None:
        self.total, self.offset, self.every, self.accumulation = total, offset, every, accumulation
        self.progress, self.save = progress, save
        self.last_saved = offset
        self.losses: list[dict[str, float]] = []
        self.val_losses: list[dict[str, float]] = []
        self.tokens, self.train_seconds = 0, 0.0

    @property
    def tokens_per_sec(self) -> float:
        """Trained tokens over pure training time (validation excluded), as mlx-lm measures it."""
        return self.tokens / self.train_seconds if self.train_seconds else 0.0

    def on_train_loss_report(self, info: dict[str, Any]) -> None:
        step = self.offset + int(info["iteration"])
        loss = float(info["train_loss"])
        self.losses.append({"iteration": step, "train_loss": loss})
        new_tokens = int(info["trained_tokens"]) - self.tokens
        self.tokens += new_tokens
        self.train_seconds += new_tokens / max(float(info["tokens_per_second"]), 1e-9)
        eta = (self.total - step) / max(float(info["iterations_per_second"]), 1e-9)
        self.progress("train", step, self.total, f"loss {loss:.3f}", train_loss=round(loss, 4),
                      tokens_per_sec=round(float(info["tokens_per_second"]), 1), eta_sec=round(eta),
                      learning_rate=float(info["learning_rate"]))
        if not math.isfinite(loss):
            raise Diverged(f"training loss is {loss} at step {step}")
        if step - self.last_saved >= self.every and step % self.accumulation == 0 and step < self.total:
            self.save(step)
            self.last_saved = step

    def on_val_loss_report(self, info: dict[str, Any]) -> None:
        step = self.offset + int(info["iteration"])
        self.val_losses.append({"iteration": step, "val_loss": float(info["val_loss"])})
        self.progress("train", step, self.total, f"val loss {info['val_loss']:.3f}",
                      val_loss=round(float(info["val_loss"]), 4))


def train_adapter(model: Any, train_set: list[tuple], valid_set: list[tuple], ft: FinetuneSettings,
                  run_dir: Path, progress: Progress) -> TrainResult:
    """Train LoRA (already attached) for ft.iters steps, resuming from run_dir's newest checkpoint."""
    import mlx.core as mx
    from mlx_lm.tuner import trainer

    mx.random.seed(ft.seed)
    optimizer = make_optimizer(ft)
    found = checkpoint.latest(run_dir / "checkpoints")
    start = checkpoint.restore(found[1], model, optimizer) if found else 0
    remaining = ft.iters - start
    reporter = Reporter(ft.iters, start, ft.checkpoint_every, ft.grad_accumulation, progress,
                        lambda step: checkpoint.save(run_dir / "checkpoints", step, model, optimizer,
                                                     {"iters": ft.iters, "seed": ft.seed}))
    args = trainer.TrainingArgs(
        batch_size=ft.batch_size, iters=remaining, val_batches=ft.val_batches,
        steps_per_report=min(ft.steps_per_report, remaining), steps_per_eval=ft.steps_per_eval,
        steps_per_save=ft.iters + 1, max_seq_length=ft.max_seq_length,
        adapter_file=str(run_dir / "adapters.safetensors"),
        grad_accumulation_steps=ft.grad_accumulation)
    trainer.TrainUI = QuietUI  # type: ignore[misc,assignment]  # see QuietUI
    started = time.perf_counter()
    diverged = None
    if remaining > 0:
        try:
            trainer.train(model, optimizer, train_set, valid_set or None, args=args,
                          iterate_batches=Batches(ft.seed, skip=start), training_callback=reporter)  # type: ignore[arg-type]
        except Diverged as error:
            diverged = str(error)
            log.warning("%s: stopping early", error)
    seconds = time.perf_counter() - started
    return TrainResult(ft.iters, start, seconds, reporter.tokens, reporter.tokens_per_sec,
                       reporter.losses, reporter.val_losses, diverged)


def save_adapter(model: Any, folder: Path, config: dict[str, Any]) -> None:
    """An mlx-lm adapter folder: adapter_config.json + adapters.safetensors."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    folder.mkdir(parents=True, exist_ok=True)
    mx.save_safetensors(str(folder / "adapters.safetensors"),
                        dict(tree_flatten(model.trainable_parameters())))
    (folder / "adapter_config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
