"""Which published weights are served: exactly the version `current` names, adapter before merge."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from services.generation import weights
from shared.pointer import write_pointer
from shared.settings import Settings


def adapter(folder: Path, version: str) -> Path:
    path = folder / version
    path.mkdir(parents=True)
    for name in weights.ADAPTER_FILES:
        (path / name).write_text("{}")
    (path / "metrics.json").write_text('{"heldout_ppl": 12.5, "note": "text", "ok": true}')
    return path


def test_nothing_published(make_settings: Callable[..., Settings]) -> None:
    assert weights.published(make_settings()) is None


def test_current_pointer_wins_over_the_newest_folder(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    root = Path(settings.finetune.out_dir)
    adapter(root, "20250101-000000-aaaa")
    adapter(root, "20260101-000000-bbbb")  # newer, but not published
    write_pointer(root, "20250101-000000-aaaa")
    found = weights.published(settings)
    assert found is not None and (found.kind, found.version) == ("adapter", "20250101-000000-aaaa")
    assert weights.read_metrics(found.path) == {"heldout_ppl": 12.5}


def test_incomplete_adapter_falls_back_to_the_merge(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    broken = Path(settings.finetune.out_dir) / "v1"
    broken.mkdir(parents=True)
    write_pointer(settings.finetune.out_dir, "v1")
    merged = Path(settings.merge.out_dir) / "v1"
    merged.mkdir(parents=True)
    (merged / "config.json").write_text("{}")
    write_pointer(settings.merge.out_dir, "v1")
    found = weights.published(settings)
    assert found is not None and found.kind == "merged"


def test_rag_stays_on_the_base_weights() -> None:
    from shared.schemas import WeightsInfo

    def loaded(kind: str) -> weights.LoadedWeights:
        return weights.LoadedWeights(None, None, WeightsInfo(kind=kind, path=kind, loaded_at=0))

    base, tuned = loaded("base"), loaded("adapter")
    served = weights.WeightSet(base, tuned)
    assert served.for_mode("rag") is base and served.for_mode("rag_ft") is tuned
    assert served.default_mode("rag") == "rag_ft" and served.default_mode("ft") == "ft"
    alone = weights.WeightSet(base)
    assert alone.for_mode("ft") is base and alone.default_mode("rag") == "rag"
