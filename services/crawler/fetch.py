"""Polite HTTP for the crawler: per-host limits, redirects checked hop by hop, bounded bodies,
retries.

Every answer becomes an `Answer`; nothing here raises for a bad page, so one hostile URL can
never stop a crawl.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx

from services.crawler.document import is_html, media_type
from shared.settings import CrawlSettings

log = logging.getLogger(__name__)

MAX_THROTTLED = 10  # 429s tolerated per URL; they pause the host instead of spending a try
RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}
RedirectCheck = Callable[[str], str | None]  # target URL -> reason it is refused, or None


@dataclass
class Answer:
    """What one URL gave after redirects and retries."""

    url: str
    final_url: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None
    retryable: bool = False
    retry_after: float | None = None
    attempts: int = 1
    received: int = 0  # body bytes read so far

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")


def _failed(answer: Answer, error: str) -> Answer:
    """A broken exchange: worth another try."""
    answer.error, answer.retryable = error, True
    return answer


class HostGate:
    """At most `concurrency` requests in flight and `gap` seconds between request starts."""

    def __init__(self, concurrency: int, gap: float) -> None:
        self.slots = asyncio.Semaphore(concurrency)
        self.gap = gap
        self.next_start = 0.0
        self.sent_at = 0.0  # when the last request's headers went out (after any connect)
        self.not_before = 0.0  # set by a 429's Retry-After: the whole host waits
        self.lock = asyncio.Lock()

    async def trace(self, event: str, info: dict) -> None:
        """httpcore's trace hook: a new connection delays the send, and the gap counts from it."""
        if event.endswith("send_request_headers.started"):
            self.sent_at = max(self.sent_at, time.monotonic())

    def pause(self, seconds: float) -> None:
        self.not_before = max(self.not_before, time.monotonic() + seconds)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self.slots:
            async with self.lock:  # starts are serialised, so the gap holds across all workers
                while (wait := max(self.next_start, self.sent_at + self.gap, self.not_before)
                       - time.monotonic()) > 0:
                    await asyncio.sleep(wait)
                self.next_start = time.monotonic() + self.gap  # sleeps overrun: count from now
            yield


