"""The `mde` command line. Pipeline commands run in-process by default, like the original project."""

from __future__ import annotations

import logging

import typer
from rich.console import Console
from rich.table import Table

from shared.logging import setup_logging
from shared.settings import SettingsError, load_settings

app = typer.Typer(help="MDE Learn Chatbot: crawl, index, train and ask, locally.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
console = Console()


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="log at DEBUG level")) -> None:
    try:
        settings = load_settings()
    except SettingsError as error:
        console.print(f"[red]mde: {error}[/red]")
        raise typer.Exit(2) from None
    setup_logging("DEBUG" if debug else settings.log_level)


def _print_checks(title: str, checks: list) -> bool:
    table = Table(title=title, show_header=False, title_justify="left")
    for check in checks:
        mark = "[green]ok[/green]" if check.ok else "[red]!![/red]"
        table.add_row(mark, check.name, check.detail)
    console.print(table)
    return all(check.ok for check in checks)


@app.command()
def doctor(skip_blas: bool = typer.Option(False, help="skip loading MLX and the GEMM test")) -> None:
    """Check versions, BLAS speed, model paths, Redis and every service's /ready."""
    from shared import doctor as checks
    from shared.settings import get_settings

    settings = get_settings()
    _print_checks("versions", checks.versions())
    if not skip_blas:
        _print_checks("MLX", checks.blas(settings))
    _print_checks("models", checks.models(settings))
    _print_checks("engine", checks.engine(settings))
    running = _print_checks("stack", checks.services(settings) + checks.running_engine(settings))
    if not running:
        console.print("Some services are down: that is expected unless `make run` is up.")


@app.command()
def status() -> None:
    """Show which services are up and how deep each queue is."""
    from rq import Queue

    from shared import doctor as checks
    from shared.queues import QUEUES, redis_connection
    from shared.settings import get_settings

    settings = get_settings()
    service_checks = checks.services(settings)
    _print_checks("services", service_checks)
    if service_checks[0].ok:
        connection = redis_connection(settings)
        table = Table("queue", "queued", "started", "failed", title="queues", title_justify="left")
        for name in QUEUES:
            queue = Queue(name, connection=connection)
            table.add_row(name, str(queue.count), str(queue.started_job_registry.count),
                          str(queue.failed_job_registry.count))
        console.print(table)
        _print_last_update(settings)


def _print_last_update(settings: object) -> None:
    """The newest update as the gateway reports it (nothing when the gateway is down)."""
    import httpx

    try:
        items = httpx.get(f"{settings.gateway_url}/updates", params={"limit": 1}, timeout=5).json()["items"]  # type: ignore[attr-defined]
    except (httpx.HTTPError, ValueError, KeyError):
        return
    if not items:
        console.print("no update has run yet")
        return
    last = items[0]
    stages = ", ".join(f"{s['name']} {s['state']}" for s in last["stages"])
    console.print(f"last update {last['id']} ({last['trigger']}): {last['status']} — {stages}"
                  + (f"\n[red]{last['error']}[/red]" if last.get("error") else ""))


@app.command()
def clean(dry_run: bool = typer.Option(False, "--dry-run", help="only list what would go"),
          yes: bool = typer.Option(False, "--yes", "-y", help="do not ask")) -> None:
    """Remove generated data (raw pages, processed, index, datasets, adapters, merges)."""
    from shared.cleanup import generated_paths, remove
    from shared.settings import get_settings

    paths = generated_paths(get_settings())
    if not paths:
        console.print("nothing to remove")
        return
    for path in paths:
        console.print(f"{'would remove' if dry_run else 'removing'} {path}")
    if dry_run:
        return
    if not yes and not typer.confirm(f"remove {len(paths)} paths?"):
        raise typer.Exit(1)
    remove(paths)
    logging.getLogger("mde.clean").info("removed %d paths", len(paths))
    console.print(f"removed {len(paths)} paths")


# Each service adds its own commands (`mde crawl`, `mde index`, ...) with `register(app)` in its
# cli.py, so pipeline stages live beside the code they run.
COMMAND_MODULES = ("services.crawler.cli", "services.indexer.cli", "services.retrieval.cli",
                   "services.generation.cli", "services.trainer.cli", "services.gateway.cli")


def _register_service_commands() -> None:
    import importlib

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name == name:
                continue
            raise
        module.register(app)


_register_service_commands()

if __name__ == "__main__":
    app()
