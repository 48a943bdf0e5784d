"""Training checkpoints: adapter weights, optimizer state, RNG and step, so a killed run resumes.

mlx-lm saves only adapter weights; a resumed run also needs Adam's moments and the schedule's step.
MLX's RNG state cannot be set back, so a resumed run reseeds dropout from (seed, step) instead.
Each checkpoint is a folder `step-0000050` made complete in a temporary folder and renamed into place,
so a kill mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

STEP_DIR = re.compile(r"^step-(\d{7})$")


def latest(folder: Path) -> tuple[int, Path] | None:
    """The newest complete checkpoint in folder: (step, path)."""
    if not folder.is_dir():
        return None
    found = [(int(m.group(1)), path) for path in folder.iterdir()
             if (m := STEP_DIR.match(path.name)) and (path / "state.json").exists()]
    return max(found) if found else None


def save(folder: Path, step: int, model: Any, optimizer: Any, extra: dict[str, Any]) -> Path:
    """Write a checkpoint for `step`, then drop the older ones."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step-{step:07d}"
    staging = folder / f".tmp-{step:07d}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    mx.save_safetensors(str(staging / "adapters.safetensors"),
                        dict(tree_flatten(model.trainable_parameters())))
    mx.save_safetensors(str(staging / "optimizer.safetensors"), dict(tree_flatten(optimizer.state)))
    (staging / "state.json").write_text(json.dumps({"step": step, **extra}))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(staging, final)
    for path in folder.iterdir():
        if path != final and (STEP_DIR.match(path.name) or path.name.startswith(".tmp-")):
            shutil.rmtree(path, ignore_errors=True)
    log.info("checkpoint at step %d in %s", step, final)
    return final


def _assign(tree: Any, dotted: str, value: Any) -> None:
    """Set tree[a][b][3][c] = value for the key 'a.b.3.c' (lists indexed by number)."""
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(leaf)] = value
    else:
        node[leaf] = value


def restore(path: Path, model: Any, optimizer: Any) -> int:
    """Load a checkpoint into a LoRA model and its optimizer; returns the step it was taken at."""
    import mlx.core as mx

    model.load_weights(str(path / "adapters.safetensors"), strict=False)
    optimizer.init(model.trainable_parameters())
    saved: dict[str, Any] = mx.load(str(path / "optimizer.safetensors"))  # type: ignore[assignment]
    for key, value in saved.items():
        _assign(optimizer.state, key, value)
    mx.eval(model.parameters(), optimizer.state)
    state = json.loads((path / "state.json").read_text())
    step = int(state["step"])
    mx.random.seed(int(state.get("seed", 0)) * 1_000_003 + step)
    log.info("resumed from checkpoint %s (step %d)", path, step)
    return step


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
