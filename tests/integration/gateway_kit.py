"""A gateway and one supervised RQ worker per queue on a test Redis, with stand-in stage functions
steered by files (see gateway_stages.py): shared by the gateway and UI tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from shared.settings import PROJECT_ROOT
from tests.conftest import RedisServer, free_port
from tests.integration.gateway_stages import STAGE_FUNCTIONS


class Pipeline:
    """A gateway and one supervised worker per queue, sharing a test Redis."""

    def __init__(self, tmp: Path, redis: RedisServer, **env: str) -> None:
        self.tmp, self.redis, self.port = tmp, redis, free_port()
        self.stage_dir = tmp / "stages"
        self.stage_dir.mkdir(exist_ok=True)
        self.env = {**os.environ, "DATA_DIR": str(tmp / "data"), "REDIS_PORT": str(redis.port),
                    "REDIS_PASSWORD": redis.password, "GATEWAY_PORT": str(self.port),
                    "UPDATE__STAGE_FUNCTIONS": json.dumps(STAGE_FUNCTIONS),
                    "UPDATE__BOOTSTRAP": "false", "UPDATE__MONITOR_INTERVAL_SEC": "0.5",
                    "UPDATE__RETRY_INTERVALS_SEC": "[1]", "UPDATE__MAX_RETRIES": "1",
                    "WORKER__HEARTBEAT_INTERVAL_SEC": "2", "WORKER__MAINTENANCE_INTERVAL_SEC": "3",
                    "MDE_TEST_STAGE_DIR": str(self.stage_dir), **env}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, name: str, *command: str) -> None:
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "ops.supervise", name, "--", sys.executable, *command],
            cwd=PROJECT_ROOT, env=self.env, stdout=(self.tmp / f"{name}.log").open("ab"),
            stderr=subprocess.STDOUT, start_new_session=True)

    def start(self) -> "Pipeline":
        for queue in ("crawl", "index", "train"):
            self.spawn(f"{queue}_worker", "-m", "shared.worker", queue)
        self.spawn("gateway", "-m", "shared.serve", "gateway")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url("/health"), timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise TimeoutError("gateway did not start")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    def runs(self) -> list[str]:
        log = self.stage_dir / "runs.log"
        return log.read_text().split() if log.exists() else []

    def stage(self, update_id: str, name: str) -> dict:
        """One stage's view in GET /update/{id}."""
        body = httpx.get(self.url(f"/update/{update_id}"), timeout=5).json()
        return next(stage for stage in body["stages"] if stage["name"] == name)

    def wait_stage(self, update_id: str, name: str, timeout: float = 60.0) -> dict:
        """Wait until the stage's job has started (a fault injected now hits it running)."""
        deadline = time.monotonic() + timeout
        while (view := self.stage(update_id, name))["state"] != "started":
            assert view["state"] in ("pending", "queued"), f"{name} ended before it was caught: {view}"
            assert time.monotonic() < deadline, f"{name} never started: {view}"
            time.sleep(0.1)
        return view

    def wait_for(self, update_id: str, states: tuple[str, ...] = ("finished", "failed"),
                 timeout: float = 90.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = httpx.get(self.url(f"/update/{update_id}"), timeout=5).json()
            if body["status"] in states:
                return body
            time.sleep(0.3)
        raise TimeoutError(f"update {update_id} still {body['status']}: {body}")


@pytest.fixture
def make_pipeline(tmp_path: Path, redis_server: RedisServer,
                  redis_client: object) -> Iterator[Callable[..., Pipeline]]:
    started: list[Pipeline] = []

    def make(redis: RedisServer | None = None, **env: str) -> Pipeline:
        pipeline = Pipeline(tmp_path, redis or redis_server, **env).start()
        started.append(pipeline)
        return pipeline

    yield make
    for pipeline in started:
        pipeline.stop()
