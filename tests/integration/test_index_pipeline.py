"""Index jobs over HTTP against real services: crawler, embedding (real model), retrieval (Qdrant Edge).

A 12-article copy of the docsite is crawled, indexed by RQ jobs run by a worker in this process
(fanned out: 5 pages per batch), then changed, deleted, rebuilt and re-configured.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from rq import Queue
from rq.job import Job

from services.crawler.crawl import run_crawl
from services.gateway import pipeline, updates
from shared.queues import INDEX
from shared.settings import Settings, get_settings
from shared.worker import HeartbeatSimpleWorker  # stops at once: redis-py 8 joins pubsub
from tests.conftest import Docsite, RedisServer, start_docsite
from tests.integration.index_kit import (
    ServiceThread, copy_site, env_for_stack, environment, free_ports, snapshot, start_service,
)

pytestmark = pytest.mark.slow
SLUGS = ["linux-exclusions", "linux-schedule-scan-mde", "mac-exclusions", "tamperprotection-macos",
         "indicator-file", "controlled-folders", "enable-controlled-folders", "attack-surface-reduction",
         "exploit-protection", "configure-endpoints-script", "mac-support-perf", "indicator-ip-domain"]
CHANGED, DELETED = "linux-exclusions", "mac-exclusions"


@dataclass
class Stack:
    settings: Settings
    site: Docsite
    root: Path
    services: dict[str, ServiceThread]
    redis: Any
    last_job: Job | None = None

    @property
    def retrieval(self) -> str:
        return self.services["retrieval"].url

    def crawl(self) -> None:
        run_crawl(get_settings())

    def index(self, full: bool = False, job_id: str | None = None) -> dict[str, Any]:
        """Enqueue index_pages and run the queue dry with a worker in this process."""
        queue = Queue(INDEX, connection=self.redis)
        job = queue.enqueue_call("services.indexer.jobs.index_pages", kwargs={"full": full},
                                 timeout=900, job_id=job_id)
        HeartbeatSimpleWorker([queue], connection=self.redis).work(burst=True)
        self.last_job = Job.fetch(job.id, connection=self.redis)
        result = self.last_job.return_value()
        assert result is not None, "index_pages failed"
        if result.get("final_job_id"):
            self.last_job = Job.fetch(result["final_job_id"], connection=self.redis)
            result = self.last_job.return_value()
            assert result is not None, "the final index job did not finish"
        return result

    def collection(self) -> dict[str, Any]:
        return httpx.get(f"{self.retrieval}/collection", timeout=10).json()


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("index-stack")
    root = copy_site(base / "site", SLUGS)
    site = start_docsite(base / "docsite.log", "--root", str(root))
    ports = free_ports("crawler", "embedding", "retrieval")
    env = env_for_stack(base / "data", redis_server, site, ports, index__batch_pages=5,
                        index__upsert_batch=64)
    redis = redis_server.client()
    redis.flushall()
    with environment(env) as settings:
        services = {name: start_service(name, port) for name, port in ports.items()}
        try:
            stack = Stack(settings, site, root, services, redis)
            stack.crawl()
            yield stack
        finally:
            for service in services.values():
                service.stop()
            site.stop()
            redis.flushall()


def by_page(points: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    pages: dict[str, dict[str, dict[str, Any]]] = {}
    for point_id, payload in points.items():
        pages.setdefault(payload["url"].rsplit("/", 1)[-1], {})[point_id] = payload
    return pages


def test_1_first_run_fans_out_and_publishes_a_full_build(stack: Stack) -> None:
    assert stack.collection()["empty"] is True
    result = stack.index()
    assert result["full"] is True and result["reason"] == "index empty"
    assert result["pages_indexed"] == len(SLUGS) + 1  # the articles and the landing page
    info = stack.collection()
    assert info["points"] == result["chunks_written"] > 50
    hash_now = httpx.get(f"{stack.services['retrieval'].url}/collection").json()["settings_hash"]
    from services.indexer.indexing import settings_hash
    assert hash_now == settings_hash(get_settings())
    hits = httpx.post(f"{stack.retrieval}/search", json={"query": "mdatp exclusion folder add",
                                                         "top_k": 3}).json()["hits"]
    assert hits[0]["url"].endswith("/linux-exclusions")  # canonical URL: the live site
    assert hits[0]["url"].startswith("https://learn.microsoft.com/")


def test_2_nothing_changed_nothing_written(stack: Stack) -> None:
    before = snapshot(stack.retrieval)
    stack.crawl()
    result = stack.index()
    assert result["full"] is False and result["pages_indexed"] == 0
    assert snapshot(stack.retrieval) == before


def test_3_changed_page_only_its_points_change(stack: Stack) -> None:
    before = by_page(snapshot(stack.retrieval))
    page = stack.root / "en-us" / "defender-endpoint" / f"{CHANGED}.html"
    html = page.read_text(encoding="utf-8")
    page.write_text(html.replace("<h2 id=\"allow-a-threat\">Allow a threat</h2>",
                                 "<h2 id=\"allow-a-threat\">Allow a threat</h2><p>Quokka "
                                 "exclusions are brand new.</p>"), encoding="utf-8")
    stack.crawl()
    result = stack.index()
    assert result["full"] is False and result["pages_indexed"] == 1
    after = by_page(snapshot(stack.retrieval))
    for slug, points in before.items():
        if slug != CHANGED:
            assert after[slug] == points, f"{slug} changed though its page did not"
    assert after[CHANGED] != before[CHANGED]
    assert any("Quokka" in p["text"] for p in after[CHANGED].values())
    assert len({p["page_hash"] for p in after[CHANGED].values()}) == 1  # no stale point left


def test_4_deleted_page_is_gone(stack: Stack) -> None:
    (stack.root / "en-us" / "defender-endpoint" / f"{DELETED}.html").unlink()
    stack.crawl()
    result = stack.index()
    assert result["pages_deleted"] == 1 and result["chunks_deleted"] > 0
    assert DELETED not in by_page(snapshot(stack.retrieval))


def test_5_full_rebuild_switches_while_searches_keep_answering(stack: Stack) -> None:
    serving = stack.collection()["serving"]
    answers: list[int] = []
    stop = threading.Event()

    def search_all_the_time() -> None:
        with httpx.Client(base_url=stack.retrieval, timeout=30) as client:
            while not stop.is_set():
                response = client.post("/search", json={"query": "tamper protection macOS"})
                answers.append(response.status_code if response.json()["hits"] else 0)

    searcher = threading.Thread(target=search_all_the_time)
    searcher.start()
    record = updates.new_update(["index"], True, "test")  # the gateway shows this job as a stage
    try:
        result = stack.index(full=True, job_id=record.job_id("index"))
    finally:
        stop.set()
        searcher.join(30)
    assert result["full"] is True and result["reason"] == "requested"
    info = stack.collection()
    assert info["serving"] != serving and info["builds"] == []
    assert answers and set(answers) == {200}, "a search failed or found nothing during the switch"
    assert stack.last_job is not None and stack.last_job.id.startswith("index-final-")
    meta = stack.last_job.meta  # the batches' progress ends in the final job
    assert meta["stage"] == "done" and meta["done"] == meta["total"]
    # fault: the stage view after a fan-out said `fan-out 0/13`; it is the sum of the batches
    [stage] = pipeline.stage_views(stack.redis, record)
    assert stage["state"] == "finished", stage
    pages = result["pages_indexed"] + result["pages_failed"]
    assert stage["progress"]["done"] == stage["progress"]["total"] == pages > 5, stage


def test_6_changed_chunk_settings_force_a_full_rebuild(stack: Stack, monkeypatch:
                                                       pytest.MonkeyPatch) -> None:
    before = stack.collection()
    monkeypatch.setenv("PROCESSING__MAX_CHUNK_CHARS", "700")
    get_settings.cache_clear()
    try:
        result = stack.index()  # the worker runs in this process: it sees the new setting
    finally:
        monkeypatch.delenv("PROCESSING__MAX_CHUNK_CHARS")
        get_settings.cache_clear()
    assert result["full"] is True and result["reason"] == "settings changed"
    after = stack.collection()
    assert after["settings_hash"] != before["settings_hash"]
    assert after["points"] > before["points"]  # smaller chunks, more of them
