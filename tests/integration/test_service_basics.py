"""What every service shares: /health, /ready with and without Redis, problem details, token guard,
and `mde clean`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient

from shared.service import create_service_app, redis_check, token_guard
from shared.settings import PROJECT_ROOT, Settings
from tests.conftest import RedisServer, free_port


def test_ready_follows_redis(make_settings: Callable[..., Settings], redis_server: RedisServer) -> None:
    settings = make_settings(redis_port=redis_server.port, redis_password=redis_server.password)
    with TestClient(create_service_app("probe", {"redis": redis_check(settings)})) as client:
        assert client.get("/health").json() == {"status": "ok", "service": "probe"}
        assert client.get("/ready").json()["checks"]["redis"]["ok"] is True


def test_ready_is_503_with_the_reason_when_redis_is_down(make_settings: Callable[..., Settings]) -> None:
    """Fault: nothing listens on the Redis port."""
    settings = make_settings(redis_port=free_port())
    with TestClient(create_service_app("probe", {"redis": redis_check(settings)})) as client:
        response = client.get("/ready")
    assert response.status_code == 503
    assert response.json()["ready"] is False
    assert "ConnectionError" in response.json()["checks"]["redis"]["detail"]


@pytest.mark.parametrize("service", ["crawler", "indexer", "trainer", "retrieval", "gateway"])
def test_each_service_app_answers_health(make_settings: Callable[..., Settings],
                                         redis_server: RedisServer, service: str) -> None:
    make_settings(redis_port=redis_server.port, redis_password=redis_server.password,
                  update__bootstrap="false")
    module = __import__(f"services.{service}.app", fromlist=["create_app"])
    with TestClient(module.create_app()) as client:
        assert client.get("/health").status_code == 200
        missing = client.get("/no/such/route")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(("bind", "required", "token", "header", "status"), [
    ("127.0.0.1", False, "tok", None, 200),           # loopback: no token needed
    ("0.0.0.0", False, "tok", None, 401),             # fault: beyond loopback, no token
    ("0.0.0.0", False, "tok", "Bearer wrong", 401),   # fault: wrong token
    ("0.0.0.0", False, "tok", "Bearer tok", 200),
    ("127.0.0.1", True, "tok", None, 401),            # fault: required explicitly, missing
    ("0.0.0.0", False, "", None, 401),                # fault: beyond loopback, no token configured
    ("0.0.0.0", False, "", "Bearer ", 401),           # fault: the same, an empty bearer sent
])
def test_internal_token_on_mutating_routes(make_settings: Callable[..., Settings], bind: str,
                                           required: bool, token: str, header: str | None,
                                           status: int) -> None:
    settings = make_settings(bind_host=bind, internal_token=token, require_internal_token=required)
    app = create_service_app("probe", {})

    @app.post("/mutate", dependencies=[Depends(token_guard(settings))])
    async def mutate() -> dict[str, bool]:
        return {"ok": True}

    headers = {"Authorization": header} if header else {}
    assert TestClient(app).post("/mutate", headers=headers).status_code == status


def test_clean_lists_then_removes_generated_data(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for folder in ("raw", "qdrant", "datasets", "models/adapters/v1", "redis"):
        (data / folder).mkdir(parents=True)
    (data / "pages.sqlite").write_text("x")
    env = {"DATA_DIR": str(data), "PATH": "/usr/bin:/bin"}
    dry = subprocess.run([sys.executable, "-m", "shared.cli", "clean", "--dry-run"], cwd=PROJECT_ROOT,
                         env=env, capture_output=True, text=True, timeout=60)
    assert "would remove" in dry.stdout and (data / "raw").exists()
    done = subprocess.run([sys.executable, "-m", "shared.cli", "clean", "--yes"], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "removed 5 paths" in done.stdout
    assert sorted(p.name for p in data.iterdir()) == ["redis"]  # the stack's Redis data is kept
