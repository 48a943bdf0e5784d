"""The MCP tests' stack: an indexed docsite slice behind real retrieval, generation, crawler and
gateway services (threads of this process), and the SDK's own client over either transport:
stdio (`python -m shared.cli mcp` as a subprocess) or streamable HTTP (the gateway's /mcp)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.types import CallToolResult

from shared.settings import PROJECT_ROOT
from tests.conftest import SHARED, RedisServer, free_port
from tests.integration import generation_kit as kit
from tests.integration.index_kit import ServiceThread, environment, start_service

TOKEN = "mcp-test-token"
TRANSPORTS = ("stdio", "http")
SERVICES = ("retrieval", "generation", "crawler", "gateway")


def eval_question(question_id: str) -> dict[str, Any]:
    """One question of ../shared/eval/questions.jsonl (question, expected pages and anchors)."""
    for line in (SHARED / "eval" / "questions.jsonl").read_text().splitlines():
        item = json.loads(line)
        if item["id"] == question_id:
            return item
    raise KeyError(question_id)


@dataclass
class McpStack:
    env: dict[str, Any]  # settings every service (and the stdio subprocess) runs with
    base: Path
    threads: dict[str, ServiceThread] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.env[f'{service}_port']}"

    def stdio_env(self) -> dict[str, str]:
        return {**{key.upper(): str(value) for key, value in self.env.items()},
                "MDE_SECRETS_FILE": os.environ["MDE_SECRETS_FILE"], "LOG_LEVEL": "WARNING"}

    @asynccontextmanager
    async def client(self, transport: str, token: str | None = TOKEN) -> AsyncIterator[Client]:
        """The SDK's Client, connected over `transport` (http sends `token` as a bearer)."""
        if transport == "stdio":
            params = StdioServerParameters(command=sys.executable, args=["-m", "shared.cli", "mcp"],
                                           env=self.stdio_env(), cwd=str(PROJECT_ROOT))
            with (self.base / "mcp-stdio.log").open("a") as errlog:
                async with Client(stdio_client(params, errlog=errlog)) as client:
                    yield client
            return
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with create_mcp_http_client(headers=headers) as http:
            transport_streams = streamable_http_client(self.url("gateway") + "/mcp",
                                                       http_client=http)
            async with Client(transport_streams, mode="legacy" if transport == "http-legacy"
                              else "auto") as client:
                yield client

    def stop(self) -> None:
        for thread in reversed(list(self.threads.values())):
            thread.stop()


def stack_env(base: Path, redis: RedisServer, indexed: bool = True, **extra: Any) -> dict[str, Any]:
    """Settings for services on free ports over an indexed slice (or an empty index)."""
    values: dict[str, Any] = {
        "index__query_embedder": "local", "infer__context_tokens": 320, "infer__top_k": 3,
        "infer__max_new_tokens": 12, "infer__temperature": 0, "update__bootstrap": "false",
        "update__enabled": "false", "update_token": TOKEN, **extra}
    for name in SERVICES:
        port = free_port()
        values |= {f"{name}_port": port, f"{name}_url": f"http://127.0.0.1:{port}"}
    if indexed:
        return kit.index_slice(base, redis, values)
    return values | {"data_dir": base / "data", "redis_port": redis.port,
                     "redis_password": redis.password}


@contextmanager
def running(base: Path, redis: RedisServer, generation: bool = True,
            **options: Any) -> Iterator[McpStack]:
    """The services in threads (the gateway last), with their settings in the environment."""
    stack = McpStack(stack_env(base, redis, **options), base)
    with environment(stack.env):
        try:
            for name in ("retrieval", "crawler"):
                stack.threads[name] = start_service(name, stack.env[f"{name}_port"])
            if generation:
                from services.generation.app import create_app

                stack.threads["generation"] = kit.serve(
                    create_app(), stack.env["generation_port"]).service
            from services.gateway.app import create_app as gateway_app

            stack.threads["gateway"] = kit.serve(gateway_app(), stack.env["gateway_port"],
                                                 "gateway", "/health").service
            yield stack
        finally:
            stack.stop()


def structured(result: CallToolResult) -> dict[str, Any]:
    """A successful tool result's structured content (failing with the tool's message)."""
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def error_text(result: CallToolResult) -> str:
    assert result.is_error, result.structured_content
    return " ".join(getattr(block, "text", "") for block in result.content)
