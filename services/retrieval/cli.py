"""`mde search` and `mde eval retrieval`: query the index and measure its quality."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shared.errors import ServiceError
from shared.schemas import SearchResponse
from shared.settings import Settings

console = Console()
Search = Callable[[str, int, str], SearchResponse]
eval_app = typer.Typer(help="Measure quality: `mde eval retrieval`.", no_args_is_help=True)


@contextmanager
def searcher(settings: Settings, remote: bool) -> Iterator[Search]:
    """POST /search on the running service, or the store and model opened in this process."""
    from services.indexer.cli import service_up

    if remote or service_up(settings, "retrieval"):
        from shared.http import service_client

        client = service_client("retrieval", settings)

        def over_http(query: str, top_k: int, mode: str) -> SearchResponse:
            body = {"query": query, "top_k": top_k, "mode": mode}
            return SearchResponse.model_validate(client.post("/search", json=body).json())

        yield over_http
        client.close()
        return
    from services.embedding.client import LocalEmbedder
    from services.retrieval.retriever import Retriever
    from services.retrieval.store import StoreLocked, open_store

    try:
        store = open_store(settings)
    except StoreLocked as error:
        console.print(f"[red]{error}: start it, or stop the process holding the index[/red]")
        raise typer.Exit(2) from None
    retriever = Retriever(store, LocalEmbedder(settings), settings.index)
    try:
        yield retriever.search
    finally:
        retriever.close()


def search_command(query: str = typer.Argument(..., help="what to look for"),
                   k: int = typer.Option(5, "--k", min=1, max=50),
                   mode: Optional[str] = typer.Option(None, "--mode", help="dense, sparse, hybrid"),
                   remote: bool = typer.Option(False, "--remote", help="use the retrieval API"),
                   as_json: bool = typer.Option(False, "--json")) -> None:
    """Search the index and print the hits."""
    from shared.settings import get_settings

    settings = get_settings()
    try:
        with searcher(settings, remote) as search:
            response = search(query, k, mode or settings.index.search_mode)
    except ServiceError as error:
        console.print(f"[red]mde search: {error.detail}[/red]")
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(response.model_dump_json(indent=2))
        return
    if response.index_empty:
        console.print("[yellow]the index is empty: run `mde crawl` and `mde index`[/yellow]")
    for rank, hit in enumerate(response.hits, 1):
        link = f"{hit.url}#{hit.anchor}" if hit.anchor else hit.url
        console.print(f"[bold]{rank}. {hit.score:.3f}[/bold] {' › '.join(hit.heading_path)}\n"
                      f"   {link}\n   {hit.text[:200].replace(chr(10), ' ')}")
    spelled = f", searched with: {'; '.join(response.expanded)}" if response.expanded else ""
    console.print(f"[dim]{response.mode}, {response.took_ms} ms{escape(spelled)}[/dim]")


@eval_app.command("retrieval")
def eval_retrieval(questions: Path = typer.Option(..., "--questions", exists=True, dir_okay=False),
                   k: int = typer.Option(5, "--k", min=1, max=50),
                   mode: str = typer.Option("hybrid", "--mode", help="dense, sparse, hybrid"),
                   part: str = typer.Option("all", "--part", help="all, tune or holdout (the "
                                            "halves split by a hash of the question id)"),
                   remote: bool = typer.Option(False, "--remote", help="use the retrieval API"),
                   as_json: bool = typer.Option(False, "--json")) -> None:
    """Page recall@1/5/10, section recall@5, MRR@10 and latency on a question set."""
    from services.retrieval.evaluation import evaluate, load_questions, select
    from shared.settings import get_settings

    chosen = select(load_questions(questions), part)
    with searcher(get_settings(), remote) as search:
        search("warm-up", 1, mode)
        result = evaluate(search, chosen, k, mode)
    if as_json:
        typer.echo(json.dumps(result))
        return
    table = Table("kind", "n", "recall@1", "recall@5", "recall@10", "mrr@10", "section@5",
                  title=f"{mode} on {questions.name} ({part}, {result['scored']} scored)",
                  title_justify="left")
    rows = [("all", result)] + list(result["per_kind"].items())  # type: ignore[union-attr]
    for kind, scores in rows:
        table.add_row(kind, str(scores["n"]), *(f"{scores[key]:.2f}" for key in (
            "recall@1", "recall@5", "recall@10", "mrr@10", "section_recall@5")))
    console.print(table)
    latency = result["latency_ms"]
    console.print(f"latency p50 {latency['p50']} ms, p95 {latency['p95']} ms")  # type: ignore[index]


def register(app: typer.Typer) -> None:
    app.command("search")(search_command)
    app.add_typer(eval_app, name="eval")
