"""Perplexity of a model on held-out docs pages and on a general-English sample (forgetting).

Texts are joined with the end-of-sequence token and cut into equal windows, so every batch is full
and the score does not depend on how the records happen to be batched.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class SampleMissing(FileNotFoundError):
    """The general-English sample files are not installed."""


@dataclass(frozen=True)
class Sample:
    name: str
    windows: list[list[int]]

    @property
    def tokens(self) -> int:
        return sum(len(w) for w in self.windows)

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.windows).encode()).hexdigest()[:16]


def package_folder(package: str) -> Path:
    """Where an installed Python package lives (found without importing it)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SampleMissing(f"general-English sample: Python package {package!r} is not installed "
                            f"(pip install {package}; it is a dependency in pyproject.toml)")
    return Path(next(iter(spec.submodule_search_locations)))


def general_texts(files: list[str], package: str) -> list[str]:
    """The general-English sample: each file (relative to the package's folder) as one text."""
    folder = package_folder(package) if package else Path()
    paths = [folder / name for name in files]  # an absolute name stays as it is
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise SampleMissing(f"general-English sample missing: {', '.join(missing)} "
                            "(set FINETUNE__GENERAL_TEXT_FILES to files that exist)")
    return [text for path in paths
            if (text := path.read_text(encoding="utf-8", errors="replace").strip())]


def windows(texts: list[str], tokenizer: Any, window: int, max_tokens: int, name: str) -> Sample:
    """Token windows of `window` tokens covering the texts, up to max_tokens in all."""
    stream: list[int] = []
    for text in texts:
        stream += tokenizer.encode(text, add_special_tokens=False) + [tokenizer.eos_token_id]
        if len(stream) >= max_tokens:
            break
    stream = stream[:max_tokens]
    cut = [stream[i:i + window] for i in range(0, len(stream), window)]
    return Sample(name, [w for w in cut if len(w) == window] or cut[:1])


def perplexity(model: Any, sample: Sample, batch_size: int = 4,
               on_batch: Callable[[int, int], None] | None = None) -> float:
    """exp(mean next-token cross-entropy) over every window of the sample."""
    import mlx.core as mx
    from mlx import nn

    model.eval()
    total, count = 0.0, 0
    batches = [sample.windows[i:i + batch_size] for i in range(0, len(sample.windows), batch_size)]
    for number, batch in enumerate(batches, start=1):
        tokens = mx.array(batch)
        logits = model(tokens[:, :-1])
        loss = nn.losses.cross_entropy(logits.astype(mx.float32), tokens[:, 1:], reduction="sum")
        total += float(loss.item())  # type: ignore[arg-type]
        count += tokens[:, 1:].size
        if on_batch:
            on_batch(number, len(batches))
    mean = total / max(count, 1)
    return math.exp(mean) if math.isfinite(mean) and mean < 700 else math.inf


class EvalCache:
    """Scores of fixed weights (the base model) on a fixed sample, kept across runs in one file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, float]:
        try:
            return json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def get(self, key: str) -> float | None:
        return self._read().get(key)

    def put(self, key: str, value: float) -> None:
        data = self._read()
        data[key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, self.path)


def cached_perplexity(cache: EvalCache, weights_id: str, model: Any, sample: Sample,
                      batch_size: int) -> float:
    """Perplexity of fixed weights, computed once per (weights, sample)."""
    key = f"{weights_id}|{sample.name}|{sample.fingerprint}"
    value = cache.get(key)
    if value is None:
        value = perplexity(model, sample, batch_size)
        cache.put(key, value)
    else:
        log.info("reusing %s perplexity of %s: %.3f", sample.name, weights_id, value)
    return value
