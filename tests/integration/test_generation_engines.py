"""What only the llama.cpp engine adds: a published MLX adapter converted to a GGUF LoRA predicts
what MLX predicts with it, and a missing or damaged GGUF stops the service with one line naming
it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from services.generation.weights import Published
from shared.settings import PROJECT_ROOT, Settings, get_settings
from tests.conftest import free_port
from tests.integration import generation_kit as kit

pytestmark = pytest.mark.slow
CHUNK = 512


def mlx_argmax(base_id: str, tokens: list[int], adapter: Path | None) -> np.ndarray:
    import mlx.core as mx
    from mlx_lm import load

    model = load(base_id, adapter_path=str(adapter) if adapter else None)[0]
    return np.array(mx.argmax(model(mx.array(tokens)[None]), axis=-1)[0])


def llama_argmax(weights: Any, tokens: list[int]) -> np.ndarray:
    """Next-token argmax at every position, through the service's own llama.cpp context."""
    import llama_cpp

    slots = weights.model
    context, batch = slots.context, slots.batch.batch
    n_vocab = slots.model.n_vocab()
    found: list[np.ndarray] = []
    for start in range(0, len(tokens), CHUNK):
        part = tokens[start:start + CHUNK]
        for i, token in enumerate(part):
            batch.token[i], batch.pos[i], batch.seq_id[i][0] = token, start + i, 0
            batch.n_seq_id[i], batch.logits[i] = 1, True
        batch.n_tokens = len(part)
        assert llama_cpp.llama_decode(context.ctx, batch) == 0
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits(context.ctx),
                                       shape=(len(part), n_vocab))
        found.append(logits.argmax(-1))
    llama_cpp.llama_memory_seq_rm(context.memory, 0, -1, -1)
    return np.concatenate(found)


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny adapter trained hard (a high learning rate, many steps) so it changes predictions."""
    folder = tmp_path_factory.mktemp("adapters") / "v1"
    return kit.train_adapter(folder, get_settings().model.base_id, iters=2)


def test_adapter_on_llama_cpp_agrees_with_mlx(adapter: Path) -> None:
    """The conversion is proved like the model's: >= 1,500 tokens, argmax agreement >= 99 %, and
    where the adapter changed MLX's prediction, llama.cpp with the adapter changed it the same way.
    Fault injected: none; the adapter is trained hard so it changes most predictions."""
    from services.generation.llama_engine import LlamaBackend

    settings = Settings(model={"engine": "llama_cpp"}, infer={"batch_size": 1})
    backend = LlamaBackend(settings)
    backend.prepare()
    base = backend.load_base()
    tuned = backend.load_published(Published("adapter", "v1", adapter))
    assert (adapter / "adapter.gguf").is_file()  # converted once, kept with the version
    tokens = kit.long_document(base.tokenizer)
    mlx_tuned = mlx_argmax(settings.model.base_id, tokens, adapter)
    mlx_base = mlx_argmax(settings.model.base_id, tokens, None)
    ours_tuned, ours_base = llama_argmax(tuned, tokens), llama_argmax(base, tokens)
    changed = mlx_tuned != mlx_base
    agreement = float((ours_tuned == mlx_tuned).mean())
    print(f"agreement {agreement:.4f} over {len(tokens)} tokens; adapter changed "
          f"{int(changed.sum())} positions; base agreement {(ours_base == mlx_base).mean():.4f}; "
          f"llama tuned vs base {(ours_tuned == ours_base).mean():.4f}")
    assert len(tokens) >= 1500 and agreement >= 0.99
    assert float((ours_base == mlx_base).mean()) >= 0.99  # the F16 GGUF itself (Q4_1: 0.962)
    assert changed.mean() >= 0.02, "the test adapter should change predictions"
    assert float((ours_tuned[changed] == mlx_tuned[changed]).mean()) >= 0.9
    assert float((ours_tuned[changed] != ours_base[changed]).mean()) >= 0.9


def serve_generation(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DATA_DIR": str(tmp_path), "GENERATION_PORT": str(free_port()),
                   "MODEL__ENGINE": "llama_cpp", **env}
    return subprocess.run([sys.executable, "-m", "shared.serve", "generation"], cwd=PROJECT_ROOT,
                          env=environment, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("fault", "expected"), [
    ("missing", "does not exist"),     # fault: MODEL__GGUF names no file
    ("garbage", "bad magic"),          # fault: not a GGUF at all
    ("header", "ends inside"),         # fault: cut inside the metadata
    ("truncated", "truncated"),        # fault: the tensor data cut short (an interrupted copy)
])
def test_a_missing_or_damaged_gguf_is_one_line_naming_the_file(tmp_path: Path, fault: str,
                                                                expected: str) -> None:
    real = Path(get_settings().model.gguf).read_bytes()
    path = tmp_path / f"{fault}.gguf"
    content = {"garbage": b"not a model at all", "header": real[:4096],
               "truncated": real[:len(real) // 2]}.get(fault)
    if content is not None:
        path.write_bytes(content)
    result = serve_generation(tmp_path, MODEL__GGUF=str(path))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if str(path) in line]
    assert expected in line and "make setup" in line
