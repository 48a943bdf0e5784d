"""`mde update`: start an update on the running stack and follow its stages; `mde mcp`: the MCP
server over stdio."""

from __future__ import annotations

import time
from typing import Any

import typer
from rich.console import Console

from shared.errors import ServiceError
from shared.http import ServiceClient
from shared.progress import bar_progress
from shared.settings import get_settings

console = Console()


def follow(client: ServiceClient, update_id: str, poll_sec: float = 1.0) -> dict[str, Any]:
    """Show one progress bar per stage until the update finishes or fails."""
    with bar_progress("update") as report:
        while True:
            body = client.get(f"/update/{update_id}").json()
            for stage in body["stages"]:
                progress = stage.get("progress") or {}
                done = 1 if stage["state"] in ("finished", "skipped") else int(progress.get("done", 0))
                total = 1 if stage["state"] in ("finished", "skipped") else int(progress.get("total", 0))
                report(stage["name"], done, total, f"{stage['state']} {progress.get('message', '')}".strip())
            if body["status"] in ("finished", "failed"):
                return body
            time.sleep(poll_sec)


def update(stages: list[str] = typer.Option(None, "--stages", help="crawl, index, prepare_dataset, finetune, merge"),
           full: bool = typer.Option(False, "--full", help="re-crawl and rebuild the index from scratch"),
           force: bool = typer.Option(False, "--force", help="run even if the last update was recent"),
           wait: bool = typer.Option(False, "--wait", help="follow the stages until done")) -> None:
    """Start an update on the running stack (POST /update on the gateway)."""
    settings = get_settings()
    token = settings.update_token or settings.internal_token  # the gateway takes either
    client = ServiceClient("gateway", settings.gateway_url, token, timeout=30)
    try:
        response = client.post("/update", params={"force": str(force).lower()},
                               json={"stages": stages or None, "full": full})
    except ServiceError as error:
        console.print(f"[red]{error.detail}[/red]")
        if error.retry_after:
            console.print(f"retry after {error.retry_after} s")
        raise typer.Exit(1) from None
    update_id = response.json()["update_id"]
    console.print(f"update {update_id} started: {settings.gateway_url}/update/{update_id}")
    if wait:
        body = follow(client, update_id)
        colour = "green" if body["status"] == "finished" else "red"
        console.print(f"[{colour}]update {update_id} {body['status']}[/{colour}]"
                      + (f": {body['error']}" if body.get("error") else ""))
        if body["status"] != "finished":
            raise typer.Exit(1)


def mcp() -> None:
    """Serve the docs to an MCP client over stdin/stdout (tools: search_docs, ask, get_section,
    index_status; pages as resources). Needs the stack running (`make run`)."""
    import anyio

    from services.gateway.mcp_server import run_stdio

    anyio.run(run_stdio, get_settings())


def register(app: typer.Typer) -> None:
    app.command()(update)
    app.command()(mcp)
