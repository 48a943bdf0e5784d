"""Trainer debug API: adapter versions and their metrics, rollback, training attempts, the dataset.

Training itself runs in the `train` RQ worker (or `mde finetune`); this process never imports MLX.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query
from fastapi import Path as FastAPIPath

from services.trainer import checkpoint, publish
from services.trainer.attempts import AttemptLog
from services.trainer.dataset import current_dataset
from shared.errors import NotFound
from shared.pointer import read_pointer
from shared.names import NAME_PATTERN
from shared.service import TokenDep, create_service_app, redis_check
from shared.settings import Settings, get_settings

VersionPath = Annotated[str, FastAPIPath(pattern=NAME_PATTERN)]


def create_app() -> FastAPI:
    settings = get_settings()
    app = create_service_app("trainer", {"redis": redis_check(settings)})
    _adapter_routes(app, settings)
    _training_routes(app, settings)
    return app


def _adapter_routes(app: FastAPI, settings: Settings) -> None:
    adapters = Path(settings.finetune.out_dir)

    @app.get("/adapters")
    async def list_adapters() -> dict[str, Any]:
        """Kept versions (published and rejected), newest first, and the one `current` names."""
        return {"current": read_pointer(adapters), "items": publish.list_versions(adapters)}

    @app.get("/adapters/{version}")
    async def adapter_metrics(version: VersionPath) -> dict[str, Any]:
        """The full metrics.json of one version (published or rejected)."""
        folder = publish.kept_version(adapters, version)
        if folder is not None:
            return publish.read_metrics(folder)
        raise NotFound(f"no adapter version {version!r}")

    @app.post("/adapters/{version}/use", dependencies=[TokenDep(settings)])
    async def use_adapter(version: VersionPath) -> dict[str, Any]:
        """Switch `current` to a kept version (rollback), then ask generation to reload."""
        publish.use_version(adapters, version)
        reloaded = await asyncio.to_thread(publish.reload_generation, settings)
        return {"current": version, "reloaded": reloaded}


def _training_routes(app: FastAPI, settings: Settings) -> None:
    adapters = Path(settings.finetune.out_dir)

    @app.get("/attempts")
    async def attempts(limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        """Every training attempt with its dataset hash and outcome, newest first."""
        items = await asyncio.to_thread(AttemptLog(settings).all)
        return {"total": len(items), "items": list(reversed(items))[:limit]}

    @app.get("/dataset")
    async def dataset() -> dict[str, Any]:
        """The latest built dataset: hash, record counts and pages per split."""
        info = current_dataset(settings)
        if info is None:
            raise NotFound("no dataset built yet: run `mde prepare-dataset`")
        return info.to_dict()

    @app.get("/runs")
    async def runs() -> dict[str, Any]:
        """Interrupted or running trainings and the step their newest checkpoint holds."""
        root = adapters / ".runs"
        items = []
        for run in sorted(root.iterdir()) if root.is_dir() else []:
            found = checkpoint.latest(run / "checkpoints")
            items.append({"run_key": run.name, "checkpoint_step": found[0] if found else None})
        return {"items": items}
