"""Which weights serve which mode, in the original loading order: the published LoRA adapter (the
version `finetune.out_dir/current` names) → merged weights (`merge.out_dir/current`) → base model.

The base weights always stay loaded for `rag`; the tuned weights (adapter or merge) serve `ft` and
`rag_ft` when there are any, else those modes fall back to the base weights.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.errors import NotReady
from shared.mlx_runtime import use_fast_blas
from shared.pointer import current_version_dir
from shared.schemas import Mode, WeightsInfo
from shared.settings import Settings

log = logging.getLogger(__name__)

MODEL_HINT = "run `make setup` (it converts the default model into MODELS_DIR)"
ADAPTER_FILES = ("adapter_config.json", "adapters.safetensors")


@dataclass
class LoadedWeights:
    model: Any
    tokenizer: Any
    info: WeightsInfo
    prefix: Any = None  # the system prompt's KV cache (engine.PrefixCache), made on first use

    @property
    def key(self) -> tuple[str, str | None, float]:
        return (self.info.kind, self.info.version, self.info.loaded_at)


@dataclass(frozen=True)
class Published:
    kind: str
    version: str
    path: Path


def published(settings: Settings) -> Published | None:
    """The tuned weights to serve: the current adapter, else the current merge, else None."""
    adapter = current_version_dir(settings.finetune.out_dir)
    if adapter is not None and all((adapter / name).is_file() for name in ADAPTER_FILES):
        return Published("adapter", adapter.name, adapter)
    if adapter is not None:
        log.warning("published adapter %s lacks %s: not served", adapter, " or ".join(ADAPTER_FILES))
    merged = current_version_dir(settings.merge.out_dir)
    if merged is not None and (merged / "config.json").is_file():
        return Published("merged", merged.name, merged)
    return None


def read_metrics(folder: Path) -> dict[str, float]:
    """The numeric entries of a version's metrics.json (nothing when there is none)."""
    try:
        data = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {key: float(value) for key, value in data.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)}


def load_weights(path: str, kind: str = "base", version: str | None = None,
                 adapter_path: str | None = None, fast_kernels: bool = True) -> LoadedWeights:
    """Load an mlx-lm model (a folder or a hub id) and, optionally, a LoRA adapter."""
    use_fast_blas()
    from mlx_lm import load

    from services.generation.kernels import accelerate

    if Path(path).is_absolute() and not Path(path).exists():
        raise NotReady(f"model folder {path} does not exist: {MODEL_HINT}")
    model, tokenizer = load(path, adapter_path=adapter_path)[:2]
    if fast_kernels:
        accelerate(model)
    source = Path(adapter_path or path)
    metrics = read_metrics(source) if kind != "base" else {}
    info = WeightsInfo(kind=kind, version=version, path=str(source), loaded_at=time.time(),  # type: ignore[arg-type]
                       metrics=metrics)
    log.info("loaded %s weights from %s", kind, info.path)
    return LoadedWeights(model, tokenizer, info)


def load_published(settings: Settings, found: Published) -> LoadedWeights:
    """Load tuned weights: the base model with the adapter, or the merged model folder."""
    fast = settings.model.fast_kernels
    if found.kind == "adapter":
        return load_weights(settings.model.base_id, "adapter", found.version, str(found.path), fast)
    return load_weights(str(found.path), "merged", found.version, fast_kernels=fast)


@dataclass
class WeightSet:
    """The weights being served: base always, tuned when something is published."""

    base: LoadedWeights
    tuned: LoadedWeights | None = None
    modes: dict[str, LoadedWeights] = field(init=False)

    def __post_init__(self) -> None:
        tuned = self.tuned or self.base
        self.modes = {"rag": self.base, "ft": tuned, "rag_ft": tuned}

    def for_mode(self, mode: Mode) -> LoadedWeights:
        return self.modes[mode]

    def default_mode(self, configured: Mode) -> Mode:
        """A configured `rag` default becomes `rag_ft` once tuned weights are published."""
        return "rag_ft" if configured == "rag" and self.tuned is not None else configured

    def describe(self) -> dict[str, Any]:
        """GET /model: which weights serve each mode."""
        return {mode: weights.info.model_dump() for mode, weights in self.modes.items()}
