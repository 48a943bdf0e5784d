"""The crawl's to-do list in memory: breadth-first, deduplicated, bounded, with a second round.

The ledger keeps the same URLs in SQLite so a killed crawl can rebuild this on its next run.
"""

from __future__ import annotations

import heapq
import logging
from collections import Counter

from services.crawler.robots import RobotsRules
from services.crawler.urls import QueryBudget, Scope
from shared.settings import CrawlSettings

log = logging.getLogger(__name__)


class Frontier:
    """Admits URLs (scope, depth, robots, query variants), hands them out by depth, counts skips."""

    def __init__(self, crawl: CrawlSettings, scope: Scope) -> None:
        self.scope = scope
        self.max_depth, self.max_pages = crawl.max_depth, crawl.max_pages
        self.robots = RobotsRules(None, crawl.user_agent, respect=False)  # replaced once read
        self.budget = QueryBudget(crawl.max_query_variants)
        self.queue: list[tuple[int, int, str]] = []  # (depth, order, url)
        self.seen: set[str] = set()
        self.skipped: Counter[str] = Counter()  # URLs never requested, by reason
        self.taken = 0  # URLs handed out (max_pages bounds this)
        self.deferred: list[tuple[int, str]] = []  # transient failures, for the second round
        self.retried: set[str] = set()

    def restore(self, known: list[str], pending: list[tuple[str, int]],
                skipped: dict[str, int]) -> None:
        """Rebuild from the ledger: everything known is seen, only what is pending is queued."""
        self.seen.update(known)
        self.budget = QueryBudget(self.budget.limit, known)
        for order, (url, depth) in enumerate(pending):
            heapq.heappush(self.queue, (depth, order, url))
        self.taken = len(known) - len(pending)
        self.skipped.update(skipped)

    def admit(self, items: list[tuple[str, int]]) -> list[tuple[str, int]]:
        """Queue the new, in-bounds URLs among (url, depth) and return them (for the ledger)."""
        admitted = []
        for url, depth in items:
            if url in self.seen:
                continue
            reason = self.reject(url, depth)
            if reason:
                self.skipped[reason] += 1
                continue
            self.seen.add(url)
            admitted.append((url, depth))
            heapq.heappush(self.queue, (depth, len(self.seen), url))
        return admitted

    def reject(self, url: str, depth: int) -> str | None:
        """Why a normalised URL will not be requested, or None."""
        reason = self.scope.reason(url)
        if reason:
            return reason
        if depth > self.max_depth:
            return "depth"
        if not self.robots.allowed(url):
            return "robots"
        return None if self.budget.admit(url) else "query_variants"

    def ready(self) -> bool:
        return bool(self.queue) and self.taken < self.max_pages

    def pop(self) -> tuple[str, int]:
        depth, _, url = heapq.heappop(self.queue)
        self.taken += 1
        return url, depth

    def defer(self, url: str, depth: int) -> bool:
        """Put a transient failure aside for one more round; False when it had its second go."""
        if url in self.retried:
            return False
        self.retried.add(url)
        self.deferred.append((depth, url))
        return True

    def second_round(self) -> None:
        """Requeue the deferred URLs once everything else is done: the site may have recovered."""
        if self.deferred:
            log.info("second round for %d URLs with transient errors", len(self.deferred))
        for depth, url in self.deferred:
            heapq.heappush(self.queue, (depth, 0, url))
            self.taken -= 1  # counted again when handed out
        self.deferred = []
