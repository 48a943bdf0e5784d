"""Fixtures every tier shares: free ports, a real redis-server, settings from a temp DATA_DIR."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from redis import Redis

from shared.settings import PROJECT_ROOT, Settings, get_settings

SHARED = PROJECT_ROOT.parent / "shared"  # ../shared: docsite, corpus, eval questions (read-only)

# Tests never read a developer's secrets file or config.
os.environ["MDE_SECRETS_FILE"] = str(PROJECT_ROOT / "tests" / ".no-secrets")
os.environ.pop("MDE_CONFIG", None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RedisServer:
    port: int
    password: str
    process: subprocess.Popen[bytes]
    data_dir: Path

    @property
    def url(self) -> str:
        return f"redis://:{quote(self.password, safe='')}@127.0.0.1:{self.port}/0"

    def client(self) -> Redis:
        return Redis.from_url(self.url)


def start_redis(data_dir: Path, port: int | None = None, password: str = "test-pass") -> RedisServer:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--requirepass", password,
         "--dir", str(data_dir), "--appendonly", "yes", "--save", ""],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = RedisServer(port, password, process, data_dir)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            server.client().ping()
            return server
        except Exception:  # noqa: BLE001 - still starting
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"redis-server did not start on port {port}")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server on a free port, with a password, for the whole session."""
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.process.terminate()
    server.process.wait(10)


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[Redis]:
    """A client to a flushed database (flushed again after the test)."""
    client = redis_server.client()
    client.flushall()
    yield client
    client.flushall()


@pytest.fixture
def make_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., Settings]:
    """Point the process-wide settings at a temp DATA_DIR (plus any env overrides) and return them."""

    def build(**env: object) -> Settings:
        monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
        for key, value in env.items():
            monkeypatch.setenv(key.upper(), str(value))
        get_settings.cache_clear()
        return get_settings()

    yield build
    get_settings.cache_clear()


@pytest.fixture
def stack_settings(make_settings: Callable[..., Settings], redis_server: RedisServer,
                   redis_client: Redis) -> Settings:
    """Settings wired to the test Redis."""
    return make_settings(redis_port=redis_server.port, redis_password=redis_server.password)


@dataclass
class Docsite:
    process: subprocess.Popen[str]
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/en-us/defender-endpoint/"

    @property
    def domain(self) -> str:
        return f"127.0.0.1:{self.port}"

    def requests(self) -> list[dict]:
        import json

        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def start_docsite(log: Path, *args: str) -> Docsite:
    """Run ../shared/tools/docsite.py on a free port (extra args: --faults, --limit N, --root ...)."""
    import sys

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(SHARED / "tools" / "docsite.py"), "--port", str(port), "--log", str(log),
         *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    site = Docsite(process, port, log)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return site
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"docsite did not start on port {port}")


@pytest.fixture
def docsite(tmp_path: Path) -> Iterator[Callable[..., Docsite]]:
    """Factory: `docsite("--limit", "20")` starts a docsite; all are stopped after the test."""
    sites: list[Docsite] = []

    def start(*args: str) -> Docsite:
        site = start_docsite(tmp_path / f"docsite-{len(sites)}.log", *args)
        sites.append(site)
        return site

    yield start
    for site in sites:
        site.stop()
