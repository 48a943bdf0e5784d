"""Drawing one update: a progress bar per stage with counts, timings and errors; the recent list."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import streamlit as st

from ui.answer import ago, as_dict, duration
from ui.markup import escape_md

STAGE_LABELS = {"crawl": "Crawl", "index": "Index", "prepare_dataset": "Prepare dataset",
                "finetune": "Fine-tune", "merge": "Merge"}
STATE_ICONS = {"pending": ":gray[:material/radio_button_unchecked:]",
               "queued": ":gray[:material/schedule:]", "started": ":blue[:material/autorenew:]",
               "running": ":blue[:material/autorenew:]",
               "finished": ":green[:material/check_circle:]",
               "skipped": ":gray[:material/redo:]", "failed": ":red[:material/error:]"}
STATUS_COLORS = {"queued": "gray", "running": "blue", "finished": "green", "failed": "red"}
STATE_MARKS = {"finished": "✓", "skipped": "–", "failed": "✗", "started": "…", "queued": "·",
               "pending": "·"}  # plain text for table cells
HIDDEN_KEYS = ("final_job_id", "stage", "skipped", "reason")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def fraction(stage: dict[str, Any]) -> float:
    """How far a stage is, 0..1, from its state and its job's done/total."""
    if stage.get("state") in ("finished", "skipped"):
        return 1.0
    progress = as_dict(stage.get("progress"))
    done, total = _number(progress.get("done")), _number(progress.get("total"))
    if not done or not total:
        return 0.0
    return max(0.0, min(done / total, 1.0))


def stage_counts(stage: dict[str, Any], limit: int = 8) -> list[tuple[str, float]]:
    """Numbers worth showing: the result's counts when finished, else the progress counts."""
    source = as_dict(stage.get("result")) or as_dict(as_dict(stage.get("progress")).get("counts"))
    found: list[tuple[str, float]] = []
    for key, value in source.items():
        if key in HIDDEN_KEYS or key.endswith(("_sec", "_at", "_id", "_ms")):
            continue
        if isinstance(value, dict) and key == "counts":
            found += [(str(k), v) for k, raw in value.items() if (v := _number(raw)) is not None]
        elif (number := _number(value)) is not None:
            found.append((key, number))
    return found[:limit]


def _count_text(key: str, value: float) -> str:
    shown = f"{value:,.0f}" if value == int(value) else f"{value:.3g}"
    return f"{escape_md(key.replace('_', ' '))} **{shown}**"


def stage_elapsed(stage: dict[str, Any], now: float | None = None) -> float | None:
    """Seconds the stage has run (so far, while it runs)."""
    started = _number(stage.get("started_at"))
    if started is None:
        return None
    ended = _number(stage.get("ended_at")) or now or time.time()
    return max(ended - started, 0.0)


def stage_label(stage: dict[str, Any]) -> str:
    """`**Crawl** · 🔵 started · 34 / 120 · fetching … · 1 min 3 s` (escaped Markdown)."""
    name = str(stage.get("name", "?"))
    state = str(stage.get("state", "pending"))
    parts = [f"**{escape_md(STAGE_LABELS.get(name, name))}**",
             f"{STATE_ICONS.get(state, '')} {escape_md(state)}".strip()]
    progress = as_dict(stage.get("progress"))
    done, total = _number(progress.get("done")), _number(progress.get("total"))
    if total and state not in ("finished", "skipped"):
        parts.append(f"{done or 0:,.0f} / {total:,.0f}")
    if progress.get("message") and state in ("started", "running", "queued"):
        parts.append(escape_md(str(progress["message"])[:120]))
    if (elapsed := stage_elapsed(stage)) is not None:
        parts.append(duration(elapsed))
    return " · ".join(parts)


def render_stage(stage: dict[str, Any]) -> None:
    """One stage: its progress bar, its counts, and its error if it failed."""
    st.progress(fraction(stage), text=stage_label(stage))
    if counts := stage_counts(stage):
        st.caption(" · ".join(_count_text(key, value) for key, value in counts))
    if stage.get("state") == "skipped" and as_dict(stage.get("result")).get("reason"):
        st.caption(escape_md(str(stage["result"]["reason"])))
    if stage.get("error"):
        st.error(escape_md(str(stage["error"])), icon=":material/error:")


def render_update(update: dict[str, Any]) -> None:
    """One update: status, trigger, age, then every stage."""
    status = str(update.get("status", "unknown"))
    started = _number(update.get("created_at"))
    info = [f":{STATUS_COLORS.get(status, 'gray')}-badge[{escape_md(status)}]",
            f"update `{escape_md(str(update.get('id', '?')))}`",
            f"by {escape_md(str(update.get('trigger', '?')))}", f"started {ago(started)}"]
    if started and (ended := _number(update.get("finished_at"))):
        info.append(f"took {duration(ended - started)}")
    if update.get("full"):
        info.append("full rebuild")
    st.markdown(" · ".join(info))
    if update.get("error"):
        st.error(escape_md(str(update["error"])), icon=":material/error:")
    for stage in update.get("stages") or []:
        if isinstance(stage, dict):
            render_stage(stage)


def updates_table(items: list[dict[str, Any]]) -> None:
    """Recent updates, newest first."""
    if not items:
        st.caption("No updates yet.")
        return
    rows = []
    for item in items:
        started, ended = _number(item.get("created_at")), _number(item.get("finished_at"))
        stages = item.get("stages") or []
        rows.append({
            "update": str(item.get("id", "")), "status": str(item.get("status", "")),
            "trigger": str(item.get("trigger", "")),
            "started": datetime.fromtimestamp(started) if started else None,
            "took": duration(ended - started) if started and ended else "",
            "stages": " ".join(f"{s.get('name')} {STATE_MARKS.get(str(s.get('state')), '?')}"
                               for s in stages if isinstance(s, dict)),
            "error": str(item.get("error") or ""),
        })
    when = st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")
    st.dataframe(rows, hide_index=True, width="stretch", column_config={"started": when})
