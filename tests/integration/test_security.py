"""Fail closed: processes that would listen unguarded refuse to start, mutating routes refuse
browsers on other sites, every unexpected error is a problem document, and a Redis password with
URL characters works."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient

from shared.queues import redis_connection
from shared.service import create_service_app, token_guard
from shared.settings import PROJECT_ROOT, Settings
from tests.conftest import free_port, start_redis
from tests.unit.test_security import EVIL

PROBLEM = "application/problem+json"


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DATA_DIR": str(tmp_path), **env}
    return subprocess.run([sys.executable, *args], cwd=PROJECT_ROOT, env=environment,
                          capture_output=True, text=True, timeout=60)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("service", ["crawler", "gateway"])
def test_an_api_beyond_loopback_without_a_token_refuses_to_start(tmp_path: Path,
                                                                  service: str) -> None:
    """Fault: BIND_HOST=0.0.0.0 with an empty INTERNAL_TOKEN (before, it started and served every
    mutating route to the network)."""
    port = free_port()
    result = run(["-m", "shared.serve", service], tmp_path, BIND_HOST="0.0.0.0", INTERNAL_TOKEN="",
                 **{f"{service.upper()}_PORT": str(port)})
    line = one_line(result)
    assert "INTERNAL_TOKEN" in line and "0.0.0.0" in line


def test_required_token_that_is_not_set_is_a_startup_error(tmp_path: Path) -> None:
    """Fault: REQUIRE_INTERNAL_TOKEN=true with no INTERNAL_TOKEN (before: nothing was required)."""
    result = run(["-m", "shared.serve", "crawler"], tmp_path, REQUIRE_INTERNAL_TOKEN="true",
                 INTERNAL_TOKEN="", CRAWLER_PORT=str(free_port()))
    assert "INTERNAL_TOKEN" in one_line(result)
    cli = run(["-m", "shared.cli", "status"], tmp_path, REQUIRE_INTERNAL_TOKEN="true",
              INTERNAL_TOKEN="")
    assert cli.returncode == 2 and "set INTERNAL_TOKEN" in cli.stdout + cli.stderr


def test_redis_beyond_loopback_without_a_password_refuses_to_start(tmp_path: Path) -> None:
    """Fault: REDIS_HOST=0.0.0.0 with no REDIS_PASSWORD (anyone could queue jobs for the
    workers to run)."""
    result = run(["-m", "ops.redis"], tmp_path, REDIS_HOST="0.0.0.0", REDIS_PASSWORD="",
                 REDIS_PORT=str(free_port()))
    assert "REDIS_PASSWORD" in one_line(result)
    assert not (tmp_path / "redis" / "redis.conf").exists()


def test_a_password_with_url_characters_connects(tmp_path: Path,
                                                  make_settings: Callable[..., Settings]) -> None:
    """Fault: a user's password with @ / # % (before, the URL was cut at them: wrong host or
    database, or no password)."""
    password = "p@ss/w#rd%41:x"
    server = start_redis(tmp_path / "redis", password=password)
    try:
        settings = make_settings(redis_port=server.port, redis_password=password)
        assert redis_connection(settings).ping() is True
    finally:
        server.process.terminate()
        server.process.wait(10)


def probe_app(settings: Settings) -> TestClient:
    """An app with one mutating route behind the internal token, served on the gateway's address."""
    app = create_service_app("probe", {})

    @app.post("/mutate", dependencies=[Depends(token_guard(settings))])
    async def mutate() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    return TestClient(app, base_url="http://127.0.0.1:8680", raise_server_exceptions=False)


def test_a_browser_on_another_site_cannot_post(make_settings: Callable[..., Settings]) -> None:
    """Fault: the headers a browser sends on a cross-site `fetch(..., {mode: "no-cors"})`."""
    client = probe_app(make_settings())
    refused = client.post("/mutate", headers=EVIL, content=b"x")
    assert refused.status_code == 403 and refused.headers["content-type"] == PROBLEM
    assert "evil.example" in refused.json()["detail"]
    assert client.post("/mutate").status_code == 200  # curl and the services send no Origin
    own = {"origin": "http://127.0.0.1:8680", "sec-fetch-site": "same-origin"}
    assert client.post("/mutate", headers=own).status_code == 200  # the API's own /docs page
    assert client.get("/health", headers=EVIL).status_code == 200  # reads stay open


def test_an_unexpected_error_is_a_problem_document(make_settings: Callable[..., Settings]) -> None:
    """Fault: a route that raises a bare exception (before: a plain-text 500)."""
    response = probe_app(make_settings()).get("/boom")
    assert response.status_code == 500 and response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == 500 and "RuntimeError" in body["detail"]
    assert "a bug" not in body["detail"]  # the message stays in the log
