"""`mde prepare-dataset`, `mde finetune`, `mde merge`, `mde adapters list|use`: the trainer in-process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from shared.errors import ServiceError

console = Console()
adapters_app = typer.Typer(help="Show and switch published LoRA adapter versions.",
                           no_args_is_help=True)


def _fail(command: str, error: Exception) -> None:
    detail = getattr(error, "detail", str(error))
    console.print(f"[red]mde {command}: {detail}[/red]")
    raise typer.Exit(1) from None


def _prepare(chunks: Path | None) -> Any:
    from services.trainer.corpus import load_chunks
    from services.trainer.dataset import build_dataset
    from shared.settings import get_settings

    settings = get_settings()
    return build_dataset(load_chunks(settings, chunks), settings)


def prepare_dataset_command(
        chunks: Path | None = typer.Option(None, "--chunks", help="a chunks.jsonl (e.g. "
                                              "data/processed/chunks.jsonl) instead of the "
                                              "retrieval service")) -> None:
    """Build the fine-tuning dataset from the indexed chunks."""
    try:
        info = _prepare(chunks)
    except (ServiceError, ValueError) as error:
        _fail("prepare-dataset", error)
    console.print(f"dataset {info.hash[:16]} in {info.path}")
    for split, counts in info.counts.items():
        console.print(f"  {split:5} pages={info.pages[split]:4} text={counts['text']:5} "
                      f"chat={counts['chat']:5}")


def finetune_command(
        chunks: Path | None = typer.Option(None, "--chunks", help="rebuild the dataset from "
                                              "this chunks.jsonl first"),
        rebuild: bool = typer.Option(False, "--rebuild", help="rebuild the dataset from the "
                                     "retrieval service first"),
        force: bool = typer.Option(False, "--force", help="train even if this dataset and "
                                   "these settings were tried before"),
        as_json: bool = typer.Option(False, "--json", help="print the full result as JSON")) -> None:
    """Fine-tune a LoRA adapter, evaluate it and publish it only if it beats the base model."""
    from services.trainer.training import finetune
    from shared.progress import bar_progress
    from shared.settings import get_settings

    try:
        info = _prepare(chunks) if chunks or rebuild else None
        with bar_progress("finetune") as progress:
            result = finetune(get_settings(), progress, dataset=info, force=force)
    except (ServiceError, ValueError, FileNotFoundError) as error:
        _fail("finetune", error)
    if as_json:
        console.print_json(json.dumps(result, default=str))
        return
    colour = {"published": "green", "rejected": "yellow"}.get(result["status"], "dim")
    console.print(f"[{colour}]{result['status']}[/{colour}] {result.get('version') or ''}: "
                  f"{result['reason']}")
    metrics = result.get("metrics", {})
    if metrics:
        console.print(f"  held-out ppl {metrics['base_heldout_ppl']:.2f} -> "
                      f"{metrics['heldout_ppl']:.2f}, general-English ppl "
                      f"{metrics['base_general_ppl']:.2f} -> {metrics['general_ppl']:.2f}, "
                      f"{metrics['tokens_per_sec']} tokens/s, {metrics['train_seconds']} s")


def merge_command(version: str | None = typer.Argument(None, help="adapter version (default: "
                                                           "the published one)")) -> None:
    """Fuse the published adapter into standalone weights under merge.out_dir."""
    from services.trainer.merge import merge_adapter
    from shared.progress import bar_progress
    from shared.settings import get_settings

    try:
        with bar_progress("merge") as progress:
            result = merge_adapter(get_settings(), version, progress)
    except ServiceError as error:
        _fail("merge", error)
    console.print(f"merged {result['version']} into {result['path']}")


@adapters_app.command("list")
def adapters_list() -> None:
    """Published and rejected adapter versions with their held-out perplexity."""
    from services.trainer.publish import list_versions
    from shared.settings import get_settings

    table = Table("", "version", "status", "held-out ppl", "base", "general ppl", "note")
    for row in list_versions(Path(get_settings().finetune.out_dir)):
        numbers = [f"{row[k]:.2f}" if row.get(k) is not None else "-"
                   for k in ("heldout_ppl", "base_heldout_ppl", "general_ppl")]
        table.add_row("*" if row["current"] else "", row["version"], row["status"], *numbers,
                      row.get("rejected_reason") or "")
    console.print(table)


@adapters_app.command("use")
def adapters_use(version: str = typer.Argument(..., help="a version from `mde adapters list`")) -> None:
    """Point `current` at VERSION (rollback) and ask the generation service to reload."""
    from services.trainer.publish import reload_generation, use_version
    from shared.settings import get_settings

    settings = get_settings()
    try:
        use_version(Path(settings.finetune.out_dir), version)
    except ServiceError as error:
        _fail("adapters use", error)
    reloaded = reload_generation(settings)
    console.print(f"current adapter: {version}" + ("" if reloaded else
                                                    " (generation not reloaded: is it running?)"))


def register(app: typer.Typer) -> None:
    app.command("prepare-dataset")(prepare_dataset_command)
    app.command("finetune")(finetune_command)
    app.command("merge")(merge_command)
    app.add_typer(adapters_app, name="adapters")
