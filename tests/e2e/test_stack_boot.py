"""Boot the Procfile with honcho (free ports, temp DATA_DIR, own env file), use it, stop it cleanly."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from redis import Redis
from redis.exceptions import AuthenticationError, ResponseError

from shared.settings import SERVICES
from tests.stack import Stack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("stack"))
    stack.start()
    yield stack
    stack.stop()


def test_every_service_is_ready(stack: Stack) -> None:
    body = httpx.get(f"{stack.url('gateway')}/ready", timeout=10).json()
    assert body["ready"] is True
    assert set(body["checks"]) == {"redis", *SERVICES} - {"gateway"}
    for name in SERVICES:
        assert httpx.get(f"{stack.url(name)}/ready", timeout=10).status_code == 200, name
    assert httpx.get(f"http://127.0.0.1:{stack.ports['ui']}/_stcore/health", timeout=10).text == "ok"


def test_real_path_through_the_stack(stack: Stack) -> None:
    vectors = httpx.post(f"{stack.url('embedding')}/embed", json={"texts": ["mdatp health"]},
                         timeout=30).json()["vectors"]
    assert len(vectors[0]) == 384
    answer = httpx.post(f"{stack.url('generation')}/generate", timeout=60,
                        headers={"Accept": "application/json"},
                        json={"question": "What is the capital of France?", "mode": "ft",
                              "max_tokens": 16, "temperature": 0}).json()
    assert "Paris" in answer["text"]


def test_redis_is_private(stack: Stack) -> None:
    """Redis needs the password and listens on loopback only, with its data under DATA_DIR."""
    port = stack.ports["redis"]
    with pytest.raises((AuthenticationError, ResponseError)):
        Redis(port=port).ping()
    assert Redis(port=port, password=f"pw-{stack.id}").ping()
    assert (stack.root / "data" / "redis" / "redis.conf").exists()


def test_everything_listens_on_loopback_only(stack: Stack) -> None:
    pids = {p.pid for p in stack.processes()}
    listening = [c for c in psutil.net_connections("inet")
                 if c.status == psutil.CONN_LISTEN and c.pid in pids]
    assert len({c.laddr.port for c in listening}) >= len(stack.ports)
    assert {c.laddr.ip for c in listening} <= {"127.0.0.1", "::1"}


def test_a_killed_worker_comes_back(stack: Stack) -> None:
    """Fault: SIGKILL the crawl worker; the restart wrapper starts a new one."""
    [worker] = [p for p in stack.find("shared.worker crawl") if "ops.supervise" not in " ".join(p.cmdline())
                and p.parent() and "ops.supervise" in " ".join(p.parent().cmdline())]
    worker.kill()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        fresh = [p for p in stack.find("shared.worker crawl") if p.pid != worker.pid
                 and "ops.supervise" not in " ".join(p.cmdline())]
        if fresh:
            break
        time.sleep(0.5)
    assert fresh, "the crawl worker was not restarted"
    assert httpx.get(f"{stack.url('gateway')}/ready", timeout=10).status_code == 200


def test_stop_leaves_no_process_behind(tmp_path: Path) -> None:
    """A second stack, stopped like Ctrl-C: no process of it survives."""
    stack = Stack(tmp_path)
    stack.start()
    assert len(stack.processes()) >= 12
    left = stack.stop()
    assert left == [], f"left behind: {[p.cmdline() for p in left]}"
    ports = set(stack.ports.values())
    listeners = [c for c in psutil.net_connections("inet")
                 if c.status == psutil.CONN_LISTEN and c.laddr.port in ports]
    assert listeners == [], f"still listening: {listeners}"
