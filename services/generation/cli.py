"""`mde ask`, `mde eval answers` and `mde eval refusal`: the generation service from the terminal."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape

from shared.settings import PROJECT_ROOT, Settings

console = Console()
QUESTIONS = PROJECT_ROOT.parent / "shared" / "eval" / "questions.jsonl"
HINT = "start the stack with `make run`"


def sse_events(lines: Iterable[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event, data) pairs from the lines of a Server-Sent Events stream with JSON data."""
    event = "message"
    for line in lines:
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            yield event, json.loads(line[5:])


def _events(settings: Settings, payload: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event, data) pairs from POST /generate's stream; exits with a one-line message on errors."""
    url = f"{settings.generation_url}/generate"
    try:
        with httpx.stream("POST", url, json=payload, timeout=httpx.Timeout(10, read=600)) as reply:
            if reply.status_code != 200:
                detail = reply.read().decode(errors="replace")[:300]
                console.print(f"[red]mde: generation answered {reply.status_code}: {detail}[/red]")
                raise typer.Exit(1)
            yield from sse_events(reply.iter_lines())
    except httpx.TransportError as error:
        console.print(f"[red]mde: generation service at {url} is not reachable "
                      f"({type(error).__name__}): {HINT}[/red]")
        raise typer.Exit(2) from None


def ask(question: str = typer.Argument(..., help="what to ask the documentation"),
        mode: str | None = typer.Option(None, "--mode", help="rag, ft or rag_ft"),
        top_k: int | None = typer.Option(None, "--top-k", min=1, max=50),
        max_tokens: int | None = typer.Option(None, "--max-tokens", min=1)) -> None:
    """Ask a question: the answer streams, then its sources and timings."""
    from shared.settings import get_settings

    payload = {"question": question, "mode": mode, "top_k": top_k, "max_tokens": max_tokens}
    sources: list[dict[str, Any]] = []
    for event, data in _events(get_settings(), {k: v for k, v in payload.items() if v}):
        if event == "sources":
            sources = data.get("sources", [])
        elif event == "evidence":
            _print_evidence(data.get("evidence", []))
        elif event == "token":
            console.print(data["text"], end="", markup=False, highlight=False, soft_wrap=True)
        elif event == "error":
            console.print(f"\n[red]mde: {data.get('detail')}[/red]")
            raise typer.Exit(1)
        elif event == "done":
            _print_done(data, sources)


def _print_evidence(items: list[dict[str, Any]]) -> None:
    """The documented units first: they arrive before the model writes."""
    if not items:
        return
    console.print("[bold]From the documentation[/bold]")
    for item in items:
        text = str(item.get("text", ""))
        body = text if item.get("kind") in ("code", "row") else "> " + text.replace("\n", "\n> ")
        console.print(f"{body} [{item.get('n')}]", markup=False, highlight=False, soft_wrap=True)
    console.print()


def _print_done(done: dict[str, Any], sources: list[dict[str, Any]]) -> None:
    console.print()
    if dropped := done.get("dropped"):
        console.print(f"[dim]{len(dropped)} generated sentence(s) left out: not supported by the "
                      f"sources[/dim]")
    if done.get("refused") and done.get("refusal_reason"):
        console.print(f"[dim]Refused: {escape(str(done['refusal_reason']))}[/dim]", highlight=False,
                      soft_wrap=True)
    if sources:
        label = "Nearest pages" if done.get("refused") else "Sources"
        console.print(f"\n[bold]{label}[/bold]")
        for source in sources:
            path = " > ".join(source.get("heading_path") or []) or source.get("title", "")
            console.print(f"  [{source['n']}] {path}\n      {source['url']}", markup=False)
    timings, weights = done.get("timings", {}), done.get("weights", {})
    console.print(f"[dim]{done.get('mode')} · {weights.get('kind')} {weights.get('version') or ''}"
                  f"· retrieval {timings.get('retrieval_ms', 0):.0f} ms · first token "
                  f"{timings.get('time_to_first_token_ms', 0) / 1000:.1f} s · "
                  f"{timings.get('tokens_per_sec', 0):.1f} tok/s[/dim]")


