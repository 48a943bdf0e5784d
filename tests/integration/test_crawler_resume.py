"""One crawl at a time across processes, and a SIGKILLed crawl worker resumed without refetching."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from redis import Redis
from rq import Queue

from services.crawler.crawl import run_crawl
from services.crawler.lock import LOCK_KEY, CrawlLock
from services.crawler.store import PageStore
from shared.errors import Conflict
from shared.queues import CRAWL
from shared.settings import PROJECT_ROOT, Settings
from tests.conftest import RedisServer
from tests.integration.crawler_kit import ARTICLES, PREFIX, site_settings, states


def test_redis_lock_refuses_a_second_crawl_and_frees_a_dead_holders(
        make_settings: Callable[..., Settings], redis_server: RedisServer,
        redis_client: Redis, tmp_path: Path) -> None:
    settings = make_settings(redis_port=redis_server.port, redis_password=redis_server.password)
    with CrawlLock(settings, redis_client):
        other = settings.model_copy(update={"data_dir": tmp_path / "elsewhere"})  # another host
        with pytest.raises(Conflict, match=f"process {os.getpid()} on"):
            CrawlLock(other, redis_client).acquire()
        assert CrawlLock(other, redis_client).holder()["pid"] == os.getpid()
    assert redis_client.get(LOCK_KEY) is None
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    holder = json.loads(CrawlLock(settings, redis_client).token) | {"pid": int(dead)}
    redis_client.set(LOCK_KEY, json.dumps(holder), px=60_000)
    assert CrawlLock(settings, redis_client).holder() is None  # a dead process holds nothing
    with CrawlLock(settings, redis_client) as lock:
        assert redis_client.get(LOCK_KEY).decode() == lock.token


def _wait_for_pages(settings: Settings, count: int, deadline: float) -> None:
    store = PageStore(settings)
    try:
        while store.list_pages(limit=1).total < count:
            assert time.monotonic() < deadline, "the worker stored too few pages"
            time.sleep(0.05)
    finally:
        store.close()


def test_sigkilled_worker_resumes_without_refetching_what_it_stored(
        docsite: Callable, make_settings: Callable[..., Settings], redis_server: RedisServer,
        redis_client: Redis, tmp_path: Path) -> None:
    # fault: the crawl worker (and its work horse) get SIGKILL mid-crawl
    site = docsite("--delay-ms", "30")
    settings = site_settings(make_settings, site, redis_server)
    job = Queue(CRAWL, connection=redis_client).enqueue("services.crawler.jobs.crawl_site",
                                                        job_timeout=300)
    with open(tmp_path / "worker.log", "w") as output:
        worker = subprocess.Popen([sys.executable, "-m", "shared.worker", "crawl"],
                                  cwd=PROJECT_ROOT, env=os.environ.copy(), stdout=output,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_pages(settings, 60, time.monotonic() + 60)
        deadline = time.monotonic() + 5
        while job.get_meta().get("stage") != "pages" and time.monotonic() < deadline:
            time.sleep(0.05)  # progress is written at most every 0.5 s
        assert job.meta["stage"] == "pages" and job.meta["done"] > 0 and job.meta["crawl_id"]
        assert {"new", "failed"} & set(job.meta["counts"])
    finally:  # the work horse runs in its own process group: kill it by pid, then the worker
        horses = psutil.Process(worker.pid).children(recursive=True)
        for horse in horses:
            horse.send_signal(signal.SIGKILL)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        psutil.wait_procs(horses, timeout=10)
    killed_at = time.time()
    store = PageStore(settings)
    stored = {info.url.split("/")[-1] for info in store.list_pages(limit=1000).items}
    before = {e["path"] for e in site.requests() if e["path"].startswith(PREFIX + "/")}

    result = run_crawl(settings)
    assert result.resumed and result.crawl_id == job.meta["crawl_id"]
    after = [e["path"] for e in site.requests() if e["arrived"] > killed_at]
    again = {path for path in after if path.startswith(PREFIX + "/")}
    assert not {path.split("/")[-1] for path in again} & stored  # nothing stored is refetched
    assert len(again & before) <= settings.crawl.concurrency  # only what was in flight
    assert set(states(settings, site).values()) == {"new"}
    assert len(set(after)) == len(after) and set(ARTICLES) - stored
