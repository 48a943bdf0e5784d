"""What `mde clean` removes: generated data under DATA_DIR, never the converted base model."""

from __future__ import annotations

import shutil
from pathlib import Path

from shared.settings import Settings

GENERATED = ("raw", "processed", "qdrant", "datasets", "models", "pages.sqlite", "pages.sqlite-wal",
             "pages.sqlite-shm", "urls.json",
             "chunks.jsonl", "locks")


def generated_paths(settings: Settings) -> list[Path]:
    """Existing generated files and folders (the Redis data folder is kept: the stack owns it)."""
    paths = [settings.data_dir / name for name in GENERATED]
    for extra in (settings.finetune.out_dir, settings.merge.out_dir):
        path = Path(extra)
        if not any(path.is_relative_to(p) for p in paths):
            paths.append(path)
    return [path for path in paths if path.exists()]


def remove(paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
