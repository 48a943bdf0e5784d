"""Checkpoints with a tiny random Llama: weights, Adam state and step survive; batches resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from services.trainer import checkpoint, lora
from shared.mlx_runtime import import_mlx
from shared.settings import FinetuneSettings

FT = FinetuneSettings(iters=6, num_layers=2, lora_rank=2, lora_alpha=4, warmup_iters=2, lora_dropout=0,
                      learning_rate=1e-2)


def tiny_model() -> Any:
    """The same random base every call (a resumed run reloads the same base model)."""
    mx = import_mlx()
    from mlx_lm.models import llama

    mx.random.seed(0)
    args = llama.ModelArgs(model_type="llama", hidden_size=32, num_hidden_layers=2,
                           intermediate_size=64, num_attention_heads=4, rms_norm_eps=1e-5,
                           vocab_size=50, num_key_value_heads=2, tie_word_embeddings=True)
    model = llama.Model(args)
    lora.attach_lora(model, FT)
    return model


def train_steps(model: Any, optimizer: Any, steps: int) -> None:
    import mlx.core as mx
    from mlx import nn
    from mlx_lm.tuner.trainer import default_loss

    value_and_grad = nn.value_and_grad(model, default_loss)
    batch = mx.array([[1, 2, 3, 4, 5, 6, 7, 8]] * 2)
    lengths = mx.array([[0, 8]] * 2)
    for _ in range(steps):
        _, grads = value_and_grad(model, batch, lengths)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)


def flat(tree: Any) -> dict[str, Any]:
    from mlx.utils import tree_flatten

    return {k: v.tolist() for k, v in tree_flatten(tree)}


def test_save_then_restore_gives_the_same_weights_optimizer_and_step(tmp_path: Path) -> None:
    model, optimizer = tiny_model(), lora.make_optimizer(FT)
    train_steps(model, optimizer, 3)
    checkpoint.save(tmp_path, 3, model, optimizer, {"seed": 1})
    assert checkpoint.latest(tmp_path) == (3, tmp_path / "step-0000003")

    fresh, fresh_optimizer = tiny_model(), lora.make_optimizer(FT)
    assert checkpoint.restore(tmp_path / "step-0000003", fresh, fresh_optimizer) == 3
    assert flat(fresh.trainable_parameters()) == flat(model.trainable_parameters())
    assert flat(fresh_optimizer.state) == flat(optimizer.state)
    train_steps(model, optimizer, 1)
    train_steps(fresh, fresh_optimizer, 1)
    after, expected = flat(fresh.trainable_parameters()), flat(model.trainable_parameters())
    assert all(np.allclose(after[key], expected[key], atol=1e-6) for key in expected)


def test_only_the_newest_complete_checkpoint_is_kept(tmp_path: Path) -> None:
    model, optimizer = tiny_model(), lora.make_optimizer(FT)
    (tmp_path / ".tmp-0000009-1").mkdir(parents=True)  # a write that was killed
    (tmp_path / "step-0000009").mkdir()  # no state.json: incomplete
    checkpoint.save(tmp_path, 2, model, optimizer, {})
    checkpoint.save(tmp_path, 4, model, optimizer, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-0000004"]


def test_batches_skip_what_a_resumed_run_already_trained_on() -> None:
    data = [([i] * (i % 5 + 2), 0) for i in range(12)]

    def firsts(batches: Any, count: int) -> list[list[int]]:
        return [b[0][:, 0].tolist() for _, b in zip(range(count), batches)]

    full = firsts(lora.Batches(3)(data, 2, 16, loop=True), 9)
    resumed = firsts(lora.Batches(3, skip=4)(data, 2, 16, loop=True), 5)
    assert resumed == full[4:]
    assert len(firsts(lora.Batches(3)(data, 2, 16), 100)) == 6  # one pass without loop


def test_records_with_no_answer_inside_the_window_are_dropped() -> None:
    from mlx_lm.utils import load_tokenizer

    from shared.settings import get_settings

    tokenizer = load_tokenizer(Path(get_settings().model.base_id))
    long_prompt = {"messages": [{"role": "user", "content": "word " * 80},
                                {"role": "assistant", "content": "The answer."}]}
    short = {"messages": [{"role": "user", "content": "Q?"},
                          {"role": "assistant", "content": "A full answer sentence here."}]}
    kept = lora.tokenize([long_prompt, short], tokenizer, True, 48)
    assert len(kept) == 1 and kept[0][1] < 48  # a batch of only the first would have loss 0/0
    assert len(lora.tokenize([long_prompt, short], tokenizer, True, 512)) == 2
