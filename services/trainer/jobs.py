"""RQ jobs of the `train` queue (a SimpleWorker: the model stays in the worker process).

Each is a thin entry point over the domain modules and returns a JSON-able dict; the gateway chains
them: prepare_dataset -> finetune -> merge_adapter.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from shared.progress import job_progress
from shared.settings import get_settings

log = logging.getLogger(__name__)


def prepare_dataset(chunks_file: str | None = None) -> dict[str, Any]:
    """Build the fine-tuning dataset from the indexed chunks; returns its hash and counts."""
    from services.trainer.corpus import load_chunks
    from services.trainer.dataset import build_dataset

    settings = get_settings()
    progress = job_progress()
    progress("dataset", 0, 1, "reading chunks")
    chunks = load_chunks(settings, Path(chunks_file) if chunks_file else None)
    info = build_dataset(chunks, settings)
    progress("dataset", 1, 1, f"{sum(sum(c.values()) for c in info.counts.values())} records")
    return {"status": "built", "chunks": len(chunks), **info.to_dict()}


def finetune(dataset_hash: str | None = None, force: bool = False) -> dict[str, Any]:
    """Train, evaluate and publish or reject an adapter; skipped when the dataset is unchanged."""
    from services.trainer import training
    from services.trainer.dataset import dataset_root, load_info

    settings = get_settings()
    info = load_info(dataset_root(settings) / dataset_hash[:16]) if dataset_hash else None
    result = training.finetune(settings, job_progress(), dataset=info, force=force)
    if result["status"] == "published" and settings.merge.enabled:
        result["merge"] = merge_adapter(result["version"])
    return result


def merge_adapter(version: str | None = None) -> dict[str, Any]:
    """Fuse the published (or the given) adapter version into standalone weights."""
    from services.trainer.merge import merge_adapter as merge
    from services.trainer.publish import reload_generation

    settings = get_settings()
    result = merge(settings, version, job_progress())
    result["reloaded"] = reload_generation(settings)
    return result
