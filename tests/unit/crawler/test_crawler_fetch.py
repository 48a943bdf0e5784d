"""The crawler's HTTP layer on httpx.MockTransport: faults the docsite cannot produce on cue."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from services.crawler.fetch import Answer, Fetcher, HostGate, retry_after_seconds
from shared.settings import CrawlSettings

URL = "http://docs.test/en-us/defender-endpoint/page"
HTML = {"content-type": "text/html; charset=utf-8"}


def crawl(**overrides: object) -> CrawlSettings:
    values: dict = {"sleep_between_requests_sec": 0, "retry_backoff_sec": 0.01,
                    "max_retries": 2, "request_timeout_sec": 1.0}
    return CrawlSettings(**{**values, **overrides})


def run(handler: Callable, settings: CrawlSettings | None = None, url: str = URL,
        refuse: Callable[[str], str | None] | None = None, **kwargs: object) -> Answer:
    async def go() -> Answer:
        transport = httpx.MockTransport(handler)
        async with Fetcher(settings or crawl(), refuse, transport) as fetcher:
            return await fetcher.get(url, **kwargs)
    return asyncio.run(go())


def test_user_agent_and_conditional_headers_are_sent() -> None:
    seen: list[httpx.Headers] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(304)

    answer = run(handler, headers={"If-None-Match": '"abc"'})
    assert answer.status == 304 and answer.error is None
    assert seen[0]["user-agent"] == CrawlSettings().user_agent
    assert seen[0]["if-none-match"] == '"abc"'


def test_5xx_is_retried_then_succeeds() -> None:
    # fault: two 502s before the page answers
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(502) if len(calls) < 3 else httpx.Response(200, headers=HTML,
                                                                         content=b"<p>ok</p>")
    answer = run(handler)
    assert answer.status == 200 and answer.body == b"<p>ok</p>" and answer.attempts == 3


def test_gives_up_after_max_retries_and_says_why() -> None:
    # fault: a permanent 500
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(500)

    answer = run(handler, crawl(max_retries=3))
    assert len(calls) == 4 and answer.error == "HTTP 500 (gave up after 4 tries)"


def test_retry_after_on_503_is_honoured() -> None:
    # fault: a 503 with Retry-After: 1
    arrivals: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        arrivals.append(time.monotonic())
        if len(arrivals) == 1:
            return httpx.Response(503, headers={"Retry-After": "1"})
        return httpx.Response(200, headers=HTML, content=b"<p>ok</p>")

    assert run(handler).status == 200
    assert arrivals[1] - arrivals[0] >= 0.95


def test_429_pauses_the_host_without_spending_a_try() -> None:
    # fault: three 429s with Retry-After: 0, with max_retries=0
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) <= 3:
            return httpx.Response(429, headers={"Retry-After": "0"})
        return httpx.Response(200, headers=HTML, content=b"<p>ok</p>")

    answer = run(handler, crawl(max_retries=0))
    assert answer.status == 200 and answer.attempts == 4


def test_backoff_is_exponential_and_capped() -> None:
    fetcher = Fetcher(crawl(retry_backoff_sec=1.0, max_backoff_sec=3.0))
    delays = [fetcher.backoff(n) for n in (1, 2, 3, 4, 5)]
    assert 0.5 <= delays[0] <= 1.0 and 1.0 <= delays[1] <= 2.0
    assert all(delay <= 3.0 for delay in delays)
    asyncio.run(fetcher.client.aclose())


@pytest.mark.parametrize(("value", "expected"), [("5", 5.0), ("999", 120.0), (None, None),
                                                 ("soon", None),
                                                 ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)])
def test_retry_after_values(value: str | None, expected: float | None) -> None:
    assert retry_after_seconds(value, 120.0) == expected


def test_timeout_is_retried_then_recorded() -> None:
    # fault: the transport times out on every read
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    answer = run(handler, crawl(max_retries=1))
    assert answer.error == "timeout after 1s (gave up after 2 tries)" and answer.status is None


def test_broken_connection_is_retried() -> None:
    # fault: the server drops the connection mid-answer once
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.RemoteProtocolError("peer closed connection", request=request)
        return httpx.Response(200, headers=HTML, content=b"<p>ok</p>")

    assert run(handler).body == b"<p>ok</p>"


async def endless() -> AsyncIterator[bytes]:
    while True:
        yield b"x" * 65536
        await asyncio.sleep(0)


def test_streamed_body_without_length_is_aborted_past_the_limit() -> None:
    # fault: a chunked body that never ends and declares no Content-Length
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=HTML, content=endless())

    answer = run(handler, crawl(max_page_bytes=200_000))
    assert answer.error == "too large: over 200000 bytes, aborted" and answer.body == b""


def test_declared_length_past_the_limit_is_refused_unread() -> None:
    # fault: Content-Length of 50 MB
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={**HTML, "content-length": "50000000"},
                              content=endless())

    assert run(handler).error == "too large: 50000000 bytes declared, limit 5000000"


def test_non_html_is_skipped_and_not_retried() -> None:
    # fault: a PDF where a page was linked
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(200, headers={"content-type": "application/pdf"}, content=b"%PDF")

    answer = run(handler)
    assert answer.error == "not HTML (application/pdf)" and len(calls) == 1


def test_redirects_are_followed_in_scope_and_refused_out_of_it() -> None:
    # fault: a redirect chain that ends on another host
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/page"):
            return httpx.Response(301, headers={"location": "/en-us/defender-endpoint/moved"})
        if request.url.path.endswith("/moved"):
            return httpx.Response(302, headers={"location": "https://evil.test/x"})
        return httpx.Response(200, headers=HTML, content=b"<p>x</p>")

    def refuse(url: str) -> str | None:
        return "out of scope (other_host)" if "evil" in url else None

    answer = run(handler, refuse=refuse)
    assert answer.url == URL and answer.final_url == "https://evil.test/x"
    assert answer.error == "redirect to https://evil.test/x not followed: out of scope (other_host)"


def test_redirect_loop_is_detected() -> None:
    # fault: a -> b -> a
    def handler(request: httpx.Request) -> httpx.Response:
        target = "/b" if request.url.path == "/a" else "/a"
        return httpx.Response(302, headers={"location": target})

    answer = run(handler, url="http://docs.test/a")
    assert answer.error == "redirect loop: http://docs.test/a -> http://docs.test/b -> http://docs.test/a"


def test_too_many_redirects() -> None:
    # fault: an endless chain of fresh redirect targets
    hops = []

    def handler(request: httpx.Request) -> httpx.Response:
        hops.append(1)
        return httpx.Response(302, headers={"location": f"/hop{len(hops)}"})

    answer = run(handler, crawl(max_redirects=3), url="http://docs.test/a")
    assert answer.error == "more than 3 redirects"


def test_gate_keeps_the_gap_and_the_concurrency() -> None:
    gap = 0.1
    # the OS may pause this process between the gate's clock read and the test's (a loaded 2-core
    # machine: tens of ms), which shortens one measured gap by as much
    jitter = 0.05

    async def go() -> tuple[list[float], int]:
        gate, starts, inflight, peak = HostGate(2, gap), [], 0, 0

        async def one() -> None:
            nonlocal inflight, peak
            async with gate.slot():
                starts.append(time.monotonic())
                inflight += 1
                peak = max(peak, inflight)
                await asyncio.sleep(0.02)
                inflight -= 1

        await asyncio.gather(*(one() for _ in range(8)))
        return starts, peak

    starts, peak = asyncio.run(go())
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert peak <= 2 and min(gaps) >= gap - jitter, gaps
    assert starts[-1] - starts[0] >= (len(starts) - 1) * gap - jitter  # the gap on average
