"""An mlx-lm LoRA adapter as a llama.cpp GGUF LoRA: names, shapes, alpha, q/k row permutation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFReader
from safetensors.numpy import save_file

from services.generation import lora_gguf

HEADS, KV_HEADS, HIDDEN, RANK = 4, 2, 16, 2


def adapter(tmp_path: Path, extra: dict[str, np.ndarray] | None = None) -> Path:
    base, folder = tmp_path / "base", tmp_path / "v1"
    base.mkdir()
    folder.mkdir()
    (base / "config.json").write_text(json.dumps({
        "model_type": "llama", "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS}))
    (folder / "adapter_config.json").write_text(json.dumps({
        "model": str(base), "lora_parameters": {"rank": RANK, "scale": 4.0, "dropout": 0.0}}))
    rng = np.random.default_rng(0)
    kv = HIDDEN // HEADS * KV_HEADS
    outs = {"q_proj": HIDDEN, "k_proj": kv, "v_proj": kv}
    tensors = {}
    for name, out in outs.items():
        key = f"model.layers.3.self_attn.{name}"
        tensors[f"{key}.lora_a"] = rng.standard_normal((HIDDEN, RANK)).astype(np.float32)
        tensors[f"{key}.lora_b"] = rng.standard_normal((RANK, out)).astype(np.float32)
    save_file({**tensors, **(extra or {})}, str(folder / "adapters.safetensors"))
    return folder


def test_tensors_are_named_shaped_and_scaled_for_llama_cpp(tmp_path: Path) -> None:
    folder = adapter(tmp_path)
    path = lora_gguf.convert(folder)
    reader = GGUFReader(str(path))
    fields = {name: field for name, field in reader.fields.items()}
    assert bytes(fields["general.type"].parts[-1]).decode() == "adapter"
    assert float(fields["adapter.lora.alpha"].parts[-1][0]) == pytest.approx(4.0 * RANK)
    tensors = {t.name: np.array(t.data) for t in reader.tensors}
    assert set(tensors) == {f"blk.3.attn_{p}.weight.lora_{ab}" for p in "qkv" for ab in "ab"}
    assert tensors["blk.3.attn_q.weight.lora_a"].shape == (RANK, HIDDEN)   # ggml ne: [in, r]
    assert tensors["blk.3.attn_k.weight.lora_b"].shape == (8, RANK)        # ggml ne: [r, out]


def test_q_and_k_rows_get_llama_cpp_rotary_order_and_v_does_not(tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    folder = adapter(tmp_path)
    source = load_file(str(folder / "adapters.safetensors"))
    tensors = {t.name: np.array(t.data) for t in GGUFReader(str(lora_gguf.convert(folder))).tensors}
    q = source["model.layers.3.self_attn.q_proj.lora_b"].T
    k = source["model.layers.3.self_attn.k_proj.lora_b"].T
    v = source["model.layers.3.self_attn.v_proj.lora_b"].T
    # head h's rows [first half | second half] become interleaved pairs (convert_hf_to_gguf.permute)
    assert np.array_equal(tensors["blk.3.attn_q.weight.lora_b"], lora_gguf.permute(q, HEADS))
    assert np.array_equal(tensors["blk.3.attn_k.weight.lora_b"], lora_gguf.permute(k, KV_HEADS))
    assert np.array_equal(tensors["blk.3.attn_v.weight.lora_b"], v)
    head = HIDDEN // HEADS
    assert np.array_equal(lora_gguf.permute(q, HEADS)[1], q[head // 2])  # row 1 = second half's 0


def test_an_unknown_tensor_is_refused_naming_it(tmp_path: Path) -> None:
    """Fault injected: a LoRA on a module llama.cpp has no name for."""
    folder = adapter(tmp_path, {"model.embed_tokens.lora_a": np.zeros((2, 2), np.float32)})
    with pytest.raises(ValueError, match="model.embed_tokens.lora_a"):
        lora_gguf.convert(folder)
    assert not (folder / lora_gguf.GGUF_ADAPTER).exists()
