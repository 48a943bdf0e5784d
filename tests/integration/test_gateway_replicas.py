"""Two generation services (real processes, the llama.cpp engine, `ft` mode so no index is needed)
behind one gateway with GENERATION_URLS; one replica is killed mid-run and later restarted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.http import wait_ready
from shared.settings import PROJECT_ROOT
from tests.conftest import RedisServer, free_port

pytestmark = pytest.mark.slow
BODY = {"question": "What is controlled folder access?", "mode": "ft", "max_tokens": 24,
        "temperature": 0}


class Replicated:
    def __init__(self, tmp: Path, redis: RedisServer) -> None:
        self.tmp, self.ports = tmp, [free_port(), free_port()]
        self.urls = [f"http://127.0.0.1:{port}" for port in self.ports]
        self.gateway = f"http://127.0.0.1:{free_port()}"
        self.env = {**os.environ, "DATA_DIR": str(tmp / "data"), "REDIS_PORT": str(redis.port),
                    "REDIS_PASSWORD": redis.password,
                    "GATEWAY_PORT": self.gateway.rsplit(":", 1)[1],
                    "GENERATION_URLS": ",".join(self.urls), "UPDATE__BOOTSTRAP": "false",
                    "MODEL__ENGINE": "llama_cpp", "MODEL__THREADS": "1"}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, name: str, service: str, **env: str) -> None:
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "shared.serve", service], cwd=PROJECT_ROOT,
            env={**self.env, **env}, stdout=(self.tmp / f"{name}.log").open("ab"),
            stderr=subprocess.STDOUT, start_new_session=True)

    def start_replica(self, index: int) -> None:
        self.spawn(f"generation{index}", "generation", GENERATION_PORT=str(self.ports[index]))
        assert wait_ready(self.urls[index], 120), (self.tmp / f"generation{index}.log").read_text()

    def kill(self, name: str) -> None:
        os.killpg(self.processes[name].pid, signal.SIGKILL)  # fault: the replica dies at once
        self.processes[name].wait(10)

    def ask(self) -> tuple[str, dict[str, Any]]:
        reply = httpx.post(f"{self.gateway}/ask", json=BODY, timeout=120,
                           headers={"Accept": "application/json"})
        reply.raise_for_status()
        return reply.headers["x-generation-replica"], reply.json()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(30)


@pytest.fixture
def replicated(redis_server: RedisServer, tmp_path: Path) -> Iterator[Replicated]:
    stack = Replicated(tmp_path, redis_server)
    try:
        stack.start_replica(0)
        stack.start_replica(1)
        stack.spawn("gateway", "gateway")
        assert wait_ready(stack.gateway, 60, "/health")
        yield stack
    finally:
        stack.stop()


def test_requests_spread_and_survive_a_killed_replica(replicated: Replicated) -> None:
    served = [replicated.ask() for _ in range(4)]
    assert {url for url, _ in served} == set(replicated.urls)  # idle replicas share the load
    assert all(done["usage"]["completion_tokens"] > 0 for _, done in served)

    outcomes: list[str] = []

    def client() -> None:
        for _ in range(6):
            try:
                url, done = replicated.ask()
                outcomes.append("ok" if done["usage"]["completion_tokens"] > 0 else "empty")
            except httpx.HTTPError as error:  # only a request running on the killed replica
                outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=client) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    replicated.kill("generation0")  # mid-run: requests in flight and more to come
    for thread in threads:
        thread.join(300)
    failures = [outcome for outcome in outcomes if outcome != "ok"]
    assert len(outcomes) == 12 and len(failures) <= 2, outcomes  # at most those in flight on it
    after = [replicated.ask() for _ in range(3)]
    assert {url for url, _ in after} == {replicated.urls[1]}
    ready = httpx.get(f"{replicated.gateway}/ready", timeout=10).json()
    assert "1/2 replicas ready" in str(ready)

    replicated.start_replica(0)  # recovers: the gateway's /ready probe takes it back
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if replicated.urls[0] in {replicated.ask()[0] for _ in range(2)}:
            break
    else:
        pytest.fail("the restarted replica got no requests")
