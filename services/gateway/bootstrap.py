"""Start-up work of the gateway: bootstrap an empty stack once, then run the monitor loop."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from services.gateway import pipeline
from services.gateway.monitor import Monitor
from shared.errors import TooManyRequests
from shared.settings import Settings

log = logging.getLogger("gateway.update")
FINETUNE_REQUESTED_KEY = "mde:bootstrap:finetune_requested"


async def _get_json(url: str) -> Any:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(url)
        response.raise_for_status()
        return response.json()


async def bootstrap(monitor: Monitor, settings: Settings) -> bool:
    """Enqueue a full update when the index is empty; a fine-tune when no adapter is published.

    Returns False while the services it asks are not answering yet (try again later)."""
    try:
        collection = await _get_json(f"{settings.retrieval_url}/collection")
        model = await _get_json(f"{settings.generation_url}/model")
    except (httpx.HTTPError, ValueError) as error:
        log.debug("bootstrap waits for retrieval and generation: %s", error)
        return False
    redis = monitor.redis
    try:
        if not collection.get("points"):
            record = await asyncio.to_thread(pipeline.start_update, redis, settings, None, False,
                                             True, "bootstrap")
            log.info("[gateway.update] bootstrap: index empty, update %s enqueued", record.id)
        elif model.get("ft", {}).get("kind") == "base" and redis.set(FINETUNE_REQUESTED_KEY, 1, nx=True):
            # once per stack; the trainer itself never retrains a dataset hash it already tried
            record = await asyncio.to_thread(pipeline.start_update, redis, settings,
                                             ["prepare_dataset", "finetune"], False, True, "bootstrap")
            log.info("[gateway.update] bootstrap: no adapter, fine-tune %s enqueued", record.id)
    except TooManyRequests as busy:
        log.info("bootstrap skipped: %s", busy.detail)
    return True


async def run_monitor(monitor: Monitor, settings: Settings) -> None:
    """Bootstrap (when enabled), then settle updates and run the scheduler every few seconds."""
    pending_bootstrap = settings.update.bootstrap
    while True:
        try:
            if pending_bootstrap:
                pending_bootstrap = not await bootstrap(monitor, settings)
            await asyncio.to_thread(monitor.tick)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - Redis restarting: keep the loop alive
            log.warning("update monitor: %s: %s", type(error).__name__, error)
        await asyncio.sleep(settings.update.monitor_interval_sec)
