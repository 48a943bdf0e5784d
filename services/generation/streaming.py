"""Consuming answer events for non-streaming responses, stopping when the client goes away."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request

from shared.errors import ServiceError

log = logging.getLogger(__name__)

POLL_SEC = 0.25


async def collect(events: AsyncIterator[dict[str, Any]], request: Request) -> dict[str, Any]:
    """The `done` event's data; the generation is cancelled if the client disconnects first."""

    async def run() -> dict[str, Any]:
        done: dict[str, Any] = {}
        async for event in events:
            if event["event"] == "done":
                done = event["data"]
        return done

    task = asyncio.create_task(run())
    while not task.done():
        await asyncio.wait({task}, timeout=POLL_SEC)
        if not task.done() and await request.is_disconnected():
            log.info("client went away: cancelling its generation")
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return {}
    return task.result()


def error_event(error: Exception) -> dict[str, Any]:
    """An error after the response started, in the shape of a problem document."""
    if isinstance(error, ServiceError):
        return {"status": error.status, "code": error.code, "detail": error.detail}
    return {"status": 500, "code": "internal", "detail": f"{type(error).__name__}: {error}"}
