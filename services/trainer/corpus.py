"""Where the dataset's chunks come from: the retrieval service's stored payloads, or a chunks.jsonl
file (`mde process` writes DATA_DIR/processed/chunks.jsonl)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from shared.errors import NotFound, ServiceError
from shared.schemas import Chunk
from shared.settings import Settings

log = logging.getLogger(__name__)

PAGE_SIZE = 256


def read_chunks_file(path: Path) -> list[Chunk]:
    """One Chunk per JSON line."""
    if not path.is_file():
        raise NotFound(f"no chunks file at {path}: run `mde process` first")
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Chunk.model_validate_json(line) for line in lines if line.strip()]


def _page_items(body: Any) -> tuple[list[dict[str, Any]], Any]:
    """(chunk payloads, next offset) from one GET /chunks answer."""
    if isinstance(body, list):
        return body, None
    items = body.get("items") or body.get("chunks") or body.get("points") or []
    items = [item.get("payload", item) if isinstance(item, dict) else item for item in items]
    return items, body.get("next_offset", body.get("next"))


def fetch_chunks(settings: Settings, page_size: int = PAGE_SIZE) -> list[Chunk]:
    """Every stored chunk, page by page, from the retrieval service's GET /chunks."""
    from shared.http import service_client

    client = service_client("retrieval", settings, timeout=60)
    chunks: list[Chunk] = []
    offset: Any = 0
    try:
        while offset is not None:
            body = client.get("/chunks", params={"offset": offset, "limit": page_size}).json()
            items, next_offset = _page_items(body)
            chunks += [Chunk.model_validate(item) for item in items]
            if next_offset is None and isinstance(offset, int) and len(items) == page_size:
                next_offset = offset + page_size  # numeric paging without a next_offset field
            offset = next_offset if items else None
    finally:
        client.close()
    return chunks


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
