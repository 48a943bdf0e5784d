"""The update pipeline: crawl -> index -> prepare_dataset -> finetune (-> merge) as RQ jobs.

The gateway enqueues the first stage; each stage job (`jobs.run_stage`) enqueues the next one when it
succeeds, depending on the stage's last job when a stage fans out (`final_job_id` in its result), so
the chain advances in the workers even while the gateway is down. Job ids are derived from the
update id and stage, so a retried stage never enqueues its successor twice.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from redis import Redis
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job

from services.gateway import updates
from services.gateway.updates import STAGE_QUEUES, STAGES, UpdateRecord
from shared.errors import BadRequest, TooManyRequests, Conflict
from shared.settings import Settings

log = logging.getLogger("gateway.update")
RESULT_TTL = 7 * 24 * 3600


def choose_stages(requested: list[str] | None, settings: Settings) -> list[str]:
    """The stages to run, in pipeline order; merge only when merge.enabled unless asked for."""
    if requested:
        unknown = [stage for stage in requested if stage not in STAGES]
        if unknown:
            raise BadRequest(f"stages: unknown {unknown}; choose from {list(STAGES)}")
        return [stage for stage in STAGES if stage in requested]
    return [stage for stage in STAGES if stage != "merge" or settings.merge.enabled]


def too_soon(redis: Redis, settings: Settings) -> int:
    """Seconds until the next update is allowed (0 when allowed now)."""
    last = updates.last_finished(redis)
    if last is None:
        return 0
    wait = last + settings.update.min_interval_hours * 3600 - time.time()
    return max(math.ceil(wait), 0)


def start_update(redis: Redis, settings: Settings, stages: list[str] | None = None, full: bool = False,
                 force: bool = False, trigger: str = "api") -> UpdateRecord:
    """Take the lock and enqueue the first stage; TooManyRequests (429 upstream) when refused."""
    record = updates.new_update(choose_stages(stages, settings), full, trigger)
    if not force:
        wait = too_soon(redis, settings)
        if wait:
            raise TooManyRequests(f"the last update finished less than {settings.update.min_interval_hours} h "
                       "ago (use ?force=true to run anyway)", retry_after=wait)
    if not updates.acquire_lock(redis, record.id, settings.update.lock_ttl_sec):
        holder, ttl = updates.lock_holder(redis)
        raise TooManyRequests(f"update {holder} is running", retry_after=max(ttl, 5))
    updates.register(redis, record)
    enqueue_stage(redis, settings, record, record.stages[0])
    record.status = "running"
    updates.save(redis, record)
    log.info("[gateway.update] %s started (%s) stages=%s full=%s", record.id, trigger,
             ",".join(record.stages), full)
    return record


def enqueue_stage(redis: Redis, settings: Settings, record: UpdateRecord, stage: str,
                  depends_on: str | None = None) -> Job:
    """Enqueue one stage job unless it already exists (a retried predecessor calls this again)."""
    job_id = record.job_id(stage)
    try:
        return Job.fetch(job_id, connection=redis)
    except NoSuchJobError:
        pass
    retry = None
    if settings.update.max_retries:
        retry = Retry(max=settings.update.max_retries, interval=settings.update.retry_intervals_sec)
    queue = Queue(STAGE_QUEUES[stage], connection=redis)
    return queue.enqueue_call(
        "services.gateway.jobs.run_stage", args=(record.id, stage), job_id=job_id,
        timeout=settings.update.stage_timeouts_sec.get(stage, 3600), result_ttl=RESULT_TTL,
        failure_ttl=RESULT_TTL, retry=retry, depends_on=depends_on,
        description=f"update {record.id}: {stage}")


def retry_update(redis: Redis, settings: Settings, update_id: str) -> UpdateRecord:
    """Resume a failed update from its failed stage (later stages follow as usual)."""
    record = updates.load(redis, update_id)
    if record.status != "failed":
        raise Conflict(f"update {update_id} is {record.status}; only a failed update can be retried")
    if not updates.acquire_lock(redis, record.id, settings.update.lock_ttl_sec):
        holder, ttl = updates.lock_holder(redis)
        raise TooManyRequests(f"update {holder} is running", retry_after=max(ttl, 5))
    for stage in record.stages:
        job = _fetch(redis, record.job_id(stage))
        if job is None or _status(job) != "finished":
            if job is not None:
                job.delete()
            enqueue_stage(redis, settings, record, stage)
            break
    record.status, record.error, record.finished_at, record.snapshot = "running", None, None, []
    updates.register(redis, record)  # to the head of the list, where the monitor settles it
    log.info("[gateway.update] %s retried from stage %s", record.id, stage)
    return record


def _fetch(redis: Redis, job_id: str) -> Job | None:
    try:
        return Job.fetch(job_id, connection=redis)
    except NoSuchJobError:
        return None


def stage_views(redis: Redis, record: UpdateRecord) -> list[dict[str, Any]]:
    """Each stage's state, progress, timings and result, read from its RQ job."""
    if record.snapshot and record.status in updates.TERMINAL:
        return record.snapshot
    return [_stage_view(redis, record, stage) for stage in record.stages]


def _stage_view(redis: Redis, record: UpdateRecord, stage: str) -> dict[str, Any]:
    view: dict[str, Any] = {"name": stage, "state": "pending", "job_id": record.job_id(stage)}
    job = _fetch(redis, record.job_id(stage))
    if job is None:
        return view
    status = _status(job)
    result = job.return_value() if status == "finished" else None
    state = {"queued": "queued", "deferred": "queued", "scheduled": "queued", "started": "started",
             "finished": "finished", "failed": "failed", "stopped": "failed", "canceled": "failed"}
    view.update(state=state.get(status, status), progress=job.meta or {},
                enqueued_at=_ts(job.enqueued_at), started_at=_ts(job.started_at),
                ended_at=_ts(job.ended_at), retries_left=job.retries_left)
    if isinstance(result, dict):
        view["result"] = result
        if result.get("skipped") is True:  # a stage may report a dict of skip counts
            view["state"] = "skipped"
        final = result.get("final_job_id")
        if final and (tail := _fetch(redis, final)) is not None:
            if _status(tail) != "finished":
                view["state"] = "failed" if _status(tail) in ("failed", "stopped", "canceled") \
                    else "started"
            view["progress"] = _fan_out_progress(redis, result, tail.meta or view["progress"])
    if view["state"] == "failed":
        view["error"] = _last_line(job.latest_result().exc_string if job.latest_result() else None)
    return view


def _fan_out_progress(redis: Redis, result: dict[str, Any],
                      latest: dict[str, Any]) -> dict[str, Any]:
    """A fanned-out stage's progress is the sum of its batch jobs' (each has `done` and `total` in
    its meta; a finished batch counts whole), with the phase and message of the latest report."""
    batches = [job for job in Job.fetch_many(result.get("batch_job_ids") or [], connection=redis)
               if job is not None]
    if not batches:
        return latest
    totals = [int(job.meta.get("total") or 0) for job in batches]
    done = sum(total if _status(job) == "finished" else min(int(job.meta.get("done") or 0), total)
               for job, total in zip(batches, totals))
    return {**latest, "done": done, "total": sum(totals)}


def _status(job: Job) -> str:
    status = job.get_status()
    return str(getattr(status, "value", status))


def _ts(moment: Any) -> float | None:
    return moment.timestamp() if moment else None


def _last_line(text: str | None) -> str | None:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else None
