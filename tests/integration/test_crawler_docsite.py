"""The crawler against the real docsite (../shared/tools/docsite.py) and a real Redis."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from services.crawler.crawl import run_crawl
from services.crawler.store import PageStore
from services.crawler.urls import page_id
from shared.settings import Settings
from tests.conftest import SHARED, RedisServer
from tests.integration.crawler_kit import (
    ARTICLES,
    PREFIX,
    article_paths,
    article_url,
    raw_files,
    site_settings,
    states,
)

TWO_DAYS = 2 * 86400
ARRIVAL_JITTER = 0.15  # s: longest send-to-logged-arrival delay of a request on a loaded 2-core box


def test_clean_crawl_fetches_every_article_once_then_recrawl_skips(
        docsite: Callable, make_settings: Callable[..., Settings], redis_server: RedisServer,
        redis_client: object) -> None:
    site = docsite()
    settings = site_settings(make_settings, site, redis_server)
    result = run_crawl(settings)
    log = site.requests()
    paths = [entry["path"] for entry in log]
    assert article_paths(log) == {slug: 1 for slug in ARTICLES}
    assert paths.count(PREFIX) == 1 and len(paths) == len(set(paths))  # nothing twice
    assert not [p for p in paths if p.startswith("/de-de/") or "view=" in p or "/private/" in p]
    assert {entry["ua"] for entry in log} == {settings.crawl.user_agent}
    assert result.complete and result.counts["new"] == len(ARTICLES) + 1  # + the landing page
    assert set(states(settings, site).values()) == {"new"}
    slug = next(iter(ARTICLES))
    info = PageStore(settings).get(page_id(article_url(site, slug)))
    assert info is not None and info.canonical_url == ARTICLES[slug]["url"]  # the live page
    manifest = json.loads((settings.data_dir / "urls.json").read_text())
    assert len(manifest) == len(ARTICLES) + 1

    before = raw_files(settings)
    started = len(log)
    again = run_crawl(settings)
    recrawl = site.requests()[started:]
    fetched = [e for e in recrawl if e["path"] in {f"{PREFIX}/{s}" for s in ARTICLES}]
    spared = len(ARTICLES) - len([e for e in fetched if e["status"] != 304])
    assert spared >= 0.9 * len(ARTICLES)  # skipped by lastmod or answered 304
    assert again.counts == {"unchanged": len(ARTICLES) + 1, "failed": result.counts["failed"]}
    assert raw_files(settings) == before  # nothing rewritten


def test_edited_files_are_changed_and_a_deleted_one_deleted(
        docsite: Callable, make_settings: Callable[..., Settings], redis_server: RedisServer,
        redis_client: object, tmp_path: Path) -> None:
    root = tmp_path / "site"
    shutil.copytree(SHARED / "site", root)
    past = time.time() - TWO_DAYS  # as if the site were crawled a day after its last change
    for path in root.rglob("*.html"):
        os.utime(path, (past, past))
    site = docsite("--root", str(root))
    settings = site_settings(make_settings, site, redis_server)
    assert run_crawl(settings).counts["new"] == len(ARTICLES) + 1

    edited, removed = sorted(ARTICLES)[3:5], sorted(ARTICLES)[7]
    for slug in edited:
        page = root / "en-us" / "defender-endpoint" / f"{slug}.html"
        page.write_text(page.read_text().replace("</main>", "<p>Updated today.</p></main>"))
    seen = len(site.requests())
    second = run_crawl(settings)
    assert [s for s, state in states(settings, site).items() if state == "changed"] == edited
    assert second.counts["changed"] == 2 and second.details["lastmod"] >= len(ARTICLES) - 2
    assert sorted(article_paths(site.requests()[seen:])) == edited  # only they were asked for

    (root / "en-us" / "defender-endpoint" / f"{removed}.html").unlink()
    third = run_crawl(settings)
    assert [s for s, state in states(settings, site).items() if state == "deleted"] == [removed]
    assert third.counts["deleted"] == 1
    assert not (settings.data_dir / "urls.json").read_text().count(f"/{removed}\"")


def test_faults_each_end_with_a_recorded_outcome_in_bounded_time(
        docsite: Callable, make_settings: Callable[..., Settings], redis_server: RedisServer,
        redis_client: object) -> None:
    # faults injected by docsite --faults: slow, 500, external and looping redirects, 25 MB page,
    # bad bytes, PDF, endless pager, empty body, short body under a longer Content-Length
    site = docsite("--faults", "--limit", "3")
    settings = site_settings(make_settings, site, redis_server, request_timeout_sec=1.5,
                             max_retries=1, max_depth=50)
    started = time.monotonic()
    result = run_crawl(settings)
    assert time.monotonic() - started < 30
    store = PageStore(settings)

    def outcome(name: str) -> tuple[str, str]:
        info = store.get(page_id(f"http://{site.domain}{PREFIX}/_faults/{name}"))
        assert info is not None, name
        return info.state, info.error or ""

    assert outcome("slow")[0] == "failed" and "timeout" in outcome("slow")[1]
    assert outcome("error-500") == ("failed", "HTTP 500 (gave up after 2 tries, in 2 rounds)")
    assert "not followed: out of scope (other_host)" in outcome("redirect-external")[1]
    assert outcome("redirect-loop")[1].startswith("redirect loop: ")
    assert outcome("huge")[0] == "failed" and outcome("huge")[1].startswith("too large")
    assert outcome("pdf") == ("failed", "not HTML (application/pdf)")
    assert outcome("empty") == ("failed", "empty body")
    assert outcome("truncated")[1].startswith("truncated: 30 of 4096 bytes")
    bad = store.get(page_id(f"http://{site.domain}{PREFIX}/_faults/bad-bytes"))
    assert bad is not None and bad.state == "new"
    assert "\ufffd" in (store.read_html(bad.id) or b"").decode("utf-8")
    pager = [e for e in site.requests() if e["path"].startswith(f"{PREFIX}/_faults/pager")]
    assert len(pager) == settings.crawl.max_query_variants
    assert result.skipped["query_variants"] >= 1 and result.complete


def test_random_503s_still_end_with_every_article_fetched(
        docsite: Callable, make_settings: Callable[..., Settings], redis_server: RedisServer,
        redis_client: object) -> None:
    # fault: docsite --fail-rate 0.2 answers 503 + Retry-After: 1 to a fifth of article requests.
    # Default settings: 4 tries in each of 2 rounds leave 0.2**8 per article (1 crawl in 1,700
    # loses one).
    site = docsite("--fail-rate", "0.2", "--seed", "1")
    settings = site_settings(make_settings, site, redis_server)
    run_crawl(settings)
    assert set(states(settings, site).values()) == {"new"}
    assert any(entry["status"] == 503 for entry in site.requests())


def test_politeness_gap_between_request_starts(
        docsite: Callable, make_settings: Callable[..., Settings], redis_server: RedisServer,
        redis_client: object) -> None:
    site = docsite("--limit", "5")
    settings = site_settings(make_settings, site, redis_server, sleep_between_requests_sec=0.3,
                             max_pages=8)
    result = run_crawl(settings)
    assert not result.complete and result.skipped["max_pages"] > 0  # the rest waits
    gap = settings.crawl.sleep_between_requests_sec
    arrived = sorted(entry["arrived"] for entry in site.requests())
    gaps = [b - a for a, b in zip(arrived, arrived[1:], strict=False)]
    assert len(arrived) >= 10
    # the crawler spaces request starts; the docsite sees arrivals, each late by a delivery delay
    # that a loaded 2-core machine stretches (up to ARRIVAL_JITTER): one gap shrinks by at most that
    assert min(gaps) >= gap - ARRIVAL_JITTER, gaps
    assert arrived[-1] - arrived[0] >= (len(arrived) - 1) * gap - ARRIVAL_JITTER, gaps


def test_rate_limited_host_is_backed_off_not_hammered(
        docsite: Callable, make_settings: Callable[..., Settings], redis_server: RedisServer,
        redis_client: object) -> None:
    # fault: docsite --rate-limit 4 answers 429 + Retry-After: 1 past 4 requests a second
    site = docsite("--limit", "3", "--rate-limit", "4")
    settings = site_settings(make_settings, site, redis_server, max_pages=10)
    result = run_crawl(settings)
    log = site.requests()
    limited = [entry for entry in log if entry["status"] == 429]
    assert limited and len(limited) <= len(log) // 2
    assert "failed" not in set(states(settings, site, sorted(ARTICLES)[:3]).values())
    assert result.counts.get("new", 0) >= 4
