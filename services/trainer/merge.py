"""Fuse the published adapter into standalone weights (mlx-lm fuse), versioned like adapters.

`<merge.out_dir>/<version>/` is a normal mlx-lm model folder named after the adapter version it
fused; `current` names the newest. Older merges beyond `merge.keep_versions` are pruned.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from services.trainer import publish
from shared.errors import NotFound
from shared.mlx_runtime import use_fast_blas
from shared.names import child_path
from shared.pointer import read_pointer, write_pointer
from shared.progress import Progress, null_progress
from shared.settings import Settings

log = logging.getLogger(__name__)


def fuse(base_id: str, adapter: Path, destination: Path) -> None:
    """mlx-lm's fuse: fold every LoRA layer into its linear layer and save a model folder."""
    use_fast_blas()
    from mlx.utils import tree_unflatten
    from mlx_lm.utils import load, save

    model, tokenizer, config = load(base_id, adapter_path=str(adapter),  # type: ignore[misc]
                                    return_config=True)
    fused = [(name, module.fuse()) for name, module in model.named_modules() if hasattr(module, "fuse")]
    if fused:
        model.update_modules(tree_unflatten(fused))
    save(destination, base_id, model, tokenizer, config, donate_model=False)


def merge_adapter(settings: Settings, version: str | None = None,
                  progress: Progress = null_progress) -> dict[str, Any]:
    """Fuse an adapter version (default: the published one) into `<merge.out_dir>/<version>`."""
    adapters = Path(settings.finetune.out_dir)
    version = version or read_pointer(adapters)
    if not version or not publish.is_adapter(child_path(adapters, version, "version")):
        raise NotFound("no published adapter to merge: run `mde finetune` first")
    out_dir = Path(settings.merge.out_dir)
    final = child_path(out_dir, version, "version")
    if not (final / "config.json").exists():
        progress("merge", 0, 1, f"fusing {version}")
        staging = out_dir / f".staging-{version}-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        fuse(settings.model.base_id, adapters / version, staging)
        if (adapters / version / "metrics.json").exists():
            shutil.copy(adapters / version / "metrics.json", staging / "adapter_metrics.json")
        os.replace(staging, final)
    write_pointer(out_dir, version)
    removed = publish.prune(out_dir, settings.merge.keep_versions)
    progress("merge", 1, 1, f"merged {version}")
    log.info("merged adapter %s into %s", version, final)
    return {"status": "merged", "version": version, "path": str(final), "pruned": removed}
