"""Trainer with the real SmolLM2 model and a tiny config: publish, skip, merge, reject, and the
reload of a real generation service (its own process, on the same DATA_DIR)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from services.trainer import dataset, publish, training
from services.trainer.attempts import REDIS_KEY, AttemptLog
from services.trainer.merge import merge_adapter
from shared.http import wait_ready
from shared.mlx_runtime import use_fast_blas
from shared.pointer import read_pointer
from shared.settings import PROJECT_ROOT, Settings, get_settings
from tests.conftest import free_port
from tests.unit.trainer.corpus import corpus_chunks

pytestmark = pytest.mark.slow  # trains the real SmolLM2 model

TINY = {"finetune__iters": 4, "finetune__batch_size": 2, "finetune__max_seq_length": 48,
        "finetune__num_layers": 1, "finetune__lora_rank": 4, "finetune__lora_alpha": 8,
        "finetune__learning_rate": 5e-4, "finetune__warmup_iters": 1,
        "finetune__steps_per_report": 1, "finetune__checkpoint_every": 2,
        "finetune__val_batches": 0, "finetune__eval_max_tokens": 256,
        "finetune__general_max_tokens": 256, "finetune__max_train_samples": 48,
        "finetune__test_ratio": 0.3, "finetune__max_general_ppl_increase": 1.0}
ASK = {"question": "What is Microsoft Defender?", "mode": "ft", "max_tokens": 4, "temperature": 0}


@pytest.fixture
def tiny(make_settings: Callable[..., Settings], redis_server: object,
         redis_client: object) -> Iterator[Settings]:
    settings = make_settings(redis_port=redis_server.port,  # type: ignore[attr-defined]
                             redis_password=redis_server.password,  # type: ignore[attr-defined]
                             generation_port=free_port(), **TINY)
    dataset.build_dataset(corpus_chunks(10, max_chars=400), settings)
    yield settings
    get_settings.cache_clear()


@pytest.fixture
def generation(tiny: Settings, tmp_path: Path) -> Iterator[httpx.Client]:
    """The real generation service (`shared.serve generation`, the real model) on tiny's DATA_DIR:
    the trainer's /reload goes to it, and the test asks it which weights it serves."""
    log = tmp_path / "generation.log"
    process = subprocess.Popen([sys.executable, "-m", "shared.serve", "generation"],
                               cwd=PROJECT_ROOT, env=dict(os.environ), stdout=log.open("ab"),
                               stderr=subprocess.STDOUT)
    url = tiny.service_url("generation")
    try:
        up = wait_ready(url, 180, alive=lambda: process.poll() is None)
        assert up, f"generation did not start:\n{log.read_text()[-3000:]}"
        with httpx.Client(base_url=url, timeout=120) as client:
            assert client.get("/model").json()["ft"]["kind"] == "base"  # nothing published yet
            yield client
    finally:
        process.terminate()
        process.wait(30)


def served(client: httpx.Client) -> tuple[str, str | None]:
    """(kind, version) of the weights an `ft` answer of the running service comes from."""
    done = client.post("/generate", json=ASK, headers={"Accept": "application/json"}).json()
    return done["weights"]["kind"], done["weights"].get("version")


def test_train_publish_skip_merge(tiny: Settings, generation: httpx.Client,
                                  redis_client: object) -> None:
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
    assert result["reloaded"] is True
    model_view = generation.get("/model").json()["ft"]
    assert (model_view["kind"], model_view.get("version")) == ("adapter", result["version"])
    assert served(generation) == ("adapter", result["version"])  # answers come from the new adapter
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


def test_diverging_learning_rate_is_rejected(tiny: Settings, generation: httpx.Client) -> None:
    """Fault: a learning rate of 50 makes training diverge."""
    settings = tiny.model_copy(update={"finetune": tiny.finetune.model_copy(
        update={"learning_rate": 50.0, "warmup_iters": 0})})
    result = training.finetune(settings)
    assert result["status"] == "rejected"
    assert "diverged" in result["reason"] or "not lower" in result["reason"]
    out_dir = Path(settings.finetune.out_dir)
    assert read_pointer(out_dir) is None
    rejected = out_dir / publish.REJECTED / result["version"]
    assert json.loads((rejected / "metrics.json").read_text())["rejected_reason"] == result["reason"]
    assert result["reloaded"] is False
    assert served(generation) == ("base", None)  # the service keeps the base weights
    assert AttemptLog(settings).all()[-1]["status"] == "rejected"
    assert training.finetune(settings)["status"] == "skipped"  # never retrained in a loop
