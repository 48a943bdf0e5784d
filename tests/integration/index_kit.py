"""Shared by the index and retrieval integration tests: services on real ports, crawl, snapshots."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from shared.http import wait_ready
from shared.settings import Settings, get_settings
from tests.conftest import SHARED, free_port

SITE = SHARED / "site"


@dataclass
class ServiceThread:
    name: str
    port: int
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def start_service(name: str, port: int) -> ServiceThread:
    """Run one service's create_app() with uvicorn in a thread until it answers /ready."""
    import importlib

    app = importlib.import_module(f"services.{name}.app").create_app()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True, name=f"{name}-api")
    thread.start()
    service = ServiceThread(name, port, server, thread)
    if wait_ready(service.url, 120):
        return service
    service.stop()
    raise RuntimeError(f"{name} did not get ready on port {port}")


@contextmanager
def environment(values: dict[str, Any]) -> Iterator[Settings]:
    """Module-wide settings from environment variables (restored afterwards)."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in values.items():
            patch.setenv(key.upper(), str(value))
        get_settings.cache_clear()
        try:
            yield get_settings()
        finally:
            get_settings.cache_clear()


def copy_site(target: Path, slugs: list[str] | None = None) -> Path:
    """A private copy of the docsite root a test may edit (only `slugs` articles when given)."""
    if slugs is None:
        shutil.copytree(SITE, target)
        return target
    folder = target / "en-us" / "defender-endpoint"
    folder.mkdir(parents=True)
    for name in [*slugs, "index", "toc"]:
        for suffix in (".html", ".json"):
            source = SITE / "en-us" / "defender-endpoint" / f"{name}{suffix}"
            if source.exists():
                shutil.copy2(source, folder / source.name)
    return target


def snapshot(retrieval_url: str) -> dict[str, dict[str, Any]]:
    """Every stored chunk by point id, through GET /chunks."""
    found: dict[str, dict[str, Any]] = {}
    offset = None
    while True:
        params = {"limit": 500, **({"offset": offset} if offset else {})}
        body = httpx.get(f"{retrieval_url}/chunks", params=params, timeout=30).json()
        found.update({item["id"]: item for item in body["items"]})
        offset = body["next_offset"]
        if offset is None:
            return found


def env_for_stack(data_dir: Path, redis: Any, site: Any, ports: dict[str, int],
                  **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "data_dir": data_dir, "redis_port": redis.port, "redis_password": redis.password,
        "crawl__base_url": site.base_url, "crawl__allowed_domain": site.domain,
        "crawl__sleep_between_requests_sec": 0, "crawl__request_timeout_sec": 5,
    }
    for name, port in ports.items():
        values[f"{name}_url"] = f"http://127.0.0.1:{port}"
        values[f"{name}_port"] = port
    values.update(extra)
    return values


def free_ports(*names: str) -> dict[str, int]:
    return {name: free_port() for name in names}
