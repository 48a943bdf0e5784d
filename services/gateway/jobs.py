"""The job every update stage runs in: call the stage function, then enqueue the next stage."""

from __future__ import annotations

import importlib
import inspect
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from services.gateway import pipeline, updates
from shared.queues import redis_connection
from shared.settings import Settings, get_settings

log = logging.getLogger("gateway.update")


class StageNotFound(RuntimeError):
    """A stage's job function cannot be imported: a typo is an error, never a skipped stage."""


def stage_function(settings: Settings, stage: str) -> Callable[..., Any]:
    path = settings.update.stage_functions[stage]
    module_name, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name)  # type: ignore[no-any-return]
    except (ImportError, AttributeError, ValueError) as error:
        raise StageNotFound(f"update.stage_functions.{stage} = {path!r}: {error}") from error


@contextmanager
def lock_heartbeat(settings: Settings, update_id: str) -> Iterator[None]:
    """Keep the update lock alive while a long stage runs, even with the gateway down."""
    redis = redis_connection(settings)
    stop = threading.Event()
    ttl = settings.update.lock_ttl_sec

    def beat() -> None:
        while not stop.wait(ttl / 3):
            try:
                updates.renew_lock(redis, update_id, ttl)
            except Exception:  # noqa: BLE001 - Redis restarting: the next beat tries again
                log.warning("update %s: could not renew the lock", update_id)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()


def run_stage(update_id: str, stage: str) -> dict[str, Any]:
    """Run one stage of an update and chain the next; exceptions propagate so RQ retries/fails it."""
    settings = get_settings()
    redis = redis_connection(settings)
    record = updates.load(redis, update_id)
    function = stage_function(settings, stage)
    log.info("[gateway.update] %s stage %s started", update_id, stage)
    kwargs = {"full": record.full} if "full" in inspect.signature(function).parameters else {}
    with lock_heartbeat(settings, update_id):
        result = function(**kwargs)
    result = result if isinstance(result, dict) else {"value": result}
    following = record.next_stage(stage)
    if following:
        pipeline.enqueue_stage(redis, settings, record, following, depends_on=result.get("final_job_id"))
    log.info("[gateway.update] %s stage %s done: %s", update_id, stage,
             {k: v for k, v in result.items() if not isinstance(v, (dict, list))})
    return result
