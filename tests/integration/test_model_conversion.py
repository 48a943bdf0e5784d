"""The converted MLX model must predict what the original GGUF predicts, on a long prompt.

A short prompt cannot catch a wrong RoPE base (mlx-lm silently falls back to 10000 when
`rope_theta` is missing), so the comparison runs over a >= 1,500-token document.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ops import prepare_model
from shared.settings import get_settings
from tests.conftest import SHARED

MIN_TOKENS = 1500


def long_document(tokenizer: object, min_tokens: int) -> list[int]:
    text = ""
    for path in sorted((SHARED / "corpus" / "mde").glob("*.md")):
        text += path.read_text(encoding="utf-8") + "\n\n"
        tokens = tokenizer.encode(text)  # type: ignore[attr-defined]
        if len(tokens) >= min_tokens:
            return tokens[: min_tokens + 100]
    raise AssertionError("corpus too small for the comparison")


@pytest.fixture(scope="module")
def model_dir() -> Path:
    path = Path(get_settings().model.base_id)
    if not (path / prepare_model.MARKER).exists():
        pytest.fail(f"{path} is not prepared: run `make setup`")
    return path


def test_config_keeps_the_rope_base(model_dir: Path) -> None:
    config = json.loads((model_dir / "config.json").read_text())
    assert config["rope_theta"] == 100000.0
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert "quantization_config" not in config


def test_mlx_matches_the_gguf_on_a_long_prompt(model_dir: Path, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from shared.mlx_runtime import import_mlx

    mx = import_mlx()
    from mlx_lm import load

    mlx_model, tokenizer = load(str(model_dir))
    tokens = long_document(tokenizer, MIN_TOKENS)
    mlx_argmax = np.array(mx.argmax(mlx_model(mx.array(tokens)[None]), axis=-1)[0])

    gguf = prepare_model.download_gguf(tmp_path)
    reference = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                     dtype=torch.float32)
    with torch.no_grad():
        ref_argmax = reference(torch.tensor([tokens])).logits.argmax(-1)[0].numpy()

    agreement = float((mlx_argmax == ref_argmax).mean())
    assert len(tokens) >= MIN_TOKENS
    assert agreement >= 0.99, f"only {agreement:.3f} of next-token predictions agree"


def test_interrupted_preparation_leaves_nothing_behind(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault: the conversion dies half-way (after the download) -> no target, no temp folder."""
    def die(*_: object) -> None:
        raise KeyboardInterrupt("killed during conversion")

    monkeypatch.setattr(prepare_model, "gguf_to_hf", die)
    target = tmp_path / "models" / "smol"
    with pytest.raises(KeyboardInterrupt):
        prepare_model.prepare(target)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_prepared_model_is_not_converted_again(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prepare_model, "download_gguf", lambda *_: pytest.fail("downloaded again"))
    assert prepare_model.prepare(model_dir) == model_dir
