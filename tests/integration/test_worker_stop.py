"""An idle RQ worker stops promptly on a real Redis (its command channel's pubsub thread included)."""

from __future__ import annotations

import threading
import time

import pytest
from redis import Redis

from shared.worker import HeartbeatSimpleWorker, ShortHeartbeatWorker


@pytest.mark.parametrize("worker_class", [ShortHeartbeatWorker, HeartbeatSimpleWorker])
def test_an_idle_worker_unsubscribes_within_a_second(worker_class: type,
                                                     redis_client: Redis) -> None:
    """Fault injected: the main thread is descheduled right after it sends UNSUBSCRIBE (a loaded
    machine), so the pubsub thread reads the reply and goes back to waiting, 60 s, for a new
    subscription. RQ then stopped the thread and redis-py 8 joined it: the worker hung that long."""
    worker = worker_class(["crawl"], connection=redis_client)
    worker.subscribe()
    time.sleep(0.2)  # the pubsub thread is reading
    send = worker.pubsub.unsubscribe

    def slow_unsubscribe(*args: object) -> None:
        send(*args)
        time.sleep(0.5)

    worker.pubsub.unsubscribe = slow_unsubscribe
    stopping = threading.Thread(target=worker.unsubscribe, daemon=True)
    started = time.monotonic()
    stopping.start()
    stopping.join(10)
    assert not stopping.is_alive(), "unsubscribe still waiting after 10 s"
    assert time.monotonic() - started < 2.0
    assert not worker.pubsub_thread.is_alive()
