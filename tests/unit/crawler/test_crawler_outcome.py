"""The per-URL rules: when to skip, when to ask conditionally, and which state an answer gives."""

from __future__ import annotations

import pytest

from services.crawler.fetch import Answer
from services.crawler.outcome import classify, plan, skipped
from services.crawler.store import StoredPage
from services.crawler.urls import page_id
from shared.schemas import PageInfo

URL = "http://h/en-us/defender-endpoint/page"
NOW = 1_700_000_000.0
DAY = 86400.0
BODY = b"<html><head><title>T</title><link rel='canonical' href='https://pub/page#x'></head>" \
       b"<body><a href='other#frag'>o</a><a href='other?view=x'>o</a></body></html>"


def stored(state: str = "new", content_hash: str | None = "h1", status: int = 200,
           checked_at: float = NOW - DAY, **extra: object) -> StoredPage:
    info = PageInfo(id=page_id(URL), url=URL, state=state, content_hash=content_hash,
                    status=status, etag='"e1"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT",
                    title="Old", **extra)
    return StoredPage(info, checked_at, ["http://h/en-us/defender-endpoint/x"])


def ok(body: bytes = BODY, **headers: str) -> Answer:
    return Answer(URL, URL, 200, {"content-type": "text/html", **headers}, body)


def test_first_visit_fetches_outright() -> None:
    assert plan(None, NOW - 10 * DAY, True, NOW, 7, False).headers == {}


def test_lastmod_before_the_last_check_skips() -> None:
    assert plan(stored(), NOW - 2 * DAY, True, NOW, 7, False).skip == "lastmod"


def test_lastmod_after_the_last_check_asks_conditionally() -> None:
    step = plan(stored(), NOW - DAY / 2, True, NOW, 7, False)
    assert step.skip is None
    assert step.headers == {"If-None-Match": '"e1"',
                            "If-Modified-Since": "Mon, 01 Jan 2024 00:00:00 GMT"}


def test_revalidate_days_forces_a_check() -> None:
    old = stored(checked_at=NOW - 8 * DAY)
    assert plan(old, NOW - 30 * DAY, True, NOW, 7, False).skip is None
    assert plan(stored(), NOW - 30 * DAY, True, NOW, 0, False).skip is None


def test_full_crawl_neither_skips_nor_asks_conditionally() -> None:
    step = plan(stored(), NOW - 30 * DAY, True, NOW, 7, True)
    assert step.skip is None and step.headers == {}


def test_known_dead_link_is_not_rechecked_until_revalidate_days() -> None:
    dead = stored(state="failed", content_hash=None, status=404)
    assert plan(dead, None, False, NOW, 7, False).skip == "known_gone"
    assert plan(dead, None, True, NOW, 7, False).skip is None  # back in the sitemap
    assert plan(stored(state="failed", content_hash=None, status=404, checked_at=NOW - 8 * DAY),
                None, False, NOW, 7, False).skip is None


def test_a_deleted_page_is_fetched_without_validators() -> None:
    assert plan(stored(state="deleted", status=200), None, False, NOW, 7, False).headers == {}


def test_skip_keeps_the_page_and_marks_it_unchanged() -> None:
    result = skipped(stored(), "lastmod", "c2")
    assert result.info.state == "unchanged" and result.info.crawl_id == "c2"
    assert result.info.content_hash == "h1" and result.html is None and result.links is None


def test_new_page_reads_title_canonical_links() -> None:
    result = classify(URL, None, ok(etag='"e2"'), "c1", NOW, ["view"])
    assert result.info.state == "new" and result.detail == "fetched"
    assert result.info.title == "T" and result.info.canonical_url == "https://pub/page"
    assert result.info.etag == '"e2"' and result.html is not None
    assert result.links == ["http://h/en-us/defender-endpoint/other"]


def test_same_body_is_unchanged_and_different_body_changed() -> None:
    first = classify(URL, None, ok(), "c1", NOW, [])
    same = stored(content_hash=first.info.content_hash)
    assert classify(URL, same, ok(), "c2", NOW, []).info.state == "unchanged"
    changed = classify(URL, same, ok(BODY + b"<p>edit</p>"), "c2", NOW, [])
    assert changed.info.state == "changed" and changed.info.content_hash != same.info.content_hash


def test_304_is_unchanged_and_keeps_content() -> None:
    result = classify(URL, stored(), Answer(URL, URL, 304, {"etag": '"e3"'}), "c2", NOW, [])
    assert (result.info.state, result.detail) == ("unchanged", "not_modified")
    assert result.info.content_hash == "h1" and result.info.etag == '"e3"'
    assert result.checked_at == NOW


@pytest.mark.parametrize("status", [404, 410])
def test_gone_page_is_deleted_and_a_dead_link_failed(status: int) -> None:
    gone = Answer(URL, URL, status, {}, error=f"HTTP {status}")
    assert classify(URL, stored(), gone, "c2", NOW, []).info.state == "deleted"
    assert classify(URL, None, gone, "c2", NOW, []).info.state == "failed"


def test_a_page_back_after_deletion_is_new() -> None:
    result = classify(URL, stored(state="deleted"), ok(), "c3", NOW, [])
    assert result.info.state == "new"


def test_error_fails_but_keeps_the_last_good_content() -> None:
    error = Answer(URL, URL, 500, {}, error="HTTP 500 (gave up after 4 tries)")
    result = classify(URL, stored(), error, "c2", NOW, [])
    assert result.info.state == "failed" and result.info.content_hash == "h1"
    assert result.info.error == "HTTP 500 (gave up after 4 tries)" and result.checked_at is None


def test_empty_body_fails() -> None:
    result = classify(URL, None, ok(b"  "), "c1", NOW, [])
    assert (result.info.state, result.info.error) == ("failed", "empty body")


def test_a_crash_on_one_page_fails_it_and_keeps_its_content() -> None:
    from services.crawler.outcome import crashed

    result = crashed(URL, stored(), "c2", ValueError("odd markup"))
    assert result.info.state == "failed" and result.info.content_hash == "h1"
    assert result.info.error == "internal error: ValueError: odd markup"
    assert crashed(URL, None, "c2", ValueError("x")).info.content_hash is None
