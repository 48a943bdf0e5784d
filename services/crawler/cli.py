"""`mde crawl`, `mde pages` and `mde crawls`: the crawler from the command line."""

from __future__ import annotations

import time
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from shared.errors import ServiceError

console = Console()
STATE_COLOURS = {"new": "green", "changed": "yellow", "unchanged": "dim", "deleted": "magenta",
                 "failed": "red"}


def _when(timestamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp)) if timestamp else "-"


def crawl_command(
        full: bool = typer.Option(False, "--full", help="fetch every page again, ignoring "
                                  "sitemap dates and ETags"),
        max_pages: Optional[int] = typer.Option(None, "--max-pages", min=1,
                                                help="stop after this many pages"),
        queue: bool = typer.Option(False, "--queue", help="queue the crawl for the crawl "
                                   "worker instead of running it here")) -> None:
    """Crawl the docs into the page store (in this process, with a progress bar)."""
    from services.crawler.crawl import run_crawl
    from shared.progress import bar_progress
    from shared.settings import get_settings

    settings = get_settings()
    try:
        if queue:
            from services.crawler.jobs import enqueue_crawl

            console.print(f"queued crawl job {enqueue_crawl(settings, full, max_pages)}")
            return
        if max_pages:
            crawl = settings.crawl.model_copy(update={"max_pages": max_pages})
            settings = settings.model_copy(update={"crawl": crawl})
        with bar_progress() as progress:
            result = run_crawl(settings, full=full, progress=progress)
    except ServiceError as error:
        console.print(f"[red]mde crawl: {error.detail}[/red]")
        raise typer.Exit(1) from None
    counts = " ".join(f"{state}={n}" for state, n in sorted(result.counts.items()))
    console.print(f"crawl {result.crawl_id} {'resumed and ' if result.resumed else ''}finished "
                  f"in {result.duration_sec:.1f}s, {result.requests} requests: {counts}")
    if not result.complete:
        console.print("[yellow]stopped at max_pages: pages not reached were kept as they "
                      "were[/yellow]")


def pages_command(
        state: Optional[str] = typer.Option(None, "--state", help="new, changed, unchanged, "
                                            "deleted or failed"),
        q: Optional[str] = typer.Option(None, "--q", help="text in the URL or title"),
        limit: int = typer.Option(50, "--limit", min=1),
        offset: int = typer.Option(0, "--offset", min=0)) -> None:
    """List stored pages (the same table as GET /pages)."""
    from services.crawler.store import PageStore
    from shared.settings import get_settings

    listing = PageStore(get_settings()).list_pages(state, q, limit, offset)
    table = Table("state", "status", "url", "title / error", "fetched",
                  title=f"{listing.total} pages", title_justify="left")
    for page in listing.items:
        colour = STATE_COLOURS.get(page.state, "")
        table.add_row(f"[{colour}]{page.state}[/{colour}]", str(page.status or "-"), page.url,
                      page.error or page.title or "", _when(page.fetched_at))
    console.print(table)
    if listing.total > offset + len(listing.items):
        console.print(f"{listing.total - offset - len(listing.items)} more: use --offset")


def crawls_command(limit: int = typer.Option(10, "--limit", min=1)) -> None:
    """List recent crawls with counts per state (GET /crawls)."""
    from services.crawler.ledger import CrawlLedger
    from services.crawler.store import PageStore
    from shared.settings import get_settings

    listing = CrawlLedger(PageStore(get_settings())).list_crawls(limit)
    table = Table("crawl", "status", "started", "seconds", "requests", "counts",
                  title=f"{listing.total} crawls", title_justify="left")
    for crawl in listing.items:
        counts = " ".join(f"{k}={v}" for k, v in sorted(crawl.counts.items()))
        table.add_row(crawl.id, crawl.status, _when(crawl.started_at),
                      f"{crawl.duration_sec or 0:.1f}", str(crawl.requests), counts)
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the crawler's commands to `mde`."""
    app.command("crawl")(crawl_command)
    app.command("pages")(pages_command)
    app.command("crawls")(crawls_command)
