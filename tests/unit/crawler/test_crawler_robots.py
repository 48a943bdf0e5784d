"""robots.txt rules: wildcards, the slashed form of a normalised URL, and unreachable files."""

from __future__ import annotations

import pytest

from services.crawler.robots import RobotsRules, RobotsUnavailableError, robots_url

UA = "MDE-Learn-Chatbot/0.1 (+local docs assistant)"
ROBOTS = """User-agent: *
Disallow: /api/
Disallow: /*/search/
Disallow: /en-us/defender-endpoint/private/
Crawl-delay: 2

User-agent: OtherBot
Disallow: /

Sitemap: http://h/sitemap.xml
"""


@pytest.fixture
def rules() -> RobotsRules:
    return RobotsRules(ROBOTS, UA)


@pytest.mark.parametrize(("path", "allowed"), [
    ("/en-us/defender-endpoint/page", True),
    ("/en-us/search/results", False),  # wildcard rule
    ("/de-de/search/x", False),
    ("/api/thing", False),
    ("/en-us/defender-endpoint/private/internal-draft", False),
    ("/en-us/defender-endpoint/private", False),  # normalised form of the disallowed folder
])
def test_wildcard_and_prefix_rules(rules: RobotsRules, path: str, allowed: bool) -> None:
    assert rules.allowed(f"http://h{path}") is allowed


def test_sitemaps_and_crawl_delay(rules: RobotsRules) -> None:
    assert rules.sitemaps == ["http://h/sitemap.xml"]
    assert rules.crawl_delay == 2.0


def test_not_respecting_robots_allows_everything() -> None:
    rules = RobotsRules(ROBOTS, UA, respect=False)
    assert rules.allowed("http://h/api/x")
    assert rules.crawl_delay == 0.0


def test_missing_robots_means_no_rules() -> None:
    rules = RobotsRules.from_response(404, "", UA)
    assert rules.allowed("http://h/api/x")


@pytest.mark.parametrize("status", [None, 500, 503])
def test_unreachable_robots_refuses_the_crawl(status: int | None) -> None:
    with pytest.raises(RobotsUnavailableError):
        RobotsRules.from_response(status, "", UA)


def test_robots_url_is_at_the_host_root() -> None:
    assert robots_url("http://127.0.0.1:8600/en-us/x?y=1") == "http://127.0.0.1:8600/robots.txt"
