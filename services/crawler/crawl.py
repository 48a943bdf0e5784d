"""One crawl: robots.txt, sitemaps, then breadth-first over in-scope links, into the page store.

Callers (the RQ job, `mde crawl`, tests) hold the crawl lock around `Crawler.run`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from urllib.parse import urljoin

import httpx

from services.crawler import outcome
from services.crawler.fetch import Fetcher
from services.crawler.frontier import Frontier
from services.crawler.ledger import CrawlLedger
from services.crawler.robots import RobotsRules, robots_url
from services.crawler.sitemap import changed_before, collect
from services.crawler.store import PageStore
from services.crawler.urls import Scope, locale_of, normalise
from shared.progress import Progress, null_progress
from shared.settings import Settings

log = logging.getLogger(__name__)

CHECKPOINT_EVERY = 25  # pages between saves of the skip counters
ROBOTS_MAX_BYTES = 500_000


@dataclass
class CrawlResult:
    crawl_id: str
    counts: dict[str, int]
    complete: bool
    resumed: bool
    requests: int
    duration_sec: float
    skipped: dict[str, int] = field(default_factory=dict)
    details: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


class Crawler:
    """Crawls `settings.crawl.base_url` into a PageStore, resuming an interrupted crawl."""

    def __init__(self, settings: Settings, store: PageStore, progress: Progress = null_progress,
                 on_open: Callable[[str], None] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.crawl = settings.crawl
        self.store, self.ledger = store, CrawlLedger(store)
        self.progress, self.on_open, self.transport = progress, on_open, transport
        self.scope = Scope.from_settings(self.crawl)
        self.strip = list(self.crawl.strip_query_params)
        self.base = normalise(self.crawl.base_url, strip_params=self.strip) or self.crawl.base_url
        self.frontier = Frontier(self.crawl, self.scope)
        self.changed_by: dict[str, float | None] = {}  # sitemap URL -> proof of freshness
        self.states: Counter[str] = Counter()
        self.active = self.done = self.requests_before = 0
        self.wake = asyncio.Condition()
        self.crawl_id, self.full, self.resumed = "", False, False

    def run(self, full: bool = False) -> CrawlResult:
        """Crawl to the end (or max_pages) and return counts per state."""
        return asyncio.run(self.run_async(full))

    async def run_async(self, full: bool = False) -> CrawlResult:
        started = time.monotonic()
        self._open(full)
        async with Fetcher(self.crawl, self._refuse, self.transport) as self.fetcher:
            try:
                await self._prepare()
                await self._drain()
            except Exception as error:  # an interrupt leaves the crawl `running`, to resume
                self.ledger.finish(self.crawl_id, "failed", False, f"{type(error).__name__}: "
                                   f"{error}", dict(self.frontier.skipped), self._requests())
                raise
        complete = not self.frontier.queue
        if complete:
            gone = self.store.mark_unreached(self.crawl_id)
            log.info("crawl %s: %d pages no longer reachable", self.crawl_id, gone)
        else:
            self.frontier.skipped["max_pages"] += len(self.frontier.queue)
        self.ledger.finish(self.crawl_id, "finished", complete, None,
                           dict(self.frontier.skipped), self._requests())
        self.store.write_manifest()
        return self._result(complete, time.monotonic() - started)

    def _requests(self) -> int:
        fetcher = getattr(self, "fetcher", None)
        return self.requests_before + (fetcher.requests if fetcher else 0)

    def _result(self, complete: bool, duration: float) -> CrawlResult:
        counts = self.ledger.counts(self.crawl_id)
        result = CrawlResult(self.crawl_id, counts, complete, self.resumed, self._requests(),
                             round(duration, 3), dict(self.frontier.skipped),
                             self.ledger.details(self.crawl_id))
        self.progress("pages", self.done, self.done, "done", **counts)
        log.info("crawl %s finished in %.1fs: %s", self.crawl_id, duration, counts)
        return result

    def _open(self, full: bool) -> None:
        """Resume the crawl a killed process left running, or start a new one."""
        interrupted = self.ledger.interrupted()
        if interrupted and full and not interrupted[1]:
            self.ledger.abandon(interrupted[0], "replaced by a full crawl")
            interrupted = None
        if interrupted:
            self.crawl_id, self.full = interrupted
            self.resumed = True
            self._restore()
        else:
            self.crawl_id, self.full = self.ledger.start(full), full
        log.info("crawl %s %s (full=%s)", self.crawl_id,
                 "resumed" if self.resumed else "started", self.full)
        if self.on_open:
            self.on_open(self.crawl_id)

    def _restore(self) -> None:
        pending = self.ledger.pending(self.crawl_id)
        skipped, self.requests_before = self.ledger.stats(self.crawl_id)
        self.frontier.restore(self.ledger.known(self.crawl_id), pending, skipped)
        self.done = self.frontier.taken
        self.states.update(self.ledger.counts(self.crawl_id))
        log.info("resuming with %d done, %d pending", self.done, len(pending))

    async def _prepare(self) -> None:
        """robots.txt, then sitemaps, then the seeds: the start page and every sitemap URL."""
        self.progress("robots", 0, 1)
        answer = await self.fetcher.get(robots_url(self.base), html_only=False,
                                        max_bytes=ROBOTS_MAX_BYTES)
        text = answer.body.decode("utf-8", "replace")
        status = answer.status if not answer.retryable else None
        robots = RobotsRules.from_response(status, text, self.crawl.user_agent,
                                           self.crawl.respect_robots_txt)
        self.frontier.robots = robots
        self.fetcher.set_gap(self.base, robots.crawl_delay)
        self.progress("robots", 1, 1)
        self.progress("sitemaps", 0, 1)
        roots = self.crawl.sitemap_urls or robots.sitemaps + [urljoin(self.base, "/sitemap.xml")]
        entries = await collect(self._sitemap_bytes, roots, self.crawl.max_sitemaps,
                                locale_of(self.scope.prefix), self.crawl.max_sitemap_bytes)
        for loc, lastmod in entries.items():
            url = normalise(loc, strip_params=self.strip)
            if url and self.scope.reason(url) is None:
                self.changed_by[url] = changed_before(lastmod)
        self.progress("sitemaps", 1, 1, f"{len(self.changed_by)} pages listed")
        log.info("sitemaps list %d in-scope pages", len(self.changed_by))
        self._add([(self.base, 0)] + [(url, 1) for url in self.changed_by])

    async def _sitemap_bytes(self, url: str) -> bytes | None:
        normal = normalise(url, strip_params=())
        allowed = self.frontier.robots.allowed(url)
        if not normal or normal.split("/")[2] != self.scope.domain or not allowed:
            log.info("sitemap %s is off the allowed host or disallowed: not read", url)
            return None
        answer = await self.fetcher.get(url, html_only=False,
                                        max_bytes=self.crawl.max_sitemap_bytes)
        if answer.error or answer.status != 200:
            log.warning("sitemap %s: %s", url, answer.error or answer.status)
            return None
        return answer.body

    def _refuse(self, url: str) -> str | None:
        """Why a redirect target may not be followed (scope or robots), or None."""
        normal = normalise(url, strip_params=self.strip)
        if normal is None:
            return "not a web URL"
        reason = self.scope.reason(normal)
        if reason:
            return f"out of scope ({reason})"
        return None if self.frontier.robots.allowed(normal) else "disallowed by robots.txt"

    def _add(self, items: list[tuple[str, int]]) -> None:
        """Admit new URLs, saved before the page that found them is recorded (for resume)."""
        self.ledger.push(self.crawl_id, self.frontier.admit(items))

    async def _drain(self) -> None:
        """Workers take URLs breadth-first; the host gate, not the worker count, bounds requests."""
        workers = min(self.crawl.concurrency * 8, 64)  # many wait out Retry-After at once
        await asyncio.gather(*(self._worker() for _ in range(workers)))

    async def _worker(self) -> None:
        frontier = self.frontier
        while True:
            async with self.wake:
                await self.wake.wait_for(lambda: self.active == 0 or frontier.ready())
                if not frontier.ready() and self.active == 0:
                    frontier.second_round()
                if not frontier.ready():
                    return
                url, depth = frontier.pop()
                self.active += 1
            try:
                await self._visit(url, depth)
            except Exception as error:  # a bug on one page must not end the crawl
                log.exception("crawling %s failed", url)
                self._save(outcome.crashed(url, self.store.by_url(url), self.crawl_id, error))
            finally:
                async with self.wake:
                    self.active -= 1
                    self.wake.notify_all()

    async def _visit(self, url: str, depth: int) -> None:
        stored = self.store.by_url(url)
        now = time.time()
        step = outcome.plan(stored, self.changed_by.get(url), url in self.changed_by, now,
                            self.crawl.revalidate_days, self.full)
        if step.skip and stored is not None:
            result = outcome.skipped(stored, step.skip, self.crawl_id)
        else:
            answer = await self.fetcher.get(url, step.headers)
            if answer.retryable and self.frontier.defer(url, depth):  # not saved: pending
                return
            if answer.retryable and answer.error:
                answer.error = answer.error.removesuffix(")") + ", in 2 rounds)"
            result = outcome.classify(url, stored, answer, self.crawl_id, now, self.strip)
        links = result.links if result.links is not None else (stored.links if stored else None)
        if result.info.state != "deleted":  # a 304 or a skip leads on through the stored links
            self._add([(link, depth + 1) for link in links or []])
        self._save(result)

    def _save(self, result: outcome.Outcome) -> None:
        info = result.info
        write = result.html is not None and (info.state in ("new", "changed")
                                             or not self.store.raw_path(info.id).exists())
        self.store.save(info, checked_at=result.checked_at, links=result.links,
                        html=result.html if write else None, detail=result.detail)
        if info.state == "failed":  # dead links are common and only worth a debug line
            log.log(logging.DEBUG if result.detail == "gone" else logging.INFO, "failed %s: %s",
                    info.url, info.error)
        self.done += 1
        self.states[info.state] += 1
        if self.done % CHECKPOINT_EVERY == 0:
            self.ledger.checkpoint(self.crawl_id, dict(self.frontier.skipped), self._requests())
        total = min(len(self.frontier.seen), self.crawl.max_pages)
        self.progress("pages", self.done, total, info.url,
                      **self.states)


def run_crawl(settings: Settings, full: bool = False, progress: Progress = null_progress,
              on_open: Callable[[str], None] | None = None) -> CrawlResult:
    """Take the crawl lock (Redis when reachable, plus a file lock), then crawl into the store."""
    from services.crawler.lock import CrawlLock, reachable_redis

    with CrawlLock(settings, reachable_redis(settings)):
        store = PageStore(settings)
        try:
            return Crawler(settings, store, progress, on_open).run(full)
        finally:
            store.close()
