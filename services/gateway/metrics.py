"""Prometheus metrics the gateway adds: queue depths (read at scrape time) and update durations."""

from __future__ import annotations

import logging

from prometheus_client import Gauge, Histogram
from redis import Redis
from rq import Queue

from shared.queues import QUEUES

log = logging.getLogger(__name__)

QUEUE_DEPTH = Gauge("mde_queue_depth", "Jobs waiting per queue", ["queue"])
QUEUE_FAILED = Gauge("mde_queue_failed", "Jobs in the failed registry per queue", ["queue"])
UPDATE_SECONDS = Histogram("mde_update_seconds", "Wall time of finished updates", ["status"],
                           buckets=(60, 300, 900, 1800, 3600, 7200, 14400, 28800))
STAGE_SECONDS = Histogram("mde_update_stage_seconds", "Wall time of update stages", ["stage"],
                          buckets=(1, 10, 60, 300, 900, 1800, 3600, 7200, 14400))


def refresh_queue_gauges(redis: Redis) -> None:
    try:
        for name in QUEUES:
            queue = Queue(name, connection=redis)
            QUEUE_DEPTH.labels(name).set(queue.count)
            QUEUE_FAILED.labels(name).set(queue.failed_job_registry.count)
    except Exception as error:  # noqa: BLE001 - Redis down: serve the other metrics anyway
        log.warning("queue metrics unavailable: %s", error)


def observe_update(status: str, started: float, finished: float, stages: list[dict]) -> None:
    UPDATE_SECONDS.labels(status).observe(max(finished - started, 0))
    for stage in stages:
        if stage.get("started_at") and stage.get("ended_at"):
            STAGE_SECONDS.labels(stage["name"]).observe(stage["ended_at"] - stage["started_at"])
