"""The scheduler inside the gateway's monitor, against a real Redis (no workers needed: it only
has to enqueue the first stage when an update is due, and not before)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from redis import Redis
from rq import Queue

from services.gateway import updates
from services.gateway.monitor import Monitor
from shared.queues import redis_connection
from shared.settings import Settings


def monitor_for(make_settings: Callable[..., Settings], redis_server: object, **env: object) -> Monitor:
    settings = make_settings(redis_port=redis_server.port, redis_password=redis_server.password,  # type: ignore[attr-defined]
                             **env)
    return Monitor(redis_connection(settings), settings)


def test_due_update_is_enqueued_by_the_scheduler(make_settings: Callable[..., Settings],
                                                  redis_server: object, redis_client: Redis) -> None:
    monitor = monitor_for(make_settings, redis_server, update__min_interval_hours=1)
    redis_client.set(updates.LAST_FINISHED_KEY, time.time() - 3601)
    monitor.tick()
    [record] = updates.recent(redis_client)
    assert record.trigger == "scheduler" and record.status == "running"
    assert Queue("crawl", connection=redis_client).count == 1
    assert json.loads(redis_client.get(updates.SCHEDULER_KEY))["update_id"] == record.id


def test_nothing_is_enqueued_before_it_is_due(make_settings: Callable[..., Settings],
                                              redis_server: object, redis_client: Redis) -> None:
    monitor = monitor_for(make_settings, redis_server, update__min_interval_hours=1)
    redis_client.set(updates.LAST_FINISHED_KEY, time.time() - 3500)
    for _ in range(3):
        monitor.tick()
    assert updates.recent(redis_client) == []
    assert monitor.scheduler_state()["next_due_at"] > time.time()


def test_due_run_during_an_update_is_recorded_as_skipped(make_settings: Callable[..., Settings],
                                                          redis_server: object,
                                                          redis_client: Redis) -> None:
    monitor = monitor_for(make_settings, redis_server, update__min_interval_hours=1)
    redis_client.set(updates.LAST_FINISHED_KEY, time.time() - 7200)
    updates.acquire_lock(redis_client, "someone-else", 60)
    monitor.tick()
    state = monitor.scheduler_state()
    assert "someone-else" in state["skip_reason"] and state["last_skip_at"]
    assert updates.recent(redis_client) == []


def test_disabled_scheduler_does_nothing(make_settings: Callable[..., Settings], redis_server: object,
                                         redis_client: Redis) -> None:
    monitor = monitor_for(make_settings, redis_server, update__enabled="false")
    redis_client.set(updates.LAST_FINISHED_KEY, time.time() - 10 * 86400)
    monitor.tick()
    assert updates.recent(redis_client) == []
