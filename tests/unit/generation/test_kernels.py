"""The fast CPU kernels compute what mlx-lm's own layers compute (tiny random llama model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.mlx_runtime import use_fast_blas

use_fast_blas()
mx = pytest.importorskip("mlx.core")

from mlx_lm.models import llama
from mlx_lm.models.cache import make_prompt_cache

from services.generation import kernels

ARGS = llama.ModelArgs(model_type="llama", hidden_size=64, num_hidden_layers=2, intermediate_size=128,
                       num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5,
                       vocab_size=97, tie_word_embeddings=True)


def twins() -> tuple[llama.Model, llama.Model]:
    mx.random.seed(7)
    plain = llama.Model(ARGS)
    fast = llama.Model(ARGS)
    fast.update(plain.parameters())
    assert kernels.accelerate(fast)
    return plain, fast


def run(model: llama.Model, tokens: list[int], chunk: int) -> mx.array:
    """Chunked prefill, then three greedy decode steps: the logits of every step."""
    cache = make_prompt_cache(model)
    for start in range(0, len(tokens) - 1, chunk):
        model(mx.array(tokens[start:min(start + chunk, len(tokens) - 1)])[None], cache=cache)
    step, outputs = mx.array([[tokens[-1]]]), []
    for _ in range(3):
        logits = model(step, cache=cache)[:, -1]
        outputs.append(logits)
        step = mx.argmax(logits, axis=-1)[:, None]
    return mx.stack(outputs)


def test_prefill_and_decode_match_the_plain_model() -> None:
    plain, fast = twins()
    tokens = [int(t) for t in mx.random.randint(0, 97, (40,)).tolist()]
    expected, got = run(plain, tokens, 16), run(fast, tokens, 16)
    assert mx.allclose(expected, got, atol=1e-3).item()
    assert type(fast.layers[0].self_attn).__name__ == "FastAttention"


def test_batched_generation_matches_one_by_one() -> None:
    from mlx_lm.generate import BatchGenerator

    _, fast = twins()
    prompts = [[5, 9, 13, 2, 7, 1], [3, 4], [8, 8, 8, 8]]
    generator = BatchGenerator(fast, max_tokens=5, prefill_batch_size=3, completion_batch_size=3)
    uids = generator.insert(prompts)
    together: dict[int, list[int]] = {uid: [] for uid in uids}
    while any(len(v) < 5 for v in together.values()):
        for response in generator.next_generated():
            together[response.uid].append(response.token)
    for uid, prompt in zip(uids, prompts):
        alone = BatchGenerator(fast, max_tokens=5)
        [one] = alone.insert([prompt])
        tokens: list[int] = []
        while len(tokens) < 5:
            tokens += [r.token for r in alone.next_generated() if r.uid == one]
        assert tokens == together[uid]


def test_exp_and_swiglu_are_accurate() -> None:
    x = mx.linspace(-80, 80, 10001)
    assert (mx.abs(kernels._scores_exp(x) - mx.exp(x)) / mx.exp(x)).max().item() < 1e-4
    g = mx.linspace(-30, 30, 1001)
    silu = g * mx.sigmoid(g)
    assert mx.abs(kernels.swiglu(g, mx.ones_like(g)) - silu).max().item() < 1e-4


@pytest.mark.skipif(kernels.shutil.which("g++") is None, reason="needs g++")
def test_native_compiler_wrapper_never_calls_itself(tmp_path, monkeypatch) -> None:
    """Fault injected: a second process that inherits the wrapper-first PATH (as a child of the
    generation service does) sets the compiler up again. The CI hang: the wrapper was rewritten to
    exec itself, and every MLX kernel build on the machine spun forever."""
    import subprocess

    os = kernels.os
    monkeypatch.setenv("PATH", os.environ["PATH"])  # restored after the test, as is TMPDIR
    monkeypatch.setenv("TMPDIR", os.environ.get("TMPDIR", "/tmp"))
    folder = tmp_path / "native"
    assert kernels.native_compiler(folder)
    wrapper = folder / "bin" / "g++"
    first = wrapper.read_text()
    assert kernels.native_compiler(folder)  # PATH now starts with the wrapper's folder
    assert wrapper.read_text() == first
    target = Path(first.split('exec "', 1)[1].split('"', 1)[0])
    assert target.resolve() != wrapper.resolve()
    assert kernels.WRAPPER_MARK not in target.read_bytes()[:200].decode(errors="ignore")
    assert os.environ["PATH"].split(os.pathsep).count(str(folder / "bin")) == 1
    version = subprocess.run([str(wrapper), "--version"], check=False, capture_output=True,
                             text=True, timeout=30)
    assert version.returncode == 0, version.stderr
    assert "Free Software Foundation" in version.stdout
