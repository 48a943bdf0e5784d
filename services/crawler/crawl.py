"""One crawl: robots.txt, sitemaps, then breadth-first over in-scope links, into the page store.

Callers (the RQ job, `mde crawl`, tests) hold the crawl lock around `Crawler.run`.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from urllib.parse import urljoin

import httpx

from services.crawler import outcome
from services.crawler.fetch import Fetcher
from services.crawler.ledger import CrawlLedger
from services.crawler.robots import RobotsRules, robots_url
from services.crawler.sitemap import changed_before, collect
from services.crawler.store import PageStore
from services.crawler.urls import QueryBudget, Scope, locale_of, normalise
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
        self.robots = RobotsRules(None, self.crawl.user_agent, respect=False)
        self.changed_by: dict[str, float | None] = {}  # sitemap URL -> proof of freshness
        self.queue: list[tuple[int, int, str]] = []  # (depth, order, url): breadth-first
        self.seen: set[str] = set()
        self.skipped: Counter[str] = Counter()
        self.states: Counter[str] = Counter()
        self.taken = self.active = self.done = self.requests_before = 0
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
                                   f"{error}", dict(self.skipped), self._requests())
                raise
        complete = not self.queue
        if complete:
            gone = self.store.mark_unreached(self.crawl_id)
            log.info("crawl %s: %d pages no longer reachable", self.crawl_id, gone)
        else:
            self.skipped["max_pages"] += len(self.queue)
        self.ledger.finish(self.crawl_id, "finished", complete, None, dict(self.skipped),
                           self._requests())
        self.store.write_manifest()
        return self._result(complete, time.monotonic() - started)

    def _requests(self) -> int:
        fetcher = getattr(self, "fetcher", None)
        return self.requests_before + (fetcher.requests if fetcher else 0)

    def _result(self, complete: bool, duration: float) -> CrawlResult:
        counts = self.ledger.counts(self.crawl_id)
        result = CrawlResult(self.crawl_id, counts, complete, self.resumed, self._requests(),
                             round(duration, 3), dict(self.skipped),
                             self.ledger.details(self.crawl_id))
        self.progress("pages", self.taken, self.taken, "done", **counts)
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
        known = self.ledger.known(self.crawl_id)
        pending = self.ledger.pending(self.crawl_id)
        self.seen.update(known)
        self.budget = QueryBudget(self.crawl.max_query_variants, known)
        for order, (url, depth) in enumerate(pending):
            heapq.heappush(self.queue, (depth, order, url))
        self.taken = self.done = len(known) - len(pending)
        self.states.update(self.ledger.counts(self.crawl_id))
        skipped, self.requests_before = self.ledger.stats(self.crawl_id)
        self.skipped.update(skipped)
        log.info("resuming with %d done, %d pending", self.taken, len(pending))

    async def _prepare(self) -> None:
        """robots.txt, then sitemaps, then the seeds: the start page and every sitemap URL."""
        if not hasattr(self, "budget"):
            self.budget = QueryBudget(self.crawl.max_query_variants)
        self.progress("robots", 0, 1)
        answer = await self.fetcher.get(robots_url(self.base), html_only=False,
                                        max_bytes=ROBOTS_MAX_BYTES)
        text = answer.body.decode("utf-8", "replace")
        status = answer.status if not answer.retryable else None
        self.robots = RobotsRules.from_response(status, text, self.crawl.user_agent,
                                                self.crawl.respect_robots_txt)
        self.fetcher.set_gap(self.base, self.robots.crawl_delay)
        self.progress("robots", 1, 1)
        self.progress("sitemaps", 0, 1)
        roots = self.robots.sitemaps + [urljoin(self.base, "/sitemap.xml")]
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
        if not normal or normal.split("/")[2] != self.scope.domain or not self.robots.allowed(url):
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
        return None if self.robots.allowed(normal) else "disallowed by robots.txt"

    def _add(self, items: list[tuple[str, int]]) -> None:
        """Admit new URLs to the frontier (saved before the page that found them is recorded)."""
        admitted = []
        for url, depth in items:
            if url in self.seen:
                continue
            reason = self._reject(url, depth)
            if reason:
                self.skipped[reason] += 1
                continue
            self.seen.add(url)
            admitted.append((url, depth))
            heapq.heappush(self.queue, (depth, len(self.seen), url))
        self.ledger.push(self.crawl_id, admitted)

    def _reject(self, url: str, depth: int) -> str | None:
        reason = self.scope.reason(url)
        if reason:
            return reason
        if depth > self.crawl.max_depth:
            return "depth"
        if not self.robots.allowed(url):
            return "robots"
        return None if self.budget.admit(url) else "query_variants"

    async def _drain(self) -> None:
        """Workers take URLs breadth-first; the host gate, not the worker count, bounds requests."""
        workers = min(self.crawl.concurrency * 4, 64)
        await asyncio.gather(*(self._worker() for _ in range(workers)))

    async def _worker(self) -> None:
        while True:
            async with self.wake:
                await self.wake.wait_for(lambda: self.active == 0 or self._ready())
                if not self._ready():
                    return
                depth, _, url = heapq.heappop(self.queue)
                self.taken += 1
                self.active += 1
            try:
                await self._visit(url, depth)
            finally:
                async with self.wake:
                    self.active -= 1
                    self.wake.notify_all()

    def _ready(self) -> bool:
        return bool(self.queue) and self.taken < self.crawl.max_pages

    async def _visit(self, url: str, depth: int) -> None:
        stored = self.store.by_url(url)
        now = time.time()
        step = outcome.plan(stored, self.changed_by.get(url), url in self.changed_by, now,
                            self.crawl.revalidate_days, self.full)
        if step.skip and stored is not None:
            result = outcome.skipped(stored, step.skip, self.crawl_id)
        else:
            answer = await self.fetcher.get(url, step.headers)
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
            self.ledger.checkpoint(self.crawl_id, dict(self.skipped), self._requests())
        self.progress("pages", self.done, min(len(self.seen), self.crawl.max_pages), info.url,
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
