"""An mlx-lm LoRA adapter as a llama.cpp GGUF LoRA adapter (`adapter.gguf` in the version folder).

mlx-lm adds `scale * (x @ lora_a) @ lora_b` (lora_a: in x r, lora_b: r x out); llama.cpp adds
`alpha / r * B (A x)` with tensors `blk.N.<name>.weight.lora_{a,b}` (numpy shapes r x in, out x r).
The base model was converted from GGUF with q/k rows un-permuted for Hugging Face's rotary layout,
so q and k deltas get llama.cpp's row permutation back, as convert_lora_to_gguf.py does.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

GGUF_ADAPTER = "adapter.gguf"
NAMES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
         "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
         "mlp.down_proj": "ffn_down"}


def permute(rows: Any, heads: int) -> Any:
    """llama.cpp's rotary layout: each head's halves interleaved (convert_hf_to_gguf.permute)."""
    return (rows.reshape(heads, 2, rows.shape[0] // heads // 2, *rows.shape[1:])
            .swapaxes(1, 2).reshape(rows.shape))


def gguf_name(key: str) -> tuple[str, str] | None:
    """`model.layers.3.self_attn.q_proj.lora_a` -> `blk.3.attn_q.weight.lora_a`, and the module."""
    parts = key.split(".")
    if len(parts) < 6 or parts[:2] != ["model", "layers"] or parts[-1] not in ("lora_a", "lora_b"):
        return None
    module = ".".join(parts[3:-1])
    if module not in NAMES:
        return None
    return f"blk.{parts[2]}.{NAMES[module]}.weight.{parts[-1]}", module


def model_config(folder: Path) -> dict[str, Any]:
    """The base model's config.json that adapter_config.json names."""
    adapter = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    base = Path(adapter["model"])
    return dict(json.loads((base / "config.json").read_text(encoding="utf-8")), **adapter)


def convert(folder: Path, force: bool = False) -> Path:
    """Write folder/adapter.gguf from adapters.safetensors (atomically; kept if already there)."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    target = folder / GGUF_ADAPTER
    if target.is_file() and not force:
        return target
    config = model_config(folder)
    heads, kv_heads = config["num_attention_heads"], config.get("num_key_value_heads")
    lora = config["lora_parameters"]
    tensors = load_file(str(folder / "adapters.safetensors"))
    writer_path = folder / f".{GGUF_ADAPTER}.tmp"
    writer = gguf.GGUFWriter(str(writer_path), arch=config.get("model_type", "llama"))
    writer.add_string(gguf.Keys.General.TYPE, gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(lora["scale"]) * int(lora["rank"]))
    for key in sorted(tensors):
        named = gguf_name(key)
        if named is None:
            raise ValueError(f"{folder}: cannot map adapter tensor {key} to llama.cpp")
        name, module = named
        value = np.ascontiguousarray(tensors[key].astype(np.float32).T)  # (r, in) or (out, r)
        if key.endswith("lora_b") and module in ("self_attn.q_proj", "self_attn.k_proj"):
            value = permute(value, heads if module.endswith("q_proj") else (kv_heads or heads))
        writer.add_tensor(name, np.ascontiguousarray(value))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(writer_path, target)
    log.info("converted the adapter in %s to %s (%d tensors)", folder, GGUF_ADAPTER, len(tensors))
    return target
