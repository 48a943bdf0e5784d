"""The llama.cpp engine's greedy chain keeps the top context + 1 candidates before the repetition
penalty (so it penalises 65 candidates, not the 49k vocabulary): it must pick exactly what the
penalty over the whole vocabulary picks. Real llama.cpp samplers on random logits."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from services.generation.batching import Sampling

llama_cpp = pytest.importorskip("llama_cpp")
VOCAB = 49152


def pick(sampler: object, logits: np.ndarray) -> int:
    data = (llama_cpp.llama_token_data * len(logits))(
        *(llama_cpp.llama_token_data(i, float(x), 0.0) for i, x in enumerate(logits)))
    array = llama_cpp.llama_token_data_array(data, len(logits), -1, False)
    llama_cpp.llama_sampler_apply(sampler.sampler, ctypes.byref(array))  # type: ignore[attr-defined]
    return int(array.data[array.selected].id)


def whole_vocabulary_chain(sampling: Sampling, recent: list[int]) -> object:
    from llama_cpp._internals import LlamaSampler

    sampler = LlamaSampler()
    sampler.add_penalties(0, sampling.repetition_context, sampling.repetition_penalty, 0.0, 0.0)
    sampler.add_greedy()
    for token in recent[-sampling.repetition_context:]:
        sampler.accept(token)
    return sampler


@pytest.mark.parametrize("penalty", [1.15, 1.5, 3.0])
def test_greedy_with_penalty_picks_what_the_whole_vocabulary_would(penalty: float) -> None:
    """Fault injected: the recent tokens are the current top logits, so the penalty must move
    the winner (logits of both signs, so division and multiplication both happen)."""
    from services.generation.llama_slots import make_sampler

    rng = np.random.default_rng(7)
    sampling = Sampling(max_tokens=8, temperature=0.0, top_p=1.0, repetition_penalty=penalty,
                        repetition_context=64)
    moved = 0
    for _ in range(20):
        logits = rng.normal(0, 3, VOCAB).astype(np.float32)
        top = [int(t) for t in np.argsort(-logits)[:64]]
        recent = [int(t) for t in rng.permutation(top[:rng.integers(1, 64)])]
        ours = make_sampler(sampling, VOCAB)
        for token in recent:  # what the model generated so far
            ours.accept(token)
        ours = pick(ours, logits)
        assert ours == pick(whole_vocabulary_chain(sampling, recent), logits)
        moved += ours != top[0]
    assert moved > 0  # the penalty did change the winner, so the comparison meant something


def test_sampling_draws_only_from_the_top_k_after_the_penalty() -> None:
    """Fault injected: the recent tokens are the current top logits and the temperature is high,
    so a chain that cut to k before the penalty (or not at all) would draw penalised or deep
    tokens. With k = 1 the draw must be what greedy over the whole vocabulary picks."""
    from services.generation.llama_slots import make_sampler

    rng = np.random.default_rng(11)
    drawn: set[int] = set()
    for k in (1, 5):
        sampling = Sampling(max_tokens=8, temperature=1.5, top_p=1.0, top_k=k,
                            repetition_penalty=3.0, repetition_context=64)
        for _ in range(10):
            logits = rng.normal(0, 3, VOCAB).astype(np.float32)
            recent = [int(t) for t in np.argsort(-logits)[:rng.integers(1, 64)]]
            penalised = logits.copy()
            for token in set(recent):
                penalised[token] = (penalised[token] / 3.0 if penalised[token] > 0
                                    else penalised[token] * 3.0)
            allowed = {int(t) for t in np.argsort(-penalised)[:k]}
            ours = make_sampler(sampling, VOCAB)
            for token in recent:
                ours.accept(token)
            token = pick(ours, logits)
            assert token in allowed
            if k == 1:
                greedy = Sampling(max_tokens=8, temperature=0.0, top_p=1.0,
                                  repetition_penalty=3.0, repetition_context=64)
                assert token == pick(whole_vocabulary_chain(greedy, recent), logits)
            drawn.add(token)
    assert len(drawn) > 2  # it sampled, not a constant
