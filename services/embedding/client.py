"""Embedders other services use: the embedding API over HTTP, or the same model in-process (CLI)."""

from __future__ import annotations

import logging
from typing import Literal, Protocol

from shared.http import ServiceClient, service_client
from shared.settings import Settings

log = logging.getLogger(__name__)
Kind = Literal["query", "passage"]


class Embedder(Protocol):
    def embed(self, texts: list[str], kind: Kind = "passage") -> list[list[float]]: ...


class HttpEmbedder:
    """POST /embed, split to the service's per-request limits; over-long texts are cut (the model
    reads only the first 256 tokens anyway)."""

    def __init__(self, settings: Settings, client: ServiceClient | None = None) -> None:
        self.client = client or service_client("embedding", settings, timeout=120.0)
        self.max_texts = min(settings.index.max_texts_per_request, settings.index.embedding_batch * 4)
        self.max_chars = settings.index.max_text_chars

    def embed(self, texts: list[str], kind: Kind = "passage") -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.max_texts):
            batch = [text[: self.max_chars] for text in texts[start:start + self.max_texts]]
            response = self.client.post("/embed", json={"texts": batch, "kind": kind})
            vectors.extend(response.json()["vectors"])
        return vectors


class LocalEmbedder:
    """The embedding service's Encoder, loaded in this process."""

    def __init__(self, settings: Settings) -> None:
        from services.embedding.encoder import Encoder

        self.encoder = Encoder(settings.index.embedding_model, settings.index.embedding_batch,
                               settings.index.embedding_threads)
        self.max_chars = settings.index.max_text_chars

    def embed(self, texts: list[str], kind: Kind = "passage") -> list[list[float]]:
        return self.encoder.embed([text[: self.max_chars] for text in texts])
