"""The gateway's background loop: settles running updates (state, lock, logs), runs the scheduler,
and bootstraps an empty stack. Only what is in Redis counts, so a restarted gateway picks up where
the last one stopped."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from redis import Redis

from services.gateway import pipeline, updates
from services.gateway.metrics import observe_update
from shared.errors import TooManyRequests
from shared.settings import Settings

log = logging.getLogger("gateway.update")


class Monitor:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis, self.settings = redis, settings
        self.seen: dict[tuple[str, str], str] = {}  # (update, stage) -> last logged state

    def tick(self) -> None:
        """One pass: settle running updates, then start a due scheduled update."""
        for record in updates.recent(self.redis, limit=10):
            if record.status in ("queued", "running"):
                self.settle(record)
        if self.settings.update.enabled:
            self.schedule()

    def settle(self, record: updates.UpdateRecord) -> None:
        views = pipeline.stage_views(self.redis, record)
        self._log_transitions(record, views)
        failed = next((v for v in views if v["state"] == "failed"), None)
        if failed or all(v["state"] in ("finished", "skipped") for v in views):
            self._finish(record, views, failed)
        else:
            updates.renew_lock(self.redis, record.id, self.settings.update.lock_ttl_sec)

    def _finish(self, record: updates.UpdateRecord, views: list[dict[str, Any]],
                failed: dict[str, Any] | None) -> None:
        record.status = "failed" if failed else "finished"
        record.finished_at = time.time()
        record.snapshot = views
        if failed:
            record.error = f"stage {failed['name']} failed: {failed.get('error') or 'no detail'}"
        else:
            self.redis.set(updates.LAST_FINISHED_KEY, record.finished_at)
        updates.save(self.redis, record)
        updates.release_lock(self.redis, record.id)
        observe_update(record.status, record.created_at, record.finished_at, views)
        log.info("[gateway.update] %s %s%s", record.id, record.status,
                 f": {record.error}" if record.error else "")

    def _log_transitions(self, record: updates.UpdateRecord, views: list[dict[str, Any]]) -> None:
        for view in views:
            key = (record.id, view["name"])
            if self.seen.get(key) != view["state"]:
                self.seen[key] = view["state"]
                log.info("[gateway.update] %s stage %s -> %s", record.id, view["name"], view["state"])

    def schedule(self) -> None:
        """Start an update when one is due; record a skipped run when one is already going."""
        wait = pipeline.too_soon(self.redis, self.settings)
        if wait or updates.last_finished(self.redis) is None:
            return  # the first update comes from bootstrap or a user, then the schedule takes over
        try:
            record = pipeline.start_update(self.redis, self.settings, force=True, trigger="scheduler")
            self._note({"last_run_at": time.time(), "update_id": record.id})
        except TooManyRequests as busy:
            self._note({"last_skip_at": time.time(), "skip_reason": busy.detail})

    def _note(self, fields: dict[str, Any]) -> None:
        current = json.loads(self.redis.get(updates.SCHEDULER_KEY) or "{}")
        if fields.get("skip_reason") and current.get("skip_reason") != fields["skip_reason"]:
            log.info("[gateway.update] scheduled update skipped: %s", fields["skip_reason"])
        current.update(fields)
        self.redis.set(updates.SCHEDULER_KEY, json.dumps(current))

    def scheduler_state(self) -> dict[str, Any]:
        state = json.loads(self.redis.get(updates.SCHEDULER_KEY) or "{}")
        last = updates.last_finished(self.redis)
        interval = self.settings.update.min_interval_hours * 3600
        state.update(enabled=self.settings.update.enabled, last_finished_at=last,
                     next_due_at=last + interval if last else None)
        return state