def eval_answers(questions: str | None = typer.Option(None, "--questions",
                                                   help="JSONL (default: the public set)"),
                 mode: str = typer.Option("rag", "--mode", help="rag, ft or rag_ft"),
                 limit: int | None = typer.Option(None, "--limit", min=1),
                 max_tokens: int | None = typer.Option(
                     None, "--max-tokens", min=1, help="default: the service's (a rag lead: 64)"),
                 part: str = typer.Option("all", "--part", help="all, tune or holdout"),
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """Answer every question through the generation service and score facts, citations, refusals."""
    from services.generation import evaluation
    from shared.settings import get_settings

    settings = get_settings()
    chosen = evaluation.load(Path(questions) if questions else QUESTIONS, part)[:limit]
    outcomes = []
    for i, question in enumerate(chosen, start=1):
        payload = {"question": question.question, "mode": mode, "temperature": 0,
                   **({"max_tokens": max_tokens} if max_tokens else {})}
        done = next((data for event, data in _events(settings, payload) if event == "done"), {})
        outcomes.append(evaluation.judge(question, done))
        if not as_json:
            console.print(f"[dim]{i}/{len(chosen)} {question.id} refused={done.get('refused')} "
                          f"cited={done.get('cited')}[/dim]")
    summary = {"mode": mode, "part": part, "max_tokens": max_tokens,
               **(evaluation.summarize_halves(outcomes) if part == "all"
                  else evaluation.summarize(outcomes))}
    console.print_json(json.dumps(summary)) if as_json else _table(summary)


def eval_refusal(questions: str | None = typer.Option(None, "--questions",
                                                   help="JSONL (default: the public set)"),
                 max_false: float = typer.Option(0.10, "--max-false", min=0, max=1),
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """Tune the refusal weights on the tune half (the current rule stays unless the refit does
    better there); report held-out and whole-set rates."""
    from services.generation import tuning
    from shared.settings import get_settings

    settings = get_settings()
    samples = asyncio.run(_samples(settings, Path(questions) if questions else QUESTIONS))
    types = settings.infer.refusal_answer_types
    tuned = tuning.tune(samples, max_false, types)
    current = (settings.infer.refusal_weights, settings.infer.refusal_threshold)
    weights, threshold = tuning.keep_unless_better(samples, current, tuned, types)
    report = {"recommended": {"refusal_weights": weights, "refusal_threshold": threshold,
                              "changed": (weights, threshold) != current},
              **{f"recommended_{part}": tuning.rates(
                  [s for s in samples if part in ("all", s.part)], weights, threshold, types)
                 for part in ("tune", "holdout", "all")},
              "refit": {"refusal_weights": tuned[0], "refusal_threshold": tuned[1]},
              "refit_tune": tuning.rates([s for s in samples if s.part == "tune"], *tuned, types),
              "current": {"refusal_weights": current[0], "refusal_threshold": current[1]},
              "current_all": tuning.rates(samples, *current, types),
              "answer_type_refused": sorted(s.id for s in samples if types and s.evidence.unstated),
              "other_product_refused": sorted(s.id for s in samples if s.evidence.other_product)}
    console.print_json(json.dumps(report)) if as_json else _table(report)


async def _samples(settings: Settings, path: Path) -> list[Any]:
    from services.generation import evaluation, refusal, tuning
    from services.generation.pipeline import retrieve
    from services.generation.retrieval import RetrievalClient

    client = RetrievalClient(settings)
    questions = evaluation.load(path)
    parts = evaluation.halves(questions)
    samples = []
    for question in questions:
        found = await retrieve(client, question.question, question.question,
                               settings.infer.top_k, settings.infer.refusal_depth)
        evidence = refusal.gather(question.question, found.found.hits, found.dense.hits,
                                  found.keyword.hits, settings.infer.refusal_depth,
                                  settings.infer.refusal_other_products)
        samples.append(tuning.Sample(question.id, parts[question.id], not question.answerable,
                                     evidence))
    await client.close()
    return samples


def _table(summary: dict[str, Any]) -> None:
    for key, value in summary.items():
        console.print(f"{key:>22}  {value}")


def feedback(vote: str | None = typer.Option(None, "--vote", help="up or down"),
             limit: int = typer.Option(20, "--limit", min=1, max=1000),
             as_json: bool = typer.Option(False, "--json")) -> None:
    """List the votes users gave answers, newest first (question, vote, comment, sources)."""
    from shared.settings import get_settings

    url = f"{get_settings().generation_url}/feedback"
    params = {"limit": limit, **({"vote": vote} if vote else {})}
    try:
        reply = httpx.get(url, params=params, timeout=30)
    except httpx.TransportError as error:
        console.print(f"[red]mde: generation service at {url} is not reachable "
                      f"({type(error).__name__}): {HINT}[/red]")
        raise typer.Exit(2) from None
    if reply.status_code != 200:
        console.print(f"[red]mde: generation answered {reply.status_code}: {reply.text[:300]}[/red]")
        raise typer.Exit(1)
    items = reply.json()["items"]
    if as_json:
        console.print_json(json.dumps(items))
        return
    for item in items:
        mark = "[green]up[/green]" if item["vote"] == "up" else "[red]down[/red]"
        console.print(f"{mark} {item['mode']} · {item['question']}")
        if item.get("comment"):
            console.print(f"    “{item['comment']}”", markup=False)
        for source in item.get("sources", [])[:3]:
            console.print(f"    [{source.get('n')}] {source.get('url')}", markup=False)
    console.print(f"[dim]{len(items)} vote(s)[/dim]")


def register(app: typer.Typer) -> None:
    from services.retrieval.cli import eval_app

    app.command("ask")(ask)
    app.command("feedback")(feedback)
    eval_app.command("answers")(eval_answers)
    eval_app.command("refusal")(eval_refusal)
