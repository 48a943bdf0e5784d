"""The in-memory frontier: admission reasons, breadth-first order, max_pages, second round."""

from __future__ import annotations

from services.crawler.frontier import Frontier
from services.crawler.robots import RobotsRules
from services.crawler.urls import Scope
from shared.settings import CrawlSettings

BASE = "https://learn.microsoft.com/en-us/defender-endpoint/"


def frontier(**overrides: object) -> Frontier:
    crawl = CrawlSettings(**{"max_depth": 2, "max_pages": 4, "max_query_variants": 1,
                             **overrides})
    return Frontier(crawl, Scope.from_settings(crawl))


def test_admission_counts_each_reason_once_per_url() -> None:
    todo = frontier()
    todo.robots = RobotsRules("User-agent: *\nDisallow: /*/private/", "bot")
    admitted = todo.admit([
        (BASE + "a", 1), (BASE + "a", 1), (BASE + "deep", 3), (BASE + "private/x", 1),
        ("https://example.com/x", 1), ("https://learn.microsoft.com/de-de/defender-endpoint/a", 1),
        (BASE + "pager?page=1", 1), (BASE + "pager?page=2", 1)])
    assert admitted == [(BASE + "a", 1), (BASE + "pager?page=1", 1)]
    assert dict(todo.skipped) == {"depth": 1, "robots": 1, "other_host": 1,
                                  "other_language": 1, "query_variants": 1}


def test_breadth_first_and_bounded_by_max_pages() -> None:
    todo = frontier()
    todo.admit([(BASE + "deeper", 2), (BASE + "b", 1), (BASE + "c", 1), (BASE, 0)])
    todo.admit([(BASE + "e", 1)])
    order = []
    while todo.ready():
        order.append(todo.pop())
    assert order == [(BASE, 0), (BASE + "b", 1), (BASE + "c", 1), (BASE + "e", 1)]
    assert len(todo.queue) == 1  # max_pages reached: left for the next crawl


def test_transient_failures_get_one_second_round() -> None:
    todo = frontier()
    todo.admit([(BASE + "a", 1)])
    url, depth = todo.pop()
    assert todo.defer(url, depth) and not todo.ready()
    todo.second_round()
    assert todo.pop() == (url, depth) and not todo.defer(url, depth)


def test_restore_queues_only_pending_and_remembers_the_rest() -> None:
    todo = frontier()
    todo.restore([BASE, BASE + "a", BASE + "b"], [(BASE + "b", 1)], {"robots": 3})
    assert todo.taken == 2 and todo.pop() == (BASE + "b", 1)
    assert todo.admit([(BASE + "a", 1)]) == [] and todo.skipped["robots"] == 3
