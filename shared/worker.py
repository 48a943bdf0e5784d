"""Run one RQ worker: `python -m shared.worker <queue>` (the Procfile's *_worker lines).

The train queue uses a SimpleWorker (no fork: the MLX model stays loaded in the worker process).
A short maintenance interval makes RQ notice jobs of killed workers within a minute or two.
"""

from __future__ import annotations

import argparse
import logging
import sys

from rq import SimpleWorker, Worker

from shared.logging import setup_logging
from shared.queues import QUEUES, TRAIN, redis_connection, redis_ping
from shared.settings import get_settings

log = logging.getLogger("shared.worker")
MAINTENANCE_INTERVAL_SEC = 30


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
                 f"reachable ({detail}); start it with `make run` or ops/redis.sh")
    if args.queue == TRAIN:
        from shared.mlx_runtime import use_fast_blas

        use_fast_blas(settings.model.blas_library)
    worker_class = SimpleWorker if args.queue == TRAIN else Worker
    worker = worker_class([args.queue], connection=redis_connection(settings),
                          maintenance_interval=MAINTENANCE_INTERVAL_SEC)
    log.info("worker for queue %s (%s)", args.queue, worker_class.__name__)
    worker.work(burst=args.burst, logging_level=settings.log_level.upper(), with_scheduler=True)


if __name__ == "__main__":
    main()
