"""Where one transformer layer's time goes on MLX's CPU backend, with mlx-lm's own ops and with the
project's fast kernels: a 512-token prefill chunk at 1,536 tokens of context, and one decode step.

    .venv/bin/python -m ops.bench.generate_profile [--repeats 9]

Each figure is the fastest of `repeats` evaluations (ms), so a busy host inflates them less.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

CHUNK, CONTEXT, VOCAB_ROWS = 512, 1536, 1


def best_ms(work: Callable[[], Any], repeats: int) -> float:
    import mlx.core as mx

    mx.eval(work())
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        mx.eval(work())
        best = min(best, time.perf_counter() - started)
    return best * 1000


def layer_ops(model: Any, rows: int, context: int) -> dict[str, Callable[[], Any]]:
    """The pieces of one layer (and the output layer) for `rows` new tokens over `context`."""
    import mlx.core as mx
    from mlx import nn

    layer, embed = model.layers[0], model.model.embed_tokens
    attn, mlp = layer.self_attn, layer.mlp
    x = mx.random.normal((1, rows, attn.q_proj.weight.shape[1]))
    q = mx.random.normal((1, attn.n_heads, rows, attn.head_dim))
    k = mx.random.normal((1, attn.n_kv_heads, context, attn.head_dim))
    gate = mx.random.normal((1, rows, mlp.gate_proj.weight.shape[0]))
    mask = "causal" if rows > 1 else None
    mx.eval(x, q, k, gate)
    return {
        "rms norm": lambda: layer.input_layernorm(x),
        "q/k/v/o projections": lambda: [attn.q_proj(x), attn.k_proj(x), attn.v_proj(x), attn.o_proj(x)],
        "rope": lambda: attn.rope(q, offset=context - rows),
        "attention (mx.fast.sdpa)": lambda: mx.fast.scaled_dot_product_attention(
            q, k, k, scale=attn.scale, mask=mask),
        "attention (fast kernels)": lambda: _fast_attention(q, k, attn.scale, mask),
        "gate/up/down projections": lambda: [mlp.gate_proj(x), mlp.up_proj(x), mlp.down_proj(gate)],
        "silu(gate)·up (mlx-lm)": lambda: nn.silu(gate) * gate,
        "silu(gate)·up (fast kernels)": lambda: _fast_swiglu(gate),
        "output layer, last row": lambda: embed.as_linear(x[:, -VOCAB_ROWS:]),
    }


def _fast_attention(q: Any, k: Any, scale: float, mask: Any) -> Any:
    from services.generation.kernels import attention

    return attention(q, k, k, scale, mask)


def _fast_swiglu(gate: Any) -> Any:
    from services.generation.kernels import swiglu

    return swiglu(gate, gate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    from shared.mlx_runtime import use_fast_blas

    use_fast_blas()
    from services.generation.kernels import native_compiler, transpose_storage
    from services.generation.weights import load_weights
    from shared.settings import get_settings

    native_compiler()
    plain = load_weights(get_settings().model.base_id, fast_kernels=False).model
    stored = load_weights(get_settings().model.base_id, fast_kernels=False).model
    transpose_storage(stored)
    print(f"| op (one layer of {len(plain.layers)}) | prefill {CHUNK} @ {CONTEXT} | "
          f"+ transposed weights | decode 1 @ {CONTEXT} | + transposed weights |")
    print("|---|---|---|---|---|")
    tables = [layer_ops(m, rows, CONTEXT) for rows in (CHUNK, 1) for m in (plain, stored)]
    for name in tables[0]:
        cells = [f"{best_ms(table[name], args.repeats):.2f}" for table in tables]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
