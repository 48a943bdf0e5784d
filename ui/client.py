"""HTTP client for the UI: it only talks to the services' APIs, never to their internals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

from shared.settings import Settings


class ServiceDown(Exception):
    """A service did not answer; the message says which and how to start it."""


class ChatClient:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def ready(self) -> dict[str, Any]:
        try:
            return httpx.get(f"{self.settings.gateway_url}/ready", timeout=5).json()
        except httpx.HTTPError as error:
            raise ServiceDown(f"the gateway at {self.settings.gateway_url} is not answering "
                              f"({type(error).__name__}); start the stack with `make run`") from None

    def generate(self, payload: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        """(event, data) pairs from the generation service's SSE stream."""
        url = f"{self.settings.generation_url}/generate"
        try:
            with httpx.stream("POST", url, json=payload, timeout=httpx.Timeout(10, read=300)) as response:
                if response.status_code != 200:
                    response.read()
                    detail = response.json().get("detail", response.text)
                    raise ServiceDown(f"generation answered {response.status_code}: {detail}")
                yield from parse_sse(response.iter_lines())
        except httpx.HTTPError as error:
            raise ServiceDown(f"the generation service at {self.settings.generation_url} is not "
                              f"answering ({type(error).__name__})") from None


def parse_sse(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Minimal Server-Sent Events parser: `event:` + `data:` lines, blank line ends an event."""
    event, data = "message", []
    for line in lines:
        if not line:
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
    if data:
        yield event, json.loads("\n".join(data))
