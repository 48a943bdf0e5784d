"""Trainer with the real SmolLM2 model and a tiny config: publish, skip, merge, reject, reload."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from services.trainer import dataset, publish, training
from services.trainer.attempts import REDIS_KEY, AttemptLog
from services.trainer.merge import merge_adapter
from shared.http import ServiceClient
from shared.mlx_runtime import use_fast_blas
from shared.pointer import read_pointer
from shared.settings import Settings, get_settings
from tests.unit.trainer.corpus import corpus_chunks

pytestmark = pytest.mark.slow  # trains the real SmolLM2 model

TINY = {"finetune__iters": 4, "finetune__batch_size": 2, "finetune__max_seq_length": 48,
        "finetune__num_layers": 1, "finetune__lora_rank": 4, "finetune__lora_alpha": 8,
        "finetune__learning_rate": 5e-4, "finetune__warmup_iters": 1,
        "finetune__steps_per_report": 1, "finetune__checkpoint_every": 2,
        "finetune__val_batches": 0, "finetune__eval_max_tokens": 256,
        "finetune__general_max_tokens": 256, "finetune__max_train_samples": 48,
        "finetune__test_ratio": 0.3, "finetune__max_general_ppl_increase": 1.0}


@pytest.fixture
def reloads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every POST the trainer sends to the generation service (answered 200 by a mock)."""
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(f"{request.method} {request.url.path}")
        return httpx.Response(200, json={"weights": {"kind": "adapter"}})

    def client(name: str, settings: object = None, timeout: float = 30.0) -> ServiceClient:
        return ServiceClient(name, "http://generation.test", transport=httpx.MockTransport(handler))

    monkeypatch.setattr(publish, "service_client", client)
    return calls


@pytest.fixture
def tiny(make_settings: Callable[..., Settings], redis_server: object,
         redis_client: object) -> Iterator[Settings]:
    settings = make_settings(redis_port=redis_server.port,  # type: ignore[attr-defined]
                             redis_password=redis_server.password, **TINY)  # type: ignore[attr-defined]
    dataset.build_dataset(corpus_chunks(10, max_chars=400), settings)
    yield settings
    get_settings.cache_clear()


def test_train_publish_skip_merge(tiny: Settings, reloads: list[str], redis_client: object) -> None:
    use_fast_blas()  # before mlx_lm: the first mlx import decides which BLAS it binds
    from mlx_lm import generate, load

    result = training.finetune(tiny)
    assert result["status"] == "published", result["reason"]
    metrics = result["metrics"]
    assert metrics["heldout_ppl"] < metrics["base_heldout_ppl"]
    out_dir = Path(tiny.finetune.out_dir)
    assert read_pointer(out_dir) == result["version"]
    folder = out_dir / result["version"]
    saved = json.loads((folder / "metrics.json").read_text())
    assert saved["dataset_hash"] == dataset.current_dataset(tiny).hash  # type: ignore[union-attr]
    assert saved["base_model"] == tiny.model.base_id and saved["settings"]["iters"] == 4
    assert reloads == ["POST /reload"]
    model, tokenizer = load(tiny.model.base_id, adapter_path=str(folder))
    assert generate(model, tokenizer, "Microsoft Defender", max_tokens=4)

    again = training.finetune(tiny)
    assert again["status"] == "skipped", again["reason"]
    assert result["version"] in again["reason"]
    statuses = [json.loads(raw)["status"] for raw in redis_client.lrange(REDIS_KEY, 0, -1)]  # type: ignore[attr-defined]
    assert statuses == ["published", "skipped"]

    merged = merge_adapter(tiny)
    merged_dir = Path(merged["path"])
    assert read_pointer(tiny.merge.out_dir) == result["version"]
    model, tokenizer = load(str(merged_dir))
    assert generate(model, tokenizer, "Microsoft Defender", max_tokens=4)


def test_diverging_learning_rate_is_rejected(tiny: Settings, reloads: list[str]) -> None:
    settings = tiny.model_copy(update={"finetune": tiny.finetune.model_copy(
        update={"learning_rate": 50.0, "warmup_iters": 0})})
    result = training.finetune(settings)
    assert result["status"] == "rejected"
    assert "diverged" in result["reason"] or "not lower" in result["reason"]
    out_dir = Path(settings.finetune.out_dir)
    assert read_pointer(out_dir) is None
    rejected = out_dir / publish.REJECTED / result["version"]
    assert json.loads((rejected / "metrics.json").read_text())["rejected_reason"] == result["reason"]
    assert reloads == []
    assert AttemptLog(settings).all()[-1]["status"] == "rejected"
    assert training.finetune(settings)["status"] == "skipped"  # never retrained in a loop
