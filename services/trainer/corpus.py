"""Where the dataset's chunks come from: the retrieval service's stored payloads, or a chunks.jsonl
file (`mde process` writes DATA_DIR/processed/chunks.jsonl)."""

from __future__ import annotations

import logging
from pathlib import Path

from shared.errors import NotFound, ServiceError
from shared.schemas import Chunk, ChunkPage
from shared.settings import Settings

log = logging.getLogger(__name__)

PAGE_SIZE = 256


def read_chunks_file(path: Path) -> list[Chunk]:
    """One Chunk per JSON line."""
    if not path.is_file():
        raise NotFound(f"no chunks file at {path}: run `mde process` first")
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Chunk.model_validate_json(line) for line in lines if line.strip()]


def fetch_chunks(settings: Settings, page_size: int = PAGE_SIZE) -> list[Chunk]:
    """Every stored chunk, page by page, from the retrieval service's GET /chunks (a ChunkPage)."""
    from shared.http import service_client

    client = service_client("retrieval", settings, timeout=60)
    chunks: list[Chunk] = []
    offset: str | None = None
    try:
        while True:
            params = {"limit": page_size} | ({"offset": offset} if offset else {})
            page = ChunkPage.model_validate(client.get("/chunks", params=params).json())
            chunks += page.items
            if page.next_offset is None or not page.items:
                return chunks
            offset = page.next_offset
    finally:
        client.close()


def load_chunks(settings: Settings, path: Path | None = None) -> list[Chunk]:
    """Chunks from a file when given, else from the retrieval service, else DATA_DIR/processed."""
    if path is not None:
        return read_chunks_file(path)
    try:
        return fetch_chunks(settings)
    except ServiceError as error:
        fallback = settings.data_dir / "processed" / "chunks.jsonl"
        if not fallback.is_file():
            raise
        log.warning("retrieval /chunks failed (%s): reading %s", error, fallback)
        return read_chunks_file(fallback)
