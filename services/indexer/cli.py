"""`mde process` and `mde index`: chunk crawled pages, and index them, from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from shared.errors import ServiceError
from shared.settings import Settings

console = Console()


def service_up(settings: Settings, name: str) -> bool:
    """Whether a service answers /health (then the CLI goes through it instead of opening files)."""
    import httpx

    try:
        return httpx.get(f"{settings.service_url(name)}/health", timeout=1.0).is_success
    except httpx.HTTPError:
        return False


def local_sink(settings: Settings, embedder: Any) -> Any:
    """The retrieval store opened in this process; exits with a hint when the service holds it."""
    from services.retrieval.retriever import Retriever
    from services.retrieval.store import StoreLocked, open_store

    try:
        store = open_store(settings)
    except StoreLocked as error:
        console.print(f"[red]{error}: the retrieval service owns the index; use --remote[/red]")
        raise typer.Exit(2) from None
    return Retriever(store, embedder, settings.index)


def process_command(
        html_dir: Optional[Path] = typer.Option(None, "--html-dir", help="chunk these *.html files "
                                                "instead of the crawled pages"),
        out: Optional[Path] = typer.Option(None, "--out", help="default "
                                           "DATA_DIR/processed/chunks.jsonl")) -> None:
    """Clean and chunk pages into chunks.jsonl for inspection (nothing is embedded)."""
    from services.indexer.indexing import INDEXABLE, page_chunks
    from services.indexer.peers import StorePageSource
    from shared.schemas import PageInfo
    from shared.settings import get_settings

    settings = get_settings()
    out = out or settings.data_dir / "processed" / "chunks.jsonl"
    if html_dir is not None:
        files = sorted(html_dir.glob("*.html"))
        items = [(PageInfo(id=f.stem, url=f.as_uri(), state="new"), f.read_text("utf-8", "replace"))
                 for f in files]
    else:
        source = StorePageSource(settings)
        items = [(p, source.html(p.id)) for p in source.pages() if p.state in INDEXABLE]
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with out.open("w", encoding="utf-8") as handle:
        for page, html in items:
            for chunk in page_chunks(page, html, settings.processing) if html else []:
                handle.write(json.dumps(chunk.model_dump(), ensure_ascii=False) + "\n")
                count += 1
    console.print(f"{len(items)} pages -> {count} chunks in {out}")


def index_command(
        full: bool = typer.Option(False, "--full", help="rebuild into a new shard/collection and "
                                  "switch to it when complete"),
        remote: bool = typer.Option(False, "--remote", help="go through the crawler, embedding "
                                    "and retrieval APIs, as the index worker does")) -> None:
    """Index crawled pages: what changed since the last run, or everything with --full."""
    from services.embedding.client import HttpEmbedder, LocalEmbedder
    from services.indexer import indexing
    from services.indexer.peers import HttpPageSource, RetrievalClient, StorePageSource
    from shared.progress import bar_progress
    from shared.settings import get_settings

    settings = get_settings()
    retrieval_up = service_up(settings, "retrieval")
    if retrieval_up and not remote:
        console.print("the retrieval service is running: writing through its API")
    use_api = remote or service_up(settings, "embedding")
    embedder = HttpEmbedder(settings) if use_api else LocalEmbedder(settings)
    sink = RetrievalClient(settings) if remote or retrieval_up else local_sink(settings, embedder)
    source = HttpPageSource(settings) if remote else StorePageSource(settings)
    try:
        with bar_progress() as progress:
            result = indexing.run(source, embedder, sink, settings, full, progress)
    except ServiceError as error:
        console.print(f"[red]mde index: {error.detail}[/red]")
        raise typer.Exit(1) from None
    finally:
        getattr(sink, "close", lambda: None)()
    console.print(f"{result['reason']}: {result['pages_indexed']} pages, "
                  f"{result['chunks_written']} chunks written, {result['chunks_replaced']} replaced, "
                  f"{result['pages_deleted']} pages deleted, {result['pages_failed']} failed "
                  f"in {result['seconds']}s")


def register(app: typer.Typer) -> None:
    app.command("process")(process_command)
    app.command("index")(index_command)
