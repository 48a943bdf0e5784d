"""The documentation as a Model Context Protocol server: tools and page resources over the stack.

Two transports share one server definition: stdio (`mde mcp`, for desktop clients that start a
command) and streamable HTTP on the gateway at `/mcp` (see mcp_http.py). The tools call the
services over HTTP (docs_api.py), so this process never opens the store or the model.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.types import INTERNAL_ERROR, Resource, ToolAnnotations
from pydantic import BaseModel, Field

from services.gateway import sections
from services.gateway.docs_api import DocsApi, tool_message
from shared.errors import NotFound, ServiceError
from shared.schemas import PAGE_ID_PATTERN
from shared.settings import Settings

log = logging.getLogger(__name__)

NAME = "mde-docs"
PAGE_URI = "mde://pages/{page_id}"
STORED_STATES = ("new", "changed", "unchanged")  # a crawled page whose text is kept
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)
INSTRUCTIONS = (
    "Microsoft Defender for Endpoint documentation, indexed on this machine. Use search_docs to "
    "find passages with their url#anchor links, get_section to read a linked section whole, ask "
    "for a short answer with verbatim evidence and numbered sources, index_status to see how "
    "current the index is. Cite the links you use.")


class Hit(BaseModel):
    title: str
    heading_path: list[str]
    url: str = Field(description="page URL with #anchor; get_section(url) reads it whole")
    score: float
    text: str


class SearchResult(BaseModel):
    query: str
    mode: str
    hits: list[Hit]
    expanded: list[str] = Field(default=[], description=(
        "long forms of the query's acronyms that the search added (the docs define them)"))


class Source(BaseModel):
    n: int = Field(description="the [n] the answer and its evidence cite")
    title: str
    heading_path: list[str]
    url: str
    score: float


class Answer(BaseModel):
    text: str
    refused: bool = Field(description="true when the docs do not cover the question")
    refusal_reason: str | None = None
    evidence: list[dict[str, Any]] = Field(
        description="documented sentences, steps, table rows and code, verbatim, with [n] and url")
    sources: list[Source]
    cited: list[int] = []
    mode: str


class SectionText(BaseModel):
    url: str
    title: str
    heading_path: list[str]
    text: str
    passages: int = Field(description="how many indexed passages the text was rebuilt from")


class UpdateSummary(BaseModel):
    id: str
    status: str
    trigger: str
    stages: list[str]
    created_at: str | None
    finished_at: str | None
    error: str | None = None


class IndexStatus(BaseModel):
    pages: int = Field(description="pages in the index")
    passages: int = Field(description="indexed passages (chunks)")
    index_updated_at: str | None
    last_update: UpdateSummary | None
    update_running: bool


@contextmanager
def tool_errors() -> Iterator[None]:
    """A service's error becomes a tool error with its message (and when to retry)."""
    try:
        yield
    except ServiceError as error:
        raise ToolError(tool_message(error)) from None


def iso(timestamp: float | None) -> str | None:
    if not timestamp:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


