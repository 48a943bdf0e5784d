"""MCP tools over stand-in services (httpx.MockTransport), through the SDK's in-process client:
a service's problem becomes a tool error with its message and when to retry; answers pass the
service's evidence through."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client, MCPError

from services.gateway.docs_api import DocsApi
from services.gateway.mcp_server import build_server
from shared.errors import problem
from shared.settings import Settings

Handler = Callable[[httpx.Request], httpx.Response]
DONE = {"text": "Run Set-MpPreference [1].", "mode": "rag", "refused": False, "cited": [1],
        "refusal_reason": None, "index_empty": False,
        "sources": [{"n": 1, "title": "Enable", "heading_path": ["Enable", "PowerShell"],
                     "url": "https://docs.example/enable#powershell", "anchor": "powershell",
                     "score": 0.9, "text": "..."}]}


def session(handler: Handler, scenario: Callable[[Client], Awaitable[Any]]) -> Any:
    """Run a scenario with the SDK's client, in-process, against stand-in services."""
    settings = Settings(retrieval_url="http://retrieval", generation_url="http://generation",
                        crawler_url="http://crawler", gateway_url="http://gateway")
    server = build_server(settings, DocsApi(settings, httpx.MockTransport(handler)))

    async def main() -> Any:
        async with Client(server) as client:
            return await scenario(client)

    return anyio.run(main)


def call(handler: Handler, tool: str, **arguments: Any) -> Any:
    return session(handler, lambda client: client.call_tool(tool, arguments))


def refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def problem_response(status: int, title: str, code: str, detail: str,
                     retry_after: int | None = None) -> httpx.Response:
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    return httpx.Response(status, json=problem(status, title, detail, code), headers=headers)


@pytest.mark.parametrize("status, title, code, tool, arguments", [
    (503, "Busy", "busy", "ask", {"question": "q"}),
    (429, "TooManyRequests", "too_many_requests", "search_docs", {"query": "q"}),
    (503, "NotReady", "not_ready", "search_docs", {"query": "q"})])
def test_busy_services_say_when_to_retry(status: int, title: str, code: str, tool: str,
                                         arguments: dict[str, Any]) -> None:
    result = call(lambda _: problem_response(status, title, code, "the queue is full (8)", 7),
                  tool, **arguments)
    assert result.is_error
    assert result.content[0].text.endswith("service: the queue is full (8) (retry in 7 s)")


def test_a_service_down_names_its_url_and_how_to_start_it() -> None:
    result = call(refuse, "ask", question="q")
    assert result.is_error and result.content[0].text.endswith(
        "the generation service is not answering at http://generation (ConnectError): "
        "start the stack with `make run` (retry in 5 s)")


@pytest.mark.parametrize("action", [lambda client: client.list_resources(),
                                    lambda client: client.read_resource("mde://pages/ab12")])
def test_page_resources_with_the_crawler_down_say_so(
        action: Callable[[Client], Awaitable[Any]]) -> None:
    async def scenario(client: Client) -> None:
        with pytest.raises(MCPError, match=r"^the crawler service is not answering at "
                                           r"http://crawler \(ConnectError\): start the stack"):
            await action(client)

    session(refuse, scenario)


def test_an_empty_index_is_a_tool_error_for_ask_too() -> None:
    result = call(lambda _: httpx.Response(200, json={**DONE, "refused": True,
                                                      "index_empty": True, "sources": []}),
                  "ask", question="q")
    assert result.is_error and "the index is empty" in result.content[0].text


@pytest.mark.parametrize("evidence", [None, [{"n": 1, "kind": "code", "url": "u#a",
                                              "text": "Set-MpPreference -X AuditMode"}]])
def test_ask_passes_evidence_through(evidence: list[dict[str, Any]] | None) -> None:
    def generate(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/generate"
        assert request.headers["accept"] == "application/json"
        return httpx.Response(200, json={**DONE, **({"evidence": evidence} if evidence else {})})

    answer = call(generate, "ask", question="q").structured_content
    assert answer["evidence"] == (evidence or [])
    assert answer["sources"] == [{"n": 1, "title": "Enable", "score": 0.9,
                                  "heading_path": ["Enable", "PowerShell"],
                                  "url": "https://docs.example/enable#powershell"}]


def test_bad_arguments_are_refused_by_the_schema_before_any_request() -> None:
    def unexpected(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no request expected: {request.url}")

    assert call(unexpected, "search_docs", query="q", top_k=500).is_error
    assert call(unexpected, "ask", question="q", mode="poetry").is_error
    assert call(unexpected, "get_section", url="file:///etc/passwd").is_error
