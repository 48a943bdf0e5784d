"""The MCP server with the SDK's own client, over stdio (`mde mcp`) and the gateway's /mcp, against
real services over an indexed docsite slice: tools and schemas, search with working links, sections,
answers with evidence, refusals, page resources, service errors and the HTTP token."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client, MCPError

from tests.conftest import RedisServer
from tests.integration import generation_kit
from tests.integration import mcp_kit as kit

pytestmark = pytest.mark.slow
TOOLS = {"search_docs", "ask", "get_section", "index_status"}


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[kit.McpStack]:
    with kit.running(tmp_path_factory.mktemp("mcp"), redis_server) as started:
        yield started


def over(stack: kit.McpStack, transport: str,
         scenario: Callable[[Client], Awaitable[Any]], token: str | None = kit.TOKEN) -> Any:
    """Run one client scenario over a fresh connection."""
    async def main() -> Any:
        async with stack.client(transport, token) as client:
            return await scenario(client)

    return anyio.run(main)


def call_tool(stack: kit.McpStack, transport: str, name: str, **arguments: Any) -> dict[str, Any]:
    """One tool call over a fresh connection: its structured result."""
    async def scenario(client: Client) -> dict[str, Any]:
        return kit.structured(await client.call_tool(name, arguments))

    return over(stack, transport, scenario)


@pytest.mark.parametrize("transport", [*kit.TRANSPORTS, "http-legacy"])
def test_tools_are_listed_with_descriptions_and_schemas(stack: kit.McpStack,
                                                        transport: str) -> None:
    async def scenario(client: Client) -> Any:
        return (await client.list_tools()).tools

    tools = {tool.name: tool for tool in over(stack, transport, scenario)}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.description and tool.output_schema, tool.name
        assert tool.annotations and tool.annotations.read_only_hint
    search = tools["search_docs"].input_schema
    assert search["required"] == ["query"] and search["properties"]["top_k"]["default"] == 5
    assert search["properties"]["mode"]["enum"] == ["hybrid", "dense", "sparse"]
    assert tools["ask"].input_schema["properties"]["mode"]["default"] == "rag"
    assert tools["get_section"].input_schema["required"] == ["url"]
    assert tools["index_status"].input_schema.get("required", []) == []
    assert "evidence" in tools["ask"].output_schema["properties"]


@pytest.mark.parametrize("transport", kit.TRANSPORTS)
def test_search_finds_the_section_and_its_link_opens_it(stack: kit.McpStack,
                                                        transport: str) -> None:
    known = kit.eval_question("p001")  # answered under enable-controlled-folders#powershell
    expected = "/" + known["anchors"][0]

    async def scenario(client: Client) -> tuple[dict[str, Any], dict[str, Any]]:
        found = kit.structured(await client.call_tool("search_docs",
                                                      {"query": known["question"]}))
        hit = next(h for h in found["hits"] if h["url"].endswith(expected))
        return found, kit.structured(await client.call_tool("get_section", {"url": hit["url"]}))

    found, section = over(stack, transport, scenario)
    assert len(found["hits"]) == 5 and found["mode"] == "hybrid"
    assert expected in [h["url"][-len(expected):] for h in found["hits"][:3]], found["hits"]
    hit = next(h for h in found["hits"] if h["url"].endswith(expected))
    assert {"title", "heading_path", "score", "text"} <= set(hit)
    page, _, anchor = hit["url"].partition("#")
    assert f'id="{anchor}"' in stored_html(stack, page)  # the link's anchor exists on the page
    assert section["url"] == hit["url"] and section["heading_path"] == hit["heading_path"]
    assert section["text"].startswith("#" * len(hit["heading_path"]) + " "
                                      + hit["heading_path"][-1])
    assert hit["text"][-80:] in section["text"]
    assert all(fact in section["text"] for fact in known["must_include"])


def stored_html(stack: kit.McpStack, page_url: str) -> str:
    """The crawled HTML of a page, from the crawler's API."""
    crawler = stack.url("crawler")
    pages = httpx.get(f"{crawler}/pages", params={"limit": 100}, timeout=10).json()["items"]
    page = next(p for p in pages if page_url in (p["url"], p.get("canonical_url")))
    return httpx.get(f"{crawler}/pages/{page['id']}/html", timeout=10).text