def retry_after_seconds(value: str | None, cap: float) -> float | None:
    """Seconds from a Retry-After header (delta or HTTP date), capped; None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), cap)
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return min(max(0.0, when - time.time()), cap)


class Fetcher:
    """An httpx.AsyncClient with the crawl's politeness rules; use as an async context manager."""

    def __init__(self, crawl: CrawlSettings, refuse_redirect: RedirectCheck | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.crawl = crawl
        self.refuse_redirect = refuse_redirect or (lambda url: None)
        self.gates: dict[str, HostGate] = {}
        self.requests = 0
        limits = httpx.Limits(max_connections=crawl.concurrency * 4,
                              max_keepalive_connections=crawl.concurrency * 2)
        self.client = httpx.AsyncClient(
            headers={"User-Agent": crawl.user_agent,
                     "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"},
            timeout=httpx.Timeout(crawl.request_timeout_sec), limits=limits,
            follow_redirects=False, transport=transport)

    async def __aenter__(self) -> "Fetcher":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    def gate(self, url: str) -> HostGate:
        host = urlsplit(url).netloc
        if host not in self.gates:
            self.gates[host] = HostGate(self.crawl.concurrency,
                                        self.crawl.sleep_between_requests_sec)
        return self.gates[host]

    def set_gap(self, url: str, seconds: float) -> None:
        """Widen the gap for a host (robots.txt Crawl-delay); never below the configured one."""
        gate = self.gate(url)
        gate.gap = max(self.crawl.sleep_between_requests_sec, seconds)

    async def get(self, url: str, headers: dict[str, str] | None = None, html_only: bool = True,
                  max_bytes: int | None = None) -> Answer:
        """GET with retries: 5xx, timeouts and broken answers back off; a 429 pauses the host."""
        tries, throttled = 0, 0
        while True:
            answer = await self.follow(url, headers or {}, html_only, max_bytes)
            if not answer.retryable:
                break
            if answer.status == 429 and throttled < MAX_THROTTLED:
                throttled += 1
                self.gate(answer.final_url).pause(answer.retry_after or self.backoff(throttled))
                continue
            tries += 1
            if tries > self.crawl.max_retries:
                answer.error = f"{answer.error} (gave up after {tries} tries)"
                break
            await asyncio.sleep(answer.retry_after if answer.retry_after is not None
                                else self.backoff(tries))
        answer.attempts = tries + throttled + 1
        return answer

    def backoff(self, tries: int) -> float:
        """Exponential, capped, with jitter so parallel retries do not arrive together."""
        delay = min(self.crawl.retry_backoff_sec * 2 ** (tries - 1), self.crawl.max_backoff_sec)
        return delay * random.uniform(0.5, 1.0)

    async def follow(self, url: str, headers: dict[str, str], html_only: bool,
                     max_bytes: int | None) -> Answer:
        """One try: follow redirects while they stay in scope and do not loop."""
        chain, current = [url], url
        for _ in range(self.crawl.max_redirects + 1):
            answer = await self.exchange(current, headers, html_only, max_bytes)
            location = answer.headers.get("location")
            if answer.status not in (301, 302, 303, 307, 308) or not location:
                answer.url = url
                return answer
            target = urljoin(current, location)
            if target in chain:
                return Answer(url, target, answer.status, answer.headers,
                              error=f"redirect loop: {' -> '.join(chain + [target])}")
            reason = self.refuse_redirect(target)
            if reason:
                return Answer(url, target, answer.status, answer.headers,
                              error=f"redirect to {target} not followed: {reason}")
            chain.append(target)
            current = target
        return Answer(url, current, error=f"more than {self.crawl.max_redirects} redirects")

    async def exchange(self, url: str, headers: dict[str, str], html_only: bool,
                       max_bytes: int | None) -> Answer:
        """One HTTP request through the host's gate, the body read up to the size limit."""
        answer, gate = Answer(url, url), self.gate(url)
        async with gate.slot():
            self.requests += 1
            try:
                async with asyncio.timeout(self.crawl.request_timeout_sec):
                    return await self._read(answer, headers, html_only,
                                            max_bytes or self.crawl.max_page_bytes, gate)
            except (TimeoutError, httpx.TimeoutException):
                return _failed(answer, self._timeout_error(answer))
            except httpx.RemoteProtocolError as error:
                return _failed(answer, f"incomplete answer: {error}")
            except httpx.TransportError as error:
                return _failed(answer, f"{type(error).__name__}: {error}")

    def _timeout_error(self, answer: Answer) -> str:
        limit = f"{self.crawl.request_timeout_sec:g}s"
        declared = answer.headers.get("content-length", "")
        if answer.status is None:
            return f"timeout after {limit}"
        if declared.isdigit() and answer.received < int(declared):
            return (f"truncated: {answer.received} of {declared} bytes arrived "
                    f"before the {limit} timeout")
        return f"timeout after {limit} reading the body"

    async def _read(self, answer: Answer, headers: dict[str, str], html_only: bool,
                    max_bytes: int, gate: HostGate) -> Answer:
        """Fill `answer` as the response arrives, so a timeout can say how far it got."""
        async with self.client.stream("GET", answer.url, headers=headers,
                                      extensions={"trace": gate.trace}) as response:
            answer.final_url, answer.status = str(response.url), response.status_code
            answer.headers = {k.lower(): v for k, v in response.headers.items()}
            status = response.status_code
            if status in RETRY_STATUSES:
                answer.error, answer.retryable = f"HTTP {status}", True
                answer.retry_after = retry_after_seconds(response.headers.get("retry-after"),
                                                         self.crawl.max_retry_after_sec)
                return answer
            if status >= 400:
                answer.error = f"HTTP {status}"
                return answer
            if status != 200:  # 304 and redirects carry no body we want
                return answer
            if html_only and not is_html(answer.content_type):
                answer.error = f"not HTML ({media_type(answer.content_type)})"
                return answer
            return await self._body(response, answer, max_bytes)

    async def _body(self, response: httpx.Response, answer: Answer, max_bytes: int) -> Answer:
        """Stream the body and stop past max_bytes (counted after decompression)."""
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            answer.error = f"too large: {declared} bytes declared, limit {max_bytes}"
            return answer
        chunks = []
        async for chunk in response.aiter_bytes():
            answer.received += len(chunk)
            if answer.received > max_bytes:
                answer.error = f"too large: over {max_bytes} bytes, aborted"
                return answer
            chunks.append(chunk)
        answer.body = b"".join(chunks)
        return answer
