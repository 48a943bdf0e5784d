"""Retrieval service API: health and readiness (search and the store arrive with the index issue)."""

from __future__ import annotations

import os

from fastapi import FastAPI

from shared.service import create_service_app
from shared.settings import get_settings


def create_app() -> FastAPI:
    settings = get_settings()

    async def store_dir() -> tuple[bool, str]:
        path = settings.data_dir / "qdrant"
        path.mkdir(parents=True, exist_ok=True)
        return (os.access(path, os.W_OK), str(path))

    return create_service_app("retrieval", {"store": store_dir})
