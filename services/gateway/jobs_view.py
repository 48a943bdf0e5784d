"""GET /jobs: what every queue holds, who works on it, and what failed."""

from __future__ import annotations

from typing import Any

from redis import Redis
from rq import Queue, Worker

from shared.queues import QUEUES


def queues_view(redis: Redis) -> dict[str, Any]:
    workers = Worker.all(connection=redis)
    view: dict[str, Any] = {}
    for name in QUEUES:
        queue = Queue(name, connection=redis)
        failed = queue.failed_job_registry
        view[name] = {
            "queued": queue.count,
            "started": queue.started_job_registry.count,
            "deferred": queue.deferred_job_registry.count,
            "scheduled": queue.scheduled_job_registry.count,
            "failed": failed.count,
            "failed_jobs": failed.get_job_ids(0, 9),
            "workers": [{"name": w.name, "state": str(w.get_state()), "hostname": w.hostname}
                        for w in workers if name in w.queue_names()],
        }
    return {"queues": view}
