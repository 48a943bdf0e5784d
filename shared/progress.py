"""Progress reporting for long work: into RQ's job.meta for the gateway and UI, or a CLI bar.

Domain code takes a `Progress` callable and never knows which one it got.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol


class Progress(Protocol):
    def __call__(self, stage: str, done: int, total: int, message: str = "",
                 **counts: Any) -> None: ...


def null_progress(stage: str, done: int, total: int, message: str = "", **counts: Any) -> None:
    """Progress that goes nowhere (tests, library use)."""


def job_progress(min_interval_sec: float = 0.5) -> Progress:
    """Write progress into the current RQ job's meta (`stage`, `done`, `total`, `message`, counts)."""
    from rq import get_current_job

    job = get_current_job()
    last = 0.0

    def report(stage: str, done: int, total: int, message: str = "", **counts: Any) -> None:
        nonlocal last
        if job is None:
            return
        now = time.monotonic()
        if now - last < min_interval_sec and done < total:
            return  # throttle Redis writes; always write the final state
        last = now
        job.meta.update({"stage": stage, "done": done, "total": total, "message": message,
                         "counts": counts, "updated_at": time.time()})
        job.save_meta()

    return report


def tee_progress(*reporters: Progress) -> Progress:
    """Progress that goes to each of the reporters."""
    def report(stage: str, done: int, total: int, message: str = "", **counts: Any) -> None:
        for reporter in reporters:
            reporter(stage, done, total, message, **counts)

    return report


@contextmanager
def bar_progress(description: str = "") -> Iterator[Progress]:
    """A rich progress bar for the CLI; one task per stage."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress
    from rich.progress import TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[message]}"))
    with RichProgress(*columns) as bar:
        tasks: dict[str, Any] = {}

        def report(stage: str, done: int, total: int, message: str = "", **counts: Any) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(f"{description} {stage}".strip(), total=total or None,
                                            message="")
            extra = " ".join(f"{k}={v}" for k, v in counts.items())
            bar.update(tasks[stage], completed=done, total=total or None,
                       message=(message + " " + extra).strip())

        yield report
