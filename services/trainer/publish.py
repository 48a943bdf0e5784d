"""Adapter versions: the publish rule, the atomic `current` switch, rejection, pruning, rollback.

`<out_dir>/<version>/` holds a published (or previously published) adapter; `<out_dir>/rejected/`
holds adapters that failed the rule, with the reason in their metrics.json; `<out_dir>/current`
names the one the generation service serves.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.errors import NotFound, ServiceError
from shared.http import service_client
from shared.names import child_path
from shared.pointer import read_pointer, write_pointer
from shared.settings import FinetuneSettings, Settings

log = logging.getLogger(__name__)

REJECTED = "rejected"
ADAPTER_FILES = ("adapter_config.json", "adapters.safetensors")


@dataclass(frozen=True)
class Decision:
    publish: bool
    reason: str


def new_version(dataset_hash: str) -> str:
    """Sortable and unique: UTC time, then the dataset hash it was trained on."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + dataset_hash[:8]


def decide(metrics: dict[str, Any], ft: FinetuneSettings) -> Decision:
    """Publish only if held-out perplexity beats the base (by publish_margin) and is no worse than
    the published adapter's on today's test split, and general English did not degrade too far."""
    new, base = metrics["heldout_ppl"], metrics["base_heldout_ppl"]
    current = metrics.get("current_heldout_ppl")
    if metrics.get("diverged"):
        return Decision(False, f"training diverged: {metrics['diverged']}")
    if not math.isfinite(new):
        return Decision(False, f"held-out perplexity is not finite ({new})")
    if new >= base * (1 - ft.publish_margin):
        return Decision(False, f"held-out perplexity {new:.3f} is not lower than the base "
                               f"model's {base:.3f}" + (f" by {ft.publish_margin:.0%}"
                                                        if ft.publish_margin else ""))
    if current is not None and new > current:
        return Decision(False, f"held-out perplexity {new:.3f} is worse than the published "
                               f"adapter {metrics.get('current_version')}'s {current:.3f}")
    general, base_general = metrics.get("general_ppl"), metrics.get("base_general_ppl")
    if general is not None and base_general:
        limit = base_general * (1 + ft.max_general_ppl_increase)
        if not math.isfinite(general) or general > limit:
            return Decision(False, f"general-English perplexity {general:.3f} rose more than "
                                   f"{ft.max_general_ppl_increase:.0%} over the base's "
                                   f"{base_general:.3f}")
    gain = 1 - new / base
    return Decision(True, f"held-out perplexity {new:.3f} vs base {base:.3f} ({gain:.1%} lower)")


def write_metrics(folder: Path, metrics: dict[str, Any]) -> None:
    tmp = folder / f".metrics-{os.getpid()}.json"
    tmp.write_text(json.dumps(metrics, indent=2, sort_keys=True, default=str))
    os.replace(tmp, folder / "metrics.json")


def read_metrics(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / "metrics.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}


def is_adapter(folder: Path) -> bool:
    return all((folder / name).is_file() for name in ADAPTER_FILES)


def version_dirs(out_dir: Path) -> list[Path]:
    """Published (and formerly published) versions, oldest first."""
    if not out_dir.is_dir():
        return []
    return sorted(p for p in out_dir.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and p.name != REJECTED)


def publish(staging: Path, out_dir: Path, version: str, keep: int) -> Path:
    """Move the staged adapter into place, switch `current` atomically, prune old versions."""
    final = out_dir / version
    export_gguf(staging)
    os.replace(staging, final)
    write_pointer(out_dir, version)
    prune(out_dir, keep)
    log.info("published adapter %s", version)
    return final


def export_gguf(folder: Path) -> None:
    """The adapter as a GGUF LoRA beside it, for the llama.cpp engine (versioned with the adapter);
    a failure only logs: the engine converts it on load when the file is missing."""
    from services.generation import lora_gguf

    try:
        lora_gguf.convert(folder)
    except Exception as error:  # noqa: BLE001 - publishing must not fail on another engine's file
        log.warning("could not convert the adapter in %s to GGUF: %s", folder, error)


def reject(staging: Path, out_dir: Path, version: str, reason: str, keep: int) -> Path:
    """Keep the adapter for inspection under rejected/, with the reason in its metrics."""
    metrics = read_metrics(staging)
    metrics.update({"status": "rejected", "rejected_reason": reason})
    write_metrics(staging, metrics)
    final = out_dir / REJECTED / version
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging, final)
    _remove_oldest(sorted(p for p in final.parent.iterdir() if p.is_dir()), keep, None)
    log.warning("rejected adapter %s: %s", version, reason)
    return final


def _remove_oldest(folders: list[Path], keep: int, protect: str | None) -> list[str]:
    removable = [p for p in folders if p.name != protect]
    doomed = removable[:max(len(removable) - (keep - (1 if protect else 0)), 0)]
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
    return [p.name for p in doomed]


def prune(out_dir: Path, keep: int) -> list[str]:
    """Remove the oldest versions beyond `keep`, never the one `current` names."""
    removed = _remove_oldest(version_dirs(out_dir), keep, read_pointer(out_dir))
    if removed:
        log.info("pruned adapter versions %s", ", ".join(removed))
    return removed


def kept_version(out_dir: Path, version: str) -> Path | None:
    """The folder of a kept version, published or rejected (None when there is none)."""
    for root in (out_dir, out_dir / REJECTED):
        folder = child_path(root, version, "version")
        if version != REJECTED and (folder / "metrics.json").is_file():
            return folder
    return None


def list_versions(out_dir: Path) -> list[dict[str, Any]]:
    """Every kept version, published or rejected, with its metrics, newest first."""
    current = read_pointer(out_dir)
    rows = []
    for folder in version_dirs(out_dir) + version_dirs(out_dir / REJECTED):
        metrics = read_metrics(folder)
        rejected = folder.parent.name == REJECTED
        rows.append({"version": folder.name, "current": folder.name == current and not rejected,
                     "status": "rejected" if rejected else "published", "path": str(folder),
                     **{k: metrics.get(k) for k in ("heldout_ppl", "base_heldout_ppl",
                                                    "general_ppl", "base_general_ppl",
                                                    "dataset_hash", "created_at",
                                                    "rejected_reason")}})
    return sorted(rows, key=lambda row: row["version"], reverse=True)


def use_version(out_dir: Path, version: str) -> Path:
    """Point `current` at a kept version (rollback or roll forward)."""
    folder = child_path(out_dir, version, "version")
    if version == REJECTED or not is_adapter(folder):
        raise NotFound(f"no published adapter version {version!r} in {out_dir}")
    write_pointer(out_dir, version)
    log.info("current adapter is now %s", version)
    return folder


def reload_generation(settings: Settings) -> bool:
    """Ask the generation service to load the new `current`; a missing service is only a warning."""
    client = service_client("generation", settings, timeout=120)
    try:
        client.post("/reload")
        return True
    except ServiceError as error:
        log.warning("generation /reload failed (%s): it loads the new adapter at its next start",
                    error)
        return False
    finally:
        client.close()
