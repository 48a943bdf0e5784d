"""Publish rule, atomic pointer, rejection with a reason, pruning, rollback."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from services.trainer import publish
from shared.errors import InvalidName, NotFound
from shared.pointer import read_pointer
from shared.settings import FinetuneSettings

FT = FinetuneSettings()


def staged(root: Path, name: str, **metrics: object) -> Path:
    folder = root / f".staging-{name}"
    folder.mkdir(parents=True)
    for file in publish.ADAPTER_FILES:
        (folder / file).write_text("{}")
    publish.write_metrics(folder, {"heldout_ppl": 10.0, **metrics})
    return folder


@pytest.mark.parametrize(("metrics", "ok", "words"), [
    ({"heldout_ppl": 8.0, "base_heldout_ppl": 10.0}, True, "20.0% lower"),
    ({"heldout_ppl": 10.5, "base_heldout_ppl": 10.0}, False, "not lower than the base"),
    ({"heldout_ppl": math.inf, "base_heldout_ppl": 10.0}, False, "not finite"),
    ({"heldout_ppl": 8.0, "base_heldout_ppl": 10.0, "current_heldout_ppl": 7.5,
      "current_version": "v1"}, False, "worse than the published adapter v1"),
    ({"heldout_ppl": 8.0, "base_heldout_ppl": 10.0, "general_ppl": 30.0,
      "base_general_ppl": 20.0}, False, "general-English perplexity"),
    ({"heldout_ppl": 8.0, "base_heldout_ppl": 10.0, "diverged": "loss nan"}, False, "diverged"),
])
def test_decide(metrics: dict, ok: bool, words: str) -> None:
    decision = publish.decide(metrics, FT)
    assert decision.publish is ok and words in decision.reason


def test_publish_switches_current_and_prunes_old_versions(tmp_path: Path) -> None:
    for name in ("20260101-000000-a", "20260102-000000-b", "20260103-000000-c"):
        publish.publish(staged(tmp_path, name), tmp_path, name, keep=2)
    assert read_pointer(tmp_path) == "20260103-000000-c"
    assert [p.name for p in publish.version_dirs(tmp_path)] == ["20260102-000000-b",
                                                                "20260103-000000-c"]


def test_pruning_never_removes_the_current_version(tmp_path: Path) -> None:
    for name in ("v1", "v2", "v3"):
        publish.publish(staged(tmp_path, name), tmp_path, name, keep=3)
    publish.use_version(tmp_path, "v1")  # rollback to the oldest
    assert publish.prune(tmp_path, keep=2) == ["v2"]
    assert [p.name for p in publish.version_dirs(tmp_path)] == ["v1", "v3"]
    assert read_pointer(tmp_path) == "v1"


def test_reject_keeps_the_adapter_with_its_reason(tmp_path: Path) -> None:
    publish.publish(staged(tmp_path, "v1"), tmp_path, "v1", keep=3)
    final = publish.reject(staged(tmp_path, "v2"), tmp_path, "v2", "worse than v1", keep=3)
    assert final == tmp_path / "rejected" / "v2"
    assert json.loads((final / "metrics.json").read_text())["rejected_reason"] == "worse than v1"
    assert read_pointer(tmp_path) == "v1"
    rows = publish.list_versions(tmp_path)
    assert [(r["version"], r["status"], r["current"]) for r in rows] == [
        ("v2", "rejected", False), ("v1", "published", True)]


def test_use_version_refuses_unknown_or_rejected(tmp_path: Path) -> None:
    publish.publish(staged(tmp_path, "v1"), tmp_path, "v1", keep=3)
    publish.reject(staged(tmp_path, "v2"), tmp_path, "v2", "bad", keep=3)
    for version in ("v9", "v2", "rejected"):
        with pytest.raises(NotFound):
            publish.use_version(tmp_path, version)
    assert read_pointer(tmp_path) == "v1"


def test_use_version_refuses_a_path_or_a_link_leading_out(tmp_path: Path) -> None:
    """Fault: `mde adapters use ../v1`, and a version folder that is a symlink to an adapter
    elsewhere (before, the link was followed and served)."""
    out_dir = tmp_path / "adapters"
    publish.publish(staged(out_dir, "v1"), out_dir, "v1", keep=3)
    elsewhere = tmp_path / "elsewhere"
    publish.publish(staged(elsewhere, "evil"), elsewhere, "evil", keep=3)
    (out_dir / "linked").symlink_to(elsewhere / "evil", target_is_directory=True)
    for version in ("../elsewhere/evil", "linked", ".", ""):
        with pytest.raises(InvalidName):
            publish.use_version(out_dir, version)
    assert read_pointer(out_dir) == "v1"


def test_reload_failure_is_a_warning(make_settings: object) -> None:
    settings = make_settings(generation_url="http://127.0.0.1:9")  # type: ignore[operator]
    assert publish.reload_generation(settings) is False
