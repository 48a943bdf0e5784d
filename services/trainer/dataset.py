"""The fine-tuning dataset, built from indexed chunks: deterministic, deduplicated, split by page.

Layout of one dataset (`<dataset_dir>/<hash16>/`): `text/` holds continual-pretraining records
(`{"text"}`) and `chat/` instruction pairs (`{"messages"}`), each with train/valid/test.jsonl, so each
folder is a dataset mlx-lm reads (it picks one format per folder from the first record).
`manifest.json` has the content hash, counts and pages per split; `current` names the latest build.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import shutil
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from services.trainer import pairs
from shared.pointer import current_version_dir, write_pointer
from shared.schemas import Chunk
from shared.settings import Settings

log = logging.getLogger(__name__)

FORMAT_VERSION = 1  # part of the hash: bump when the records change for the same chunks
SPLITS = ("train", "valid", "test")
KINDS = ("text", "chat")
Records = dict[str, dict[str, list[dict[str, Any]]]]  # split -> kind -> records


@dataclass
class DatasetInfo:
    hash: str
    path: str
    counts: dict[str, dict[str, int]]  # split -> kind -> records
    pages: dict[str, int]  # split -> pages
    seed: int
    test_hash: str = ""
    built_at: float = field(default_factory=time.time)
    dropped_duplicates: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def dataset_root(settings: Settings) -> Path:
    return Path(settings.finetune.dataset_dir or settings.data_dir / "datasets")


def page_split(url: str, val_ratio: float, test_ratio: float) -> str:
    """train/valid/test from a hash of the canonical URL: a page keeps its split as the corpus grows."""
    point = int(hashlib.sha256(url.encode("utf-8")).hexdigest()[:15], 16) / 16**15
    if point < test_ratio:
        return "test"
    return "valid" if point < test_ratio + val_ratio else "train"


def text_record(chunk: Chunk) -> dict[str, str]:
    """Continual-pretraining text: title, heading path, then the section text."""
    return {"text": pairs.PATH_SEPARATOR.join(chunk.heading_path or [chunk.title])
            + "\n\n" + chunk.text.strip()}


def chat(system: str, user: str, answer: str) -> dict[str, Any]:
    return {"messages": [{"role": "system", "content": system}, {"role": "user", "content": user},
                         {"role": "assistant", "content": answer}]}


def normalised(record: dict[str, Any]) -> str:
    return re.sub(r"\s+", " ", json.dumps(record, sort_keys=True, ensure_ascii=False).lower())


def unique_pages(chunks: list[Chunk]) -> dict[str, list[Chunk]]:
    """Chunks grouped by canonical URL in reading order; a page whose content repeats another's
    (same page_hash under another URL) is kept once, under its first URL."""
    by_url: dict[str, list[Chunk]] = defaultdict(list)
    for chunk in sorted(chunks, key=lambda c: (c.url, c.position, c.id)):
        by_url[chunk.url].append(chunk)
    seen: set[str] = set()
    pages = {}
    for url, page in by_url.items():
        if page[0].page_hash in seen:
            continue
        seen.add(page[0].page_hash)
        pages[url] = page
    return pages


class PairMaker:
    """Derives the chat records of one split; distractor passages come from the same split only."""

    def __init__(self, settings: Settings, pool: list[Chunk], rng: random.Random) -> None:
        self.ft, self.pool, self.rng = settings.finetune, pool, rng
        self.ft_system = Path(settings.model.ft_system_prompt_file).read_text("utf-8").strip()
        self.rag_system = Path(settings.model.system_prompt_file).read_text("utf-8").strip()
        self.answer_chars = max(200, (self.ft.max_seq_length - 80) * 3)

    def for_chunk(self, chunk: Chunk) -> list[dict[str, Any]]:
        records = [chat(self.ft_system, question, answer)
                   for question, answer in pairs.table_facts(chunk, self.ft.max_table_rows)]
        question = pairs.section_question(chunk)
        for _ in range(self.ft.pairs_per_chunk if question else 0):
            if self.rng.random() < self.ft.rag_pair_ratio and len(self.pool) > self.ft.rag_passages:
                records.append(self._rag(chunk, question or ""))
            else:
                answer = pairs.clip(chunk.text, self.answer_chars)
                records.append(chat(self.ft_system, question or "", answer))
        return records

    def _rag(self, chunk: Chunk, question: str) -> dict[str, Any]:
        others = [c for c in self.rng.sample(self.pool, self.ft.rag_passages + 1) if c.url != chunk.url]
        answerable = self.rng.random() >= self.ft.unanswerable_ratio
        count = self.ft.rag_passages - (1 if answerable else 0)
        system, user, answer = pairs.rag_pair(chunk, question, others[:count], self.rng,
                                              self.ft.rag_passage_chars, answerable, self.rag_system)
        return chat(system, user, answer)


def build_records(chunks: list[Chunk], settings: Settings) -> tuple[Records, dict[str, int], int]:
    """All records by split and kind, deduplicated and in a seeded order; also pages per split."""
    ft = settings.finetune
    by_split: dict[str, list[Chunk]] = defaultdict(list)
    page_counts = dict.fromkeys(SPLITS, 0)
    for url, page in unique_pages(chunks).items():
        split = page_split(url, ft.val_ratio, ft.test_ratio)
        by_split[split].extend(page)
        page_counts[split] += 1
    records: Records = {}
    seen: set[str] = set()
    dropped = 0
    for split in SPLITS:
        rng = random.Random(f"{ft.seed}:{split}")
        maker = PairMaker(settings, by_split[split], rng)
        raw = {"text": [text_record(c) for c in by_split[split]],
               "chat": [r for c in by_split[split] for r in maker.for_chunk(c)]}
        records[split] = {}
        for kind, items in raw.items():
            kept = []
            for item in items:
                key = normalised(item)
                if key in seen:
                    dropped += 1
                    continue
                seen.add(key)
                kept.append(item)
            rng.shuffle(kept)
            records[split][kind] = kept
    cap_train(records, ft.max_train_samples, ft.seed)
    return records, page_counts, dropped


def cap_train(records: Records, limit: int, seed: int) -> None:
    """Keep at most `limit` training records, each kind cut in proportion (seeded choice)."""
    total = sum(len(items) for items in records["train"].values())
    if total <= limit:
        return
    for kind, items in records["train"].items():
        keep = round(limit * len(items) / total)
        records["train"][kind] = random.Random(f"{seed}:cap:{kind}").sample(items, keep)


def content_hash(records: Records, settings: Settings) -> str:
    """sha256 over every record in order plus the format version and the base model."""
    digest = hashlib.sha256(f"v{FORMAT_VERSION}|{settings.model.base_id}".encode())
    for split in SPLITS:
        for kind in KINDS:
            digest.update(f"|{split}/{kind}|".encode())
            for record in records[split][kind]:
                digest.update(json.dumps(record, sort_keys=True, ensure_ascii=False).encode())
                digest.update(b"\n")
    return digest.hexdigest()


def test_split_hash(records: Records) -> str:
    """Hash of the held-out text alone: evaluations on an equal test split can be reused."""
    body = "\n".join(json.dumps(r, sort_keys=True) for r in records["test"]["text"])
    return hashlib.sha256(body.encode()).hexdigest()


def write_dataset(records: Records, info: DatasetInfo, root: Path) -> Path:
    """Write the dataset folder (complete or not at all) and point `current` at it."""
    root.mkdir(parents=True, exist_ok=True)
    final = root / info.hash[:16]
    if not (final / "manifest.json").exists():
        staging = root / f".tmp-{info.hash[:16]}-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        for split in SPLITS:
            for kind in KINDS:
                folder = staging / kind
                folder.mkdir(parents=True, exist_ok=True)
                lines = (json.dumps(r, ensure_ascii=False) + "\n" for r in records[split][kind])
                (folder / f"{split}.jsonl").write_text("".join(lines), encoding="utf-8")
        info.path = str(final)
        (staging / "manifest.json").write_text(json.dumps(info.to_dict(), indent=2))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging, final)
    write_pointer(root, final.name)
    return final


def build_dataset(chunks: list[Chunk], settings: Settings) -> DatasetInfo:
    """Build, hash and write the dataset for these chunks; an equal dataset is not rewritten."""
    if not chunks:
        raise ValueError("no chunks: index the docs first (`mde crawl`, `mde index`)")
    records, page_counts, dropped = build_records(chunks, settings)
    counts = {s: {k: len(records[s][k]) for k in KINDS} for s in SPLITS}
    info = DatasetInfo(content_hash(records, settings), "", counts, page_counts,
                       settings.finetune.seed, test_split_hash(records), dropped_duplicates=dropped)
    info.path = str(write_dataset(records, info, dataset_root(settings)))
    log.info("dataset %s: %s (pages %s, %d duplicates dropped)", info.hash[:16], counts,
             page_counts, dropped)
    return load_info(Path(info.path))


def load_info(folder: Path) -> DatasetInfo:
    data = json.loads((folder / "manifest.json").read_text())
    data["path"] = str(folder)
    return DatasetInfo(**data)


def current_dataset(settings: Settings) -> DatasetInfo | None:
    """The latest built dataset, if any."""
    folder = current_version_dir(dataset_root(settings))
    return load_info(folder) if folder and (folder / "manifest.json").exists() else None


def read_split(folder: Path, kind: str, split: str) -> list[dict[str, Any]]:
    path = folder / kind / f"{split}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
