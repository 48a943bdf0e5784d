"""The crawler API on a crawled docsite: pages, raw HTML, crawls, and POST /crawl through RQ."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from redis import Redis
from rq import Queue

from services.crawler.app import create_app
from services.crawler.crawl import run_crawl
from services.crawler.jobs import JOB
from services.crawler.lock import CrawlLock
from shared.queues import CRAWL
from shared.settings import Settings
from shared.worker import HeartbeatSimpleWorker  # stops at once: redis-py 8 joins pubsub
from tests.conftest import RedisServer
from tests.integration.crawler_kit import ARTICLES, article_url, site_settings

PROBLEM = "application/problem+json"


def test_pages_crawls_and_html_are_served(
        docsite: Callable, make_settings: Callable[..., Settings], redis_server: RedisServer,
        redis_client: Redis) -> None:
    site = docsite("--limit", "3")
    settings = site_settings(make_settings, site, redis_server)
    result = run_crawl(settings)
    client = TestClient(create_app())

    new = client.get("/pages", params={"state": "new", "limit": 2}).json()
    assert new["total"] == 4 and len(new["items"]) == 2  # three articles and the landing page
    failed = client.get("/pages", params={"state": "failed"}).json()
    assert failed["total"] == result.counts["failed"]
    slug = sorted(ARTICLES)[0]
    found = client.get("/pages", params={"q": slug}).json()["items"]
    page = next(p for p in found if p["url"] == article_url(site, slug))
    assert page["canonical_url"] == ARTICLES[slug]["url"] and page["content_hash"]

    detail = client.get(f"/pages/{page['id']}").json()
    assert detail["history"][0]["state"] == "new" and detail["history"][0]["detail"] == "fetched"
    html = client.get(f"/pages/{page['id']}/html")
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    assert f"<title>{ARTICLES[slug]['title']}" in html.text
    # hostile input: crawled HTML with scripts; sandboxed, they never run on the crawler's origin
    assert html.headers["content-security-policy"] == "sandbox"
    assert html.headers["x-content-type-options"] == "nosniff"

    for path in ("/pages/0123abcd", "/pages/0123abcd/html", "/crawls/nope"):
        missing = client.get(path)
        assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    for path in ("/pages/nope", "/pages/%2E%2E/html", "/pages/pages.sqlite/html"):
        malformed = client.get(path)  # fault: an id that is no page id (a path, dots)
        assert malformed.status_code == 422 and malformed.headers["content-type"] == PROBLEM
    assert client.get("/pages", params={"state": "bogus"}).status_code == 422

    crawls = client.get("/crawls").json()
    assert crawls["total"] == 1 and crawls["items"][0]["id"] == result.crawl_id
    crawl = client.get(f"/crawls/{result.crawl_id}").json()
    assert crawl["counts"] == result.counts and crawl["status"] == "finished"
    assert crawl["duration_sec"] > 0 and crawl["requests"] == result.requests
    assert crawl["skipped"]["robots"] == 1 and crawl["complete"]
    assert all(error["error"] for error in crawl["errors"])


def test_post_crawl_queues_one_job_and_refuses_while_locked(
        docsite: Callable, make_settings: Callable[..., Settings], redis_server: RedisServer,
        redis_client: Redis) -> None:
    site = docsite("--limit", "2")
    settings = site_settings(make_settings, site, redis_server)
    client = TestClient(create_app())

    with CrawlLock(settings, redis_client):
        refused = client.post("/crawl")
        assert refused.status_code == 409 and "already running" in refused.json()["detail"]

    started = client.post("/crawl", json={"max_pages": 50})
    assert started.status_code == 202
    queue = Queue(CRAWL, connection=redis_client)
    job = queue.fetch_job(started.json()["job_id"])
    assert job is not None and job.func_name == JOB and job.kwargs["max_pages"] == 50
    again = client.post("/crawl")
    assert again.status_code == 409 and "already queued" in again.json()["detail"]

    HeartbeatSimpleWorker([queue], connection=redis_client).work(burst=True)
    job.refresh()
    result = job.return_value()
    assert job.get_status() == "finished" and result["counts"]["new"] == 3
    assert job.meta["crawl_id"] == result["crawl_id"] and job.meta["stage"] == "pages"
    assert job.meta["done"] == job.meta["total"] and job.meta["counts"]["new"] == 3
    assert client.post("/crawl").status_code == 202  # free again once it finished
