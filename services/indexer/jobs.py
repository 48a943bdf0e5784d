"""RQ jobs of the `index` queue. They talk only HTTP: crawler API -> embedding API -> retrieval API.

`index_pages` plans the run; a small update is done in the same job, a larger one fans out into
`index_batch` jobs of `index.batch_pages` pages and a `finish_index` job that depends on all of them,
removes deleted pages, publishes a full rebuild and returns the summary (its id is `final_job_id`).
Batch jobs report their progress into their own meta (`batch_job_ids`: the stage's progress is
their sum) and into the final job's meta (the running total, for `GET /index/{id}`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from redis import Redis
from rq import Callback, Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Dependency, Job

from services.embedding.client import HttpEmbedder
from services.indexer import indexing
from services.indexer.peers import HttpPageSource, RetrievalClient
from shared.progress import Progress, job_progress, tee_progress
from shared.queues import INDEX, redis_connection
from shared.schemas import PageInfo
from shared.settings import get_settings

log = logging.getLogger(__name__)
BATCH_TIMEOUT_SEC = 3600
RESULT_TTL = 7 * 24 * 3600


def index_pages(full: bool = False) -> dict[str, Any]:
    """Index what the last crawl changed (or everything with full=True)."""
    settings = get_settings()
    source, embedder, sink = HttpPageSource(settings), HttpEmbedder(settings), RetrievalClient(settings)
    progress = job_progress()
    plan = indexing.make_plan(source, sink, embedder, settings, full)
    batches = plan.batches(settings.index.batch_pages)
    if len(batches) <= 1:
        outcome = indexing.index_batch(plan, batches[0] if batches else [], source, embedder, sink,
                                       settings, progress)
        return indexing.finish(plan, outcome, sink, progress)
    final_id, batch_ids = fan_out(plan, batches, redis_connection(settings))
    progress("fan-out", 0, len(plan.reindex), f"{len(batches)} batch jobs")
    return {"plan_id": plan.id, "full": plan.full, "reason": plan.reason, "build": plan.build,
            "batches": len(batches), "pages_to_index": len(plan.reindex),
            "final_job_id": final_id, "batch_job_ids": batch_ids}


def fan_out(plan: indexing.Plan, batches: list[list[PageInfo]],
            connection: Redis) -> tuple[str, list[str]]:
    """Enqueue one job per batch and the final job after them; returns their ids."""
    queue = Queue(INDEX, connection=connection)
    final_id = f"index-final-{plan.id}"
    head = indexing.plan_to_dict(plan) | {"reindex": []}
    update = get_settings().update  # a batch of a killed worker is re-queued like a stage job
    retry = Retry(max=update.max_retries, interval=update.retry_intervals_sec) \
        if update.max_retries else None
    jobs = [queue.enqueue_call(
        "services.indexer.jobs.index_batch",
        args=(head, [p.model_dump() for p in batch], final_id, len(plan.reindex)),
        timeout=BATCH_TIMEOUT_SEC, result_ttl=RESULT_TTL, failure_ttl=RESULT_TTL,
        on_failure=Callback(cancel_final), description=f"index {plan.id}: batch {n + 1}", retry=retry,
        meta={"final_job_id": final_id, "done": 0, "total": len(batch)})
        for n, batch in enumerate(batches)]
    queue.enqueue_call("services.indexer.jobs.finish_index", args=(head, [j.id for j in jobs]),
                       job_id=final_id, timeout=BATCH_TIMEOUT_SEC, result_ttl=RESULT_TTL,
                       failure_ttl=RESULT_TTL, depends_on=Dependency(jobs=jobs),
                       description=f"index {plan.id}: finish")
    return final_id, [job.id for job in jobs]


def index_batch(plan_head: dict[str, Any], pages: list[dict[str, Any]], final_id: str,
                total: int) -> dict[str, Any]:
    """Chunk, embed and write one batch of pages of a fanned-out run."""
    settings = get_settings()
    plan = indexing.plan_from_dict(plan_head)
    progress = tee_progress(shared_progress(redis_connection(settings), final_id, plan.id, total),
                            job_progress())
    outcome = indexing.index_batch(
        plan, [PageInfo.model_validate(p) for p in pages], HttpPageSource(settings),
        HttpEmbedder(settings), RetrievalClient(settings), settings, progress)
    return {"pages": outcome.pages, "chunks": outcome.chunks, "replaced": outcome.replaced,
            "failed": outcome.failed}


def finish_index(plan_head: dict[str, Any], batch_ids: list[str]) -> dict[str, Any]:
    """The last job of a fanned-out run: add up the batches, delete, publish, summarise."""
    settings = get_settings()
    connection = redis_connection(settings)
    outcome = indexing.BatchResult()
    for job_id in batch_ids:
        value = Job.fetch(job_id, connection=connection).return_value() or {}
        outcome.add(indexing.BatchResult(value.get("pages", 0), value.get("chunks", 0),
                                         value.get("replaced", 0), list(value.get("failed", []))))
    return indexing.finish(indexing.plan_from_dict(plan_head), outcome, RetrievalClient(settings),
                           job_progress())


def shared_progress(connection: Redis, final_id: str, plan_id: str, total: int) -> Progress:
    """Progress of one batch added to the run's counter and written into the final job's meta."""
    counter = f"mde:index:done:{plan_id}"
    last = {"done": 0, "written": 0.0}

    def report(stage: str, done: int, _total: int, message: str = "", **counts: Any) -> None:
        step, last["done"] = done - last["done"], done
        overall = int(connection.incrby(counter, step)) if step else int(connection.get(counter) or 0)
        connection.expire(counter, RESULT_TTL)
        if time.monotonic() - last["written"] < 0.5 and overall < total:
            return
        last["written"] = time.monotonic()
        try:
            final = Job.fetch(final_id, connection=connection)
        except NoSuchJobError:
            return
        final.meta.update({"stage": stage, "done": overall, "total": total, "message": message,
                           "updated_at": time.time()})
        final.save_meta()

    return report


def cancel_final(job: Job, connection: Redis, *exc_info: Any) -> None:
    """A batch failed for good: cancel the final job so the run shows as failed, drop the build.
    RQ calls this on every failure, also one it retries (a SIGKILLed worker's abandoned batch)."""
    if job.retries_left:
        log.warning("index batch %s failed, %d retries left", job.id, job.retries_left)
        return
    final_id = job.meta.get("final_job_id")
    plan_head = job.args[0] if job.args else {}
    try:
        Job.fetch(final_id, connection=connection).cancel()
    except (NoSuchJobError, TypeError):
        pass
    if plan_head.get("build"):
        RetrievalClient(get_settings()).abort(plan_head["build"])
    log.error("index batch %s failed: run %s abandoned", job.id, plan_head.get("id"))
