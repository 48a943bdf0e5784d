"""Dataset: deterministic, deduplicated, split by page with a URL hash, hashed, written atomically."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from services.trainer import dataset
from shared.settings import Settings
from tests.unit.trainer.corpus import corpus_chunks


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(finetune__val_ratio=0.2, finetune__test_ratio=0.2)


def files(info: dataset.DatasetInfo) -> dict[str, str]:
    root = Path(info.path)
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*.jsonl"))}


def test_same_chunks_in_any_order_give_the_same_dataset(settings: Settings) -> None:
    chunks = corpus_chunks(12)
    first = dataset.build_dataset(chunks, settings)
    shuffled = list(chunks)
    random.Random(7).shuffle(shuffled)
    second = dataset.build_dataset(shuffled, settings)
    assert first.hash == second.hash and first.path == second.path
    assert files(first) == files(second)
    assert all(first.counts[split]["text"] > 0 for split in dataset.SPLITS)
    assert dataset.current_dataset(settings).hash == first.hash  # type: ignore[union-attr]


def test_another_seed_or_text_changes_the_hash(settings: Settings) -> None:
    chunks = corpus_chunks(6)
    base = dataset.build_dataset(chunks, settings).hash
    changed = [chunks[0].model_copy(update={"text": chunks[0].text + " Updated."})] + chunks[1:]
    assert dataset.build_dataset(changed, settings).hash != base
    reseeded = settings.model_copy(update={"finetune": settings.finetune.model_copy(
        update={"seed": 7})})
    assert dataset.build_dataset(chunks, reseeded).hash != base


def test_a_page_is_in_one_split_and_keeps_it_as_the_corpus_grows(settings: Settings) -> None:
    chunks = corpus_chunks(40)
    records, pages, _ = dataset.build_records(chunks, settings)
    split_of: dict[str, str] = {}
    for split in dataset.SPLITS:
        for record in records[split]["text"]:
            title = record["text"].split(" › ")[0].split("\n")[0]
            assert split_of.setdefault(title, split) == split, f"{title} is in two splits"
    assert sum(pages.values()) == len({c.url for c in chunks})
    small = {c.url: dataset.page_split(c.url, 0.2, 0.2) for c in corpus_chunks(10)}
    large = {c.url: dataset.page_split(c.url, 0.2, 0.2) for c in chunks}
    assert all(large[url] == split for url, split in small.items())


def test_duplicate_pages_and_records_are_dropped(settings: Settings) -> None:
    chunks = corpus_chunks(4)
    twin = [c.model_copy(update={"url": c.url + "-copy"}) for c in chunks if c.url == chunks[0].url]
    _, pages, _ = dataset.build_records(chunks + twin, settings)
    assert sum(pages.values()) == 4  # the twin (same page_hash) is not a fifth page
    repeated = chunks + [chunks[1].model_copy(update={"id": "other", "position": 99})]
    _, _, dropped = dataset.build_records(repeated, settings)
    assert dropped >= 1


def test_train_records_are_capped(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(finetune__max_train_samples=20)
    records, _, _ = dataset.build_records(corpus_chunks(12), settings)
    train = records["train"]
    assert len(train["text"]) + len(train["chat"]) <= 21 and train["text"] and train["chat"]


def test_records_are_in_formats_mlx_lm_reads(settings: Settings) -> None:
    info = dataset.build_dataset(corpus_chunks(12), settings)
    text = dataset.read_split(Path(info.path), "text", "train")
    chat = dataset.read_split(Path(info.path), "chat", "train")
    assert set(text[0]) == {"text"} and set(chat[0]) == {"messages"}
    roles = [[m["role"] for m in r["messages"]] for r in chat]
    assert all(r == ["system", "user", "assistant"] for r in roles)
    # RAG pairs carry numbered passages where the served prompt puts them (the system message)
    cited = [r for r in chat if "[1]" in r["messages"][0]["content"] and "[" in r["messages"][2]["content"]]
    assert cited, "some pairs teach rag_ft to cite numbered passages"
    manifest = json.loads((Path(info.path) / "manifest.json").read_text())
    assert manifest["hash"] == info.hash and manifest["test_hash"]


def test_no_chunks_is_an_error(settings: Settings) -> None:
    with pytest.raises(ValueError, match="no chunks"):
        dataset.build_dataset([], settings)
