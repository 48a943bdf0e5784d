"""The crawl loop on a tiny MockTransport site: depth, robots failure, a crash on one page."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from services.crawler import outcome
from services.crawler.crawl import Crawler
from services.crawler.ledger import CrawlLedger
from services.crawler.robots import RobotsUnavailableError
from services.crawler.store import PageStore
from shared.settings import Settings

PREFIX = "/en-us/defender-endpoint"
BASE = f"http://docs.test{PREFIX}"
PAGES = {"": ["a", "b"], "a": ["c"], "b": [], "c": []}  # slug -> linked slugs
HTML = {"content-type": "text/html; charset=utf-8"}


def site(robots_status: int = 200, asked: list[str] | None = None) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        (asked if asked is not None else []).append(path)
        if path == "/custom-sitemap.xml":
            return httpx.Response(200, text=f"<urlset><url><loc>{BASE}/c</loc></url></urlset>")
        if path == "/robots.txt":
            return httpx.Response(robots_status, text="User-agent: *\nDisallow: /private/\n")
        slug = path.removeprefix(PREFIX).strip("/")
        if path.startswith(PREFIX) and slug in PAGES:
            links = "".join(f'<a href="{BASE}/{link}">{link}</a>' for link in PAGES[slug])
            return httpx.Response(200, headers=HTML,
                                  text=f"<html><title>{slug}</title><body>{links}</body></html>")
        return httpx.Response(404)
    return httpx.MockTransport(handler)


def settings_for(tmp_path: Path, **crawl: object) -> Settings:
    crawl = {"base_url": BASE + "/", "allowed_domain": "docs.test",
             "sleep_between_requests_sec": 0, **crawl}
    return Settings(data_dir=tmp_path, crawl=crawl)


def test_links_are_followed_to_max_depth(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, max_depth=1)
    result = Crawler(settings, PageStore(settings), transport=site()).run()
    assert result.counts == {"new": 3} and result.skipped == {"depth": 1} and result.complete


def test_unreachable_robots_fails_the_crawl_and_says_why(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, max_retries=0)
    store = PageStore(settings)
    with pytest.raises(RobotsUnavailableError):
        Crawler(settings, store, transport=site(robots_status=503)).run()
    crawl = CrawlLedger(store).list_crawls().items[0]
    assert crawl.status == "failed" and "robots.txt unreachable" in (crawl.message or "")
    assert store.list_pages().total == 0


def test_a_crash_on_one_page_does_not_stop_the_crawl(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    real = outcome.classify

    def classify(url: str, *args: object, **kwargs: object) -> outcome.Outcome:
        if url.endswith("/b"):
            raise RuntimeError("odd page")
        return real(url, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(outcome, "classify", classify)
    settings = settings_for(tmp_path)
    store = PageStore(settings)
    result = Crawler(settings, store, transport=site()).run()
    assert result.counts == {"new": 3, "failed": 1}
    failed = store.list_pages(state="failed").items[0]
    assert failed.url == f"{BASE}/b" and failed.error == "internal error: RuntimeError: odd page"


def test_configured_sitemaps_replace_the_discovered_ones(tmp_path: Path) -> None:
    asked: list[str] = []
    settings = settings_for(tmp_path, max_depth=1,
                            sitemap_urls=["http://docs.test/custom-sitemap.xml"])
    result = Crawler(settings, PageStore(settings), transport=site(asked=asked)).run()
    assert result.counts == {"new": 4}  # c is listed in the sitemap, so at depth 1
    assert "/custom-sitemap.xml" in asked and "/sitemap.xml" not in asked
