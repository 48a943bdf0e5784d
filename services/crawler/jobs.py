"""RQ jobs of the `crawl` queue; the gateway enqueues `services.crawler.jobs.crawl_site` by name."""

from __future__ import annotations

import logging

from rq import Queue, get_current_job

from services.crawler.crawl import run_crawl
from services.crawler.lock import CrawlLock, describe
from shared.errors import Conflict
from shared.progress import job_progress
from shared.queues import CRAWL, redis_connection
from shared.settings import Settings, get_settings

log = logging.getLogger(__name__)

JOB = "services.crawler.jobs.crawl_site"
RESULT_TTL_SEC = 7 * 86400


def _remember_crawl_id(crawl_id: str) -> None:
    job = get_current_job()
    if job is not None:
        job.meta["crawl_id"] = crawl_id
        job.save_meta()


def crawl_site(full: bool = False, max_pages: int | None = None) -> dict:
    """Crawl the docs site into the page store; returns the crawl id and counts per state."""
    settings = get_settings()
    if max_pages:
        crawl = settings.crawl.model_copy(update={"max_pages": max_pages})
        settings = settings.model_copy(update={"crawl": crawl})
    result = run_crawl(settings, full=full, progress=job_progress(),
                       on_open=_remember_crawl_id)
    log.info("crawl %s: %s", result.crawl_id, result.counts)
    return result.as_dict()


def enqueue_crawl(settings: Settings, full: bool = False, max_pages: int | None = None) -> str:
    """Queue a crawl and return the job id; Conflict when one is running or already queued."""
    connection = redis_connection(settings)
    holder = CrawlLock(settings, connection).holder()
    if holder:
        raise Conflict(f"a crawl is already running ({describe(holder)}); try again when it "
                       "has finished")
    queue = Queue(CRAWL, connection=connection)
    for job in queue.get_jobs():
        if job is not None and job.func_name == JOB:
            raise Conflict(f"a crawl is already queued (job {job.id})")
    job = queue.enqueue(JOB, full=full, max_pages=max_pages,
                        job_timeout=settings.crawl.job_timeout_sec, result_ttl=RESULT_TTL_SEC,
                        description=f"crawl {'full' if full else 'incremental'}")
    log.info("queued crawl job %s (full=%s)", job.id, full)
    return job.id

