"""Readiness of the other services, one /ready check each (the gateway runs them concurrently)."""

from __future__ import annotations

import httpx

from services.gateway.replicas import Replicas
from shared.service import ReadyCheck
from shared.settings import Settings


def service_check(name: str, settings: Settings, timeout: float = 3.0) -> ReadyCheck:
    url = settings.service_url(name)

    async def check() -> tuple[bool, str]:
        try:
            async with httpx.AsyncClient(timeout=timeout) as client:
                response = await client.get(f"{url}/ready")
            return response.status_code == 200, f"{url}: HTTP {response.status_code}"
        except httpx.HTTPError as error:
            return False, f"{url}: {type(error).__name__} {error}".strip()

    return check


def replicas_check(replicas: Replicas, timeout: float = 3.0) -> ReadyCheck:
    """Generation is ready when any replica is; the detail lists them (and refreshes their state)."""

    async def check() -> tuple[bool, str]:
        async with httpx.AsyncClient(timeout=timeout) as client:
            await replicas.probe(client)
        ready = [url for url in replicas.urls if replicas.healthy[url]]
        return bool(ready), f"{len(ready)}/{len(replicas.urls)} replicas ready: {', '.join(ready)}"

    return check