@pytest.mark.parametrize("transport", kit.TRANSPORTS)
def test_get_section_whole_page_and_bad_links(stack: kit.McpStack, transport: str) -> None:
    async def scenario(client: Client) -> list[Any]:
        hit = kit.structured(await client.call_tool(
            "search_docs", {"query": "linux exclusions", "top_k": 1}))["hits"][0]
        page = hit["url"].partition("#")[0]
        return [kit.structured(await client.call_tool("get_section", {"url": page}))] + [
            await client.call_tool("get_section", {"url": url})
            for url in (page + "#no-such-anchor", page + "-missing", "ftp://example/x")]

    whole, no_anchor, unknown, not_http = over(stack, transport, scenario)
    assert whole["text"].startswith(f"# {whole['title']}\n") and whole["passages"] > 1
    assert "has no section #no-such-anchor; its anchors: #" in kit.error_text(no_anchor)
    assert "is not a page of the index" in kit.error_text(unknown)
    assert "is not an http(s) link" in kit.error_text(not_http)


@pytest.mark.parametrize("transport", kit.TRANSPORTS)
def test_ask_answers_with_sources_and_evidence(stack: kit.McpStack, transport: str) -> None:
    answer = call_tool(stack, transport, "ask", question=generation_kit.QUESTION)
    assert answer["refused"] is False and answer["mode"] == "rag" and answer["text"]
    assert answer["evidence"] and all(item["text"] for item in answer["evidence"])
    quoted = "\n".join(item["text"] for item in answer["evidence"])
    assert "Set-MpPreference" in quoted  # the documented cmdlet, verbatim
    first = answer["sources"][0]
    assert first["n"] == 1 and "controlled-folder" in first["url"] and first["title"]


@pytest.mark.parametrize("transport", kit.TRANSPORTS)
def test_off_topic_question_is_refused(stack: kit.McpStack, transport: str) -> None:
    answer = call_tool(stack, transport, "ask", question=generation_kit.OFF_TOPIC)
    assert answer["refused"] is True and answer["refusal_reason"]
    assert answer["sources"]  # the nearest pages, for the admin to look at


@pytest.mark.parametrize("transport", kit.TRANSPORTS)
def test_index_status_and_page_resources(stack: kit.McpStack, transport: str) -> None:
    async def scenario(client: Client) -> tuple[Any, Any, Any]:
        status = kit.structured(await client.call_tool("index_status", {}))
        listed = (await client.list_resources()).resources
        pages = [r for r in listed if str(r.uri).startswith("mde://pages/")]
        return status, pages, await client.read_resource(str(pages[0].uri))

    status, pages, read = over(stack, transport, scenario)
    assert status["pages"] >= len(generation_kit.SLUGS) and status["passages"] > status["pages"]
    assert status["index_updated_at"] and status["last_update"] is None
    assert status["update_running"] is False
    assert len(pages) == status["pages"] and all(p.name and p.description for p in pages)
    text = read.contents[0].text
    assert text.startswith(f"# {pages[0].name}\n\nURL: {pages[0].description}\n\n")
    assert len(text) > 500


def test_http_transport_needs_the_token(stack: kit.McpStack) -> None:
    url = stack.url("gateway") + "/mcp"
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": kit.TOKEN}):
        refused = httpx.post(url, json=body, headers=headers, timeout=10)
        assert refused.status_code == 401, headers
        assert refused.headers["content-type"] == "application/problem+json"
        assert "UPDATE_TOKEN" in refused.json()["detail"]
    with pytest.raises(ExceptionGroup) as caught:  # the SDK's client, with a wrong token
        over(stack, "http", lambda client: client.list_tools(), token="wrong")
    assert caught.group_contains(MCPError, match="error response", depth=None)
    cross_site = httpx.post(url, json=body, timeout=10, headers={
        "Authorization": f"Bearer {kit.TOKEN}", "Origin": "https://evil.example",
        "Accept": "application/json, text/event-stream"})
    assert cross_site.status_code == 403  # a web page's request to the loopback gateway


def test_empty_index_then_stopped_retrieval_are_tool_errors(
        redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.mktemp("mcp-empty")
    with kit.running(base, redis_server, indexed=False, generation=False) as empty:
        link = "http://127.0.0.1:1/en-us/defender-endpoint/linux-exclusions#scope"
        calls = [("search_docs", {"query": "tamper protection"}), ("get_section", {"url": link})]

        async def scenario(client: Client) -> list[str]:
            return [kit.error_text(await client.call_tool(name, args)) for name, args in calls]

        for transport in kit.TRANSPORTS:
            for message in over(empty, transport, scenario):
                assert re.fullmatch(r"Error executing tool \w+: the index is empty: "
                                    r".*`mde update`.*", message), message
        empty.threads.pop("retrieval").stop()  # fault: the retrieval service goes away
        for transport in kit.TRANSPORTS:
            for message in over(empty, transport, scenario):
                assert re.search(r"retrieval service is not answering at http://127\.0\.0\.1:"
                                 r"\d+ \(ConnectError\): start the stack with `make run` "
                                 r"\(retry in 5 s\)", message), message
