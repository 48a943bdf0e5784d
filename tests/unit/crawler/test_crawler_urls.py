"""URL normalisation, scope and the query-variant budget."""

from __future__ import annotations

import pytest

from services.crawler.urls import QueryBudget, Scope, normalise, page_id
from shared.settings import CrawlSettings

STRIP = CrawlSettings().strip_query_params
BASE = "https://learn.microsoft.com/en-us/defender-endpoint/"


@pytest.mark.parametrize("variant", [
    "https://learn.microsoft.com/en-us/defender-endpoint/page",
    "https://learn.microsoft.com/en-us/defender-endpoint/page#section",
    "https://learn.microsoft.com/en-us/defender-endpoint/page/",
    "https://learn.microsoft.com/en-us/defender-endpoint/page?view=o365-worldwide",
    "https://learn.microsoft.com/en-us/defender-endpoint/page?view=o365-worldwide#x",
    "https://LEARN.Microsoft.com:443/en-us/defender-endpoint/page?utm_source=x&WT.mc_id=y",
    "HTTPS://learn.microsoft.com/en-us/defender-endpoint//page",
    "page?view=o365-worldwide",
])
def test_variants_of_a_page_are_one_url(variant: str) -> None:
    assert normalise(variant, BASE, STRIP) == BASE + "page"


def test_real_query_parameters_are_kept_and_sorted() -> None:
    assert normalise("pager?page=2&a=1", BASE, STRIP) == BASE + "pager?a=1&page=2"


@pytest.mark.parametrize("href", ["mailto:x@example.com", "javascript:void(0)", "ftp://h/x",
                                  "http://[bad", "http://h:99999/x"])
def test_non_web_urls_are_dropped(href: str) -> None:
    assert normalise(href, BASE, STRIP) is None


def test_start_url_keeps_its_identity_with_or_without_slash() -> None:
    assert normalise(BASE) == normalise(BASE.rstrip("/"))
    assert normalise("http://127.0.0.1:80/") == "http://127.0.0.1/"


def test_page_id_is_a_hash_not_a_path() -> None:
    ident = page_id("https://h/../../etc/passwd")
    assert len(ident) == 32 and ident.isalnum()


@pytest.fixture
def scope() -> Scope:
    return Scope.from_settings(CrawlSettings(exclude_url_patterns=["?view=", "/search/"]))


@pytest.mark.parametrize(("url", "reason"), [
    (BASE + "page", None),
    (BASE.rstrip("/"), None),
    ("https://learn.microsoft.com/en-us/defender-endpoint", None),
    ("https://learn.microsoft.com/de-de/defender-endpoint/page", "other_language"),
    ("https://learn.microsoft.com/en-us/defender-endpointx/page", "outside_prefix"),
    ("https://learn.microsoft.com/en-us/training", "outside_prefix"),
    ("https://example.com/en-us/defender-endpoint/page", "other_host"),
    ("https://learn.microsoft.com/en-us/defender-endpoint/search/x", "excluded_pattern"),
])
def test_scope_reasons(scope: Scope, url: str, reason: str | None) -> None:
    assert scope.reason(url) == reason


def test_scope_of_a_local_mirror_is_host_and_port() -> None:
    crawl = CrawlSettings(base_url="http://127.0.0.1:8600/en-us/defender-endpoint/",
                          allowed_domain="127.0.0.1:8600")
    scope = Scope.from_settings(crawl)
    assert scope.reason("http://127.0.0.1:8600/en-us/defender-endpoint/a") is None
    assert scope.reason("http://127.0.0.1:8601/en-us/defender-endpoint/a") == "other_host"
    assert scope.reason("http://127.0.0.2:8600/en-us/defender-endpoint/a") == "other_host"


def test_query_budget_bounds_variants_per_path() -> None:
    budget = QueryBudget(3)
    admitted = [budget.admit(f"{BASE}pager?page={n}") for n in range(1, 8)]
    assert admitted == [True, True, True, False, False, False, False]
    assert budget.admit(BASE + "pager")  # the plain path is not a variant
    assert budget.admit(BASE + "other?page=1")


def test_query_budget_counts_known_urls_after_a_restart() -> None:
    budget = QueryBudget(2, [f"{BASE}pager?page=1", f"{BASE}pager?page=2"])
    assert not budget.admit(f"{BASE}pager?page=3")
