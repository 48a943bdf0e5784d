"""Shared by the crawler's integration tests: settings aimed at a docsite, and log helpers."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.crawler.store import PageStore
from services.crawler.urls import page_id
from shared.settings import Settings
from tests.conftest import SHARED, Docsite, RedisServer, free_port

PREFIX = "/en-us/defender-endpoint"
ARTICLES: dict[str, dict] = json.loads((SHARED / "site" / "pages.json").read_text())


def site_settings(make_settings: Callable[..., Settings], site: Docsite,
                  redis: RedisServer | None = None, **crawl: Any) -> Settings:
    """Settings for a fast crawl of `site` (no politeness gap unless asked), on the test Redis
    or, without one, on no Redis at all (the crawl lock is then the file lock)."""
    values = {"sleep_between_requests_sec": 0, "retry_backoff_sec": 0.05,
              "request_timeout_sec": 5, **crawl}
    env: dict[str, Any] = {"crawl__base_url": site.base_url, "crawl__allowed_domain": site.domain}
    env.update({f"crawl__{key}": value for key, value in values.items()})
    if redis is not None:
        env.update(redis_port=redis.port, redis_password=redis.password)
    else:  # a port nobody listens on: never a developer's Redis
        env.update(redis_port=free_port())
    return make_settings(**env)


def article_url(site: Docsite, slug: str) -> str:
    return f"http://{site.domain}{PREFIX}/{slug}"


def article_paths(log: list[dict]) -> Counter[str]:
    """How often each article (not robots, sitemaps or fault pages) was requested."""
    slugs = {f"{PREFIX}/{slug}": slug for slug in ARTICLES}
    return Counter(slugs[entry["path"]] for entry in log if entry["path"] in slugs)


def states(settings: Settings, site: Docsite, slugs: list[str] | None = None) -> dict[str, str]:
    """slug -> state of each article in the page store."""
    store = PageStore(settings)
    try:
        found = {}
        for slug in slugs or list(ARTICLES):
            info = store.get(page_id(article_url(site, slug)))
            found[slug] = info.state if info else "missing"
        return found
    finally:
        store.close()


def raw_files(settings: Settings) -> dict[str, tuple[int, int]]:
    """name -> (inode, mtime_ns) of every raw HTML file: equal snapshots mean nothing rewritten."""
    folder: Path = settings.data_dir / "raw"
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()}
