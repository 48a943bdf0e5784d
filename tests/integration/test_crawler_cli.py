"""`mde crawl`, `mde pages`, `mde crawls` in-process without Redis (the file lock only)."""

from __future__ import annotations

from collections.abc import Callable

from typer.testing import CliRunner

from services.crawler.lock import CrawlLock
from shared.cli import app
from shared.settings import Settings
from tests.integration.crawler_kit import site_settings


def test_crawl_pages_and_crawls_commands(docsite: Callable,
                                         make_settings: Callable[..., Settings]) -> None:
    site = docsite("--limit", "2")
    settings = site_settings(make_settings, site)  # no Redis
    runner = CliRunner()

    with CrawlLock(settings, None):
        refused = runner.invoke(app, ["crawl"])
    assert refused.exit_code == 1 and "already running" in refused.output

    crawled = runner.invoke(app, ["crawl"])
    assert crawled.exit_code == 0, crawled.output
    assert "new=3" in crawled.output and "finished" in crawled.output

    listed = runner.invoke(app, ["pages", "--state", "new"])
    assert listed.exit_code == 0 and "3 pages" in listed.output
    failed = runner.invoke(app, ["pages", "--state", "failed", "--limit", "1"])
    assert "HTTP 404" in failed.output and "more: use --offset" in failed.output
    crawls = runner.invoke(app, ["crawls"], env={"COLUMNS": "200"})
    assert crawls.exit_code == 0 and "1 crawls" in crawls.output and "finished" in crawls.output
