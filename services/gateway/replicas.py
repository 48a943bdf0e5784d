"""Generation replicas behind the gateway (`GENERATION_URLS`): least in flight first; a replica
that fails its /ready or refuses a connection is skipped until a later /ready probe passes."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time

import httpx

log = logging.getLogger(__name__)


class Replicas:
    def __init__(self, urls: list[str], probe_every: float = 2.0) -> None:
        self.urls = list(urls)
        self.in_flight = dict.fromkeys(self.urls, 0)
        self.healthy = dict.fromkeys(self.urls, True)  # optimistic until a probe or a request fails
        self.probe_every = probe_every
        self.turn = itertools.count()

    def order(self) -> list[str]:
        """Healthy replicas, least in flight first (ties rotate); the others last, as a fallback."""
        start = next(self.turn) % len(self.urls)
        rotated = self.urls[start:] + self.urls[:start]
        return sorted(rotated, key=lambda url: (not self.healthy[url], self.in_flight[url]))

    def started(self, url: str) -> None:
        self.in_flight[url] += 1

    def ended(self, url: str) -> None:
        self.in_flight[url] = max(self.in_flight[url] - 1, 0)

    def failed(self, url: str, why: str) -> None:
        if self.healthy[url]:
            log.warning("generation replica %s skipped until it is ready again: %s", url, why)
        self.healthy[url] = False

    async def probe(self, client: httpx.AsyncClient) -> None:
        """One /ready round over every replica."""
        async def check(url: str) -> None:
            try:
                ok = (await client.get(f"{url}/ready", timeout=3.0)).status_code == 200
            except httpx.HTTPError as error:
                ok, why = False, type(error).__name__
            else:
                why = "/ready is not 200"
            if ok and not self.healthy[url]:
                log.info("generation replica %s is ready again", url)
                self.healthy[url] = True
            elif not ok:
                self.failed(url, why)

        await asyncio.gather(*(check(url) for url in self.urls))

    async def watch(self, client: httpx.AsyncClient) -> None:
        """Probe forever (the gateway's lifespan cancels it); only when there is a choice."""
        while len(self.urls) > 1:
            started = time.monotonic()
            await self.probe(client)
            await asyncio.sleep(max(self.probe_every - (time.monotonic() - started), 0.1))
