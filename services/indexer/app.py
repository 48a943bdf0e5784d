"""Indexer service API: health and readiness (its routes arrive with the indexer issue)."""

from __future__ import annotations

from fastapi import FastAPI

from shared.service import create_service_app, redis_check
from shared.settings import get_settings


def create_app() -> FastAPI:
    settings = get_settings()
    return create_service_app("indexer", {"redis": redis_check(settings)})
