"""Stand-in stage functions for the gateway's pipeline tests, steered by files in MDE_TEST_STAGE_DIR:
`<stage>.sleep` holds seconds to sleep (reporting progress into job.meta), `<stage>.fail` makes the
stage raise. Each run appends the stage name to `runs.log`, so a test can count what ran."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from shared.progress import job_progress


def _run(stage: str) -> dict[str, Any]:
    folder = Path(os.environ["MDE_TEST_STAGE_DIR"])
    with (folder / "runs.log").open("a") as log:
        log.write(stage + "\n")
    sleep = folder / f"{stage}.sleep"
    if sleep.exists():
        _sleep_reporting(stage, float(sleep.read_text()))
    if (folder / f"{stage}.fail").exists():
        raise RuntimeError(f"injected {stage} failure")
    return {"stage": stage, "pages_new": 3}


def _sleep_reporting(stage: str, seconds: float, steps: int = 4) -> None:
    """Sleep in steps, writing done/total into job.meta as a real stage does (the UI shows it)."""
    report = job_progress(min_interval_sec=0)
    for step in range(steps):
        report(stage, step, steps, f"step {step + 1} of {steps}", pages_seen=step)
        time.sleep(seconds / steps)
    report(stage, steps, steps, "done", pages_seen=steps)


def crawl(full: bool = False) -> dict[str, Any]:
    return _run("crawl")


def index(full: bool = False) -> dict[str, Any]:
    return _run("index")


def prepare_dataset() -> dict[str, Any]:
    return _run("prepare_dataset")


def finetune() -> dict[str, Any]:
    return _run("finetune")


def merge() -> dict[str, Any]:
    return _run("merge")


STAGE_FUNCTIONS = {stage: f"tests.integration.gateway_stages.{name}" for stage, name in (
    ("crawl", "crawl"), ("index", "index"), ("prepare_dataset", "prepare_dataset"),
    ("finetune", "finetune"), ("merge", "merge"))}