class DocsServer(MCPServer[Any]):
    """MCPServer whose resource list also holds every crawled page, read from the crawler."""

    def __init__(self, api: DocsApi, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api = api

    async def list_resources(self) -> list[Resource]:
        listed = await super().list_resources()
        try:
            pages = await self.api.pages()
        except ServiceError as error:  # the SDK would hide a ResourceError's message here
            raise MCPError(code=INTERNAL_ERROR, message=tool_message(error)) from None
        return listed + [
            Resource(uri=PAGE_URI.format(page_id=p["id"]), name=p.get("title") or p["url"],
                     description=p.get("canonical_url") or p["url"], mime_type="text/markdown")
            for p in pages if p.get("state") in STORED_STATES]


def build_server(settings: Settings, api: DocsApi | None = None) -> DocsServer:
    """The MCP server with its tools and page resources, calling the services with `api`."""
    api = api or DocsApi(settings)

    @asynccontextmanager
    async def lifespan(_: MCPServer[Any]) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await api.close()

    level = settings.log_level.upper()
    server = DocsServer(api, name=NAME, title="MDE Learn docs", instructions=INSTRUCTIONS,
                        lifespan=lifespan, log_level=level if level in LEVELS else "INFO")
    _search_tools(server, api)
    _answer_tools(server, api)
    _page_resources(server, api)
    return server


def _search_tools(server: MCPServer[Any], api: DocsApi) -> None:
    @server.tool(title="Search the MDE documentation", annotations=READ_ONLY)
    async def search_docs(
            query: Annotated[str, Field(min_length=1, max_length=2000,
                                        description="what to look for, in words or exact terms")],
            top_k: Annotated[int, Field(ge=1, le=20, description="how many passages")] = 5,
            mode: Annotated[Literal["hybrid", "dense", "sparse"], Field(
                description="hybrid: meaning and exact terms; dense: meaning; sparse: terms")]
            = "hybrid") -> SearchResult:
        """Passages of the Microsoft Defender for Endpoint docs that match a query, best first,
        each with its page title, heading path, url#anchor link and score."""
        with tool_errors():
            found = await api.search(query, top_k, mode)
        hits = [Hit(title=h["title"], heading_path=h["heading_path"], score=round(h["score"], 4),
                    url=h["url"] + (f"#{h['anchor']}" if h.get("anchor") else ""), text=h["text"])
                for h in found["hits"]]
        return SearchResult(query=query, mode=found.get("mode", mode), hits=hits,
                            expanded=found.get("expanded", []))

    @server.tool(title="Read a docs section", annotations=READ_ONLY)
    async def get_section(url: Annotated[str, Field(
            max_length=sections.MAX_URL_CHARS,
            description="a docs link from search_docs or ask: page URL, optionally #anchor")]
            ) -> SectionText:
        """The whole section a docs link points to (or the whole page without #anchor), as clean
        text with its headings, rebuilt from the index."""
        with tool_errors():
            page_url, anchor = sections.split_link(url)
            found = sections.section(page_url, anchor, await api.page_chunks(url=page_url))
        return SectionText(url=found.url, title=found.title, heading_path=found.heading_path,
                           text=found.text, passages=found.passages)


def _answer_tools(server: MCPServer[Any], api: DocsApi) -> None:
    @server.tool(title="Ask the MDE documentation", annotations=READ_ONLY)
    async def ask(
            question: Annotated[str, Field(min_length=1, max_length=2000,
                                           description="a question about Defender for Endpoint")],
            mode: Annotated[Literal["rag", "ft", "rag_ft"], Field(
                description="rag: answer from retrieved docs; ft: the fine-tuned model alone; "
                            "rag_ft: both")] = "rag") -> Answer:
        """A short answer from the local model with the documentation's own evidence (verbatim,
        cited [n]) and numbered sources; `refused` is true when the docs do not cover it."""
        with tool_errors():
            done = await api.ask(question, mode)
        sources = [Source(n=s["n"], title=s["title"], heading_path=s.get("heading_path", []),
                          url=s["url"], score=round(s["score"], 4)) for s in done["sources"]]
        return Answer(text=done["text"], refused=done.get("refused", False),
                      refusal_reason=done.get("refusal_reason"),
                      evidence=list(done.get("evidence") or []), sources=sources,
                      cited=done.get("cited", []), mode=done.get("mode", mode))

    @server.tool(title="Index status", annotations=READ_ONLY)
    async def index_status() -> IndexStatus:
        """How many pages and passages are indexed, when the index last changed, the last update
        and whether one is running now."""
        with tool_errors():
            collection = await api.collection()
            pages = await api.indexed_pages()
            last = await api.last_update()
        summary = UpdateSummary(
            id=last["id"], status=last["status"], trigger=last.get("trigger", ""),
            stages=[s["name"] for s in last.get("stages", [])],
            created_at=iso(last.get("created_at")), finished_at=iso(last.get("finished_at")),
            error=last.get("error")) if last else None
        return IndexStatus(pages=len(pages), passages=collection["points"],
                           index_updated_at=iso(collection.get("updated_at")), last_update=summary,
                           update_running=bool(last and last["status"] in ("queued", "running")))


def _page_resources(server: MCPServer[Any], api: DocsApi) -> None:
    @server.resource(PAGE_URI, name="page", title="A crawled docs page", mime_type="text/markdown",
                     description="title, canonical URL and clean text of one crawled page")
    async def page(page_id: str) -> str:
        if not re.fullmatch(PAGE_ID_PATTERN, page_id):
            raise ResourceNotFoundError(f"{page_id!r} is not a page id (hex, from the list)")
        try:
            info = await api.page(page_id)
            chunks = await api.page_chunks(page_id=page_id)
            if not chunks:
                raise NotFound(f"page {page_id} is crawled but not indexed yet")
        except NotFound as error:
            raise ResourceNotFoundError(error.detail) from None
        except ServiceError as error:
            raise ResourceError(tool_message(error)) from None
        url = info.get("canonical_url") or info["url"]
        title = info.get("title") or chunks[0].get("title", "")
        return f"# {title}\n\nURL: {url}\n\n" + sections.render(chunks)


async def run_stdio(settings: Settings) -> None:
    """Serve over stdin/stdout until the client closes them."""
    await build_server(settings).run_stdio_async()
