"""Run one RQ worker: `python -m shared.worker <queue>` (the Procfile's *_worker lines).

The train queue uses a SimpleWorker (no fork: the MLX model stays loaded in the worker process).
A short maintenance interval makes RQ notice jobs of killed workers within a minute or two.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from typing import Any

from rq import Queue, SimpleWorker, Worker
from rq.job import Job
from rq.worker import WorkerStatus

from shared.logging import setup_logging
from shared.queues import QUEUES, TRAIN, redis_connection, redis_ping
from shared.settings import get_settings

log = logging.getLogger("shared.worker")


class PromptStop:
    """An idle worker stops within a second of SIGTERM. RQ unsubscribes its command channel before
    it stops the pubsub thread, which then waits up to 60 s for a new subscription, and redis-py 8
    joins that thread: a warm shutdown took 15-60 s (honcho's stop, every test teardown)."""

    pubsub_thread: Any

    def unsubscribe(self) -> None:
        if self.pubsub_thread:
            self.pubsub_thread.stop(timeout=0)  # its loop ends at the unsubscribe reply
        super().unsubscribe()  # type: ignore[misc]


class ShortHeartbeatWorker(PromptStop, Worker):
    """RQ's forking worker with a heartbeat TTL of two intervals (RQ adds a fixed 60 s), so a job
    whose worker was SIGKILLed is re-queued (Retry) or failed within a minute or two."""

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        return 2 * int(self.job_monitoring_interval) + 10


class HeartbeatSimpleWorker(PromptStop, SimpleWorker):
    """A SimpleWorker whose running job keeps a short heartbeat, like forking workers have.

    RQ's SimpleWorker gives a job a heartbeat TTL of its whole timeout (hours for training), so a
    killed worker's job would sit "started" for hours; here a thread renews a short TTL instead, and
    the maintenance of any live worker re-queues the job within a minute or two of the kill.
    """

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        return 2 * int(self.job_monitoring_interval) + 10

    def execute_job(self, job: Job, queue: Queue) -> None:
        execution = self.prepare_execution(job)
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.job_monitoring_interval):
                try:
                    self.maintain_heartbeats(job, execution)
                except Exception:  # noqa: BLE001 - Redis restarting: the next beat tries again
                    log.warning("heartbeat for job %s failed", job.id)

        thread = threading.Thread(target=beat, name="rq-heartbeat", daemon=True)
        thread.start()
        try:
            self.perform_job(job, queue, execution)
        finally:
            stop.set()
        self.set_state(WorkerStatus.IDLE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("queue", choices=QUEUES)
    parser.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    args = parser.parse_args()
    settings = get_settings()
    setup_logging(settings.log_level)
    reachable, detail = redis_ping(settings)
    if not reachable:
        sys.exit(f"mde worker: Redis at {settings.redis_host}:{settings.redis_port} is not "
                 f"reachable ({detail}); start it with `make run`, or Redis alone with "
                 "`.venv/bin/python -m ops.redis`")
    if args.queue == TRAIN:
        from shared.mlx_runtime import use_fast_blas

        use_fast_blas(settings.model.blas_library)
    worker_class = HeartbeatSimpleWorker if args.queue == TRAIN else ShortHeartbeatWorker
    worker = worker_class([args.queue], connection=redis_connection(settings),
                          maintenance_interval=settings.worker.maintenance_interval_sec,
                          # RQ blocks in BLPOP for worker_ttl - 15 s between maintenance passes
                          worker_ttl=settings.worker.maintenance_interval_sec + 15,
                          job_monitoring_interval=settings.worker.heartbeat_interval_sec)
    log.info("worker for queue %s (%s)", args.queue, worker_class.__name__)
    worker.work(burst=args.burst, logging_level=settings.log_level.upper(), with_scheduler=True)


if __name__ == "__main__":
    main()
