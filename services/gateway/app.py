"""Gateway: the public entry point. /ready aggregates every service (updates and proxies come later)."""

from __future__ import annotations

from fastapi import FastAPI

from services.gateway.readiness import service_check
from shared.service import ReadyCheck, create_service_app, redis_check
from shared.settings import SERVICES, get_settings


def create_app() -> FastAPI:
    settings = get_settings()
    checks: dict[str, ReadyCheck] = {"redis": redis_check(settings)}
    checks.update({name: service_check(name, settings) for name in SERVICES if name != "gateway"})
    return create_service_app("gateway", checks)
