"""Fault injection on a booted e2e stack: kill a worker (and its RQ work horse) or redis-server
mid-stage, restart the docsite with other behaviour on the same port, and count what the index
should hold: the chunks the indexer makes from the crawler's page store (what `mde process` counts)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import httpx
import psutil

from tests.conftest import SHARED, Docsite
from tests.e2e.e2e_kit import E2E, SITE_PAGES
from tests.integration.index_kit import environment


def worker_processes(e2e: E2E, queue: str) -> list[psutil.Process]:
    """The `shared.worker <queue>` process and its work horse, not the restart wrapper."""
    return [p for p in e2e.stack.find(f"shared.worker {queue}") if "ops.supervise" not in p.cmdline()]


def sigkill(processes: list[psutil.Process]) -> list[int]:
    killed = []
    for proc in processes:
        try:
            proc.send_signal(signal.SIGKILL)
            killed.append(proc.pid)
        except psutil.NoSuchProcess:
            continue
    return killed


def kill_worker(e2e: E2E, queue: str) -> list[int]:
    """SIGKILL the queue's worker and its horse; returns the pids killed (never empty)."""
    killed = sigkill(worker_processes(e2e, queue))
    assert killed, f"no {queue} worker of this stack to kill"
    return killed


def kill_redis(e2e: E2E) -> list[int]:
    """SIGKILL redis-server (the wrapper restarts `ops.redis`, which reloads its AOF)."""
    killed = sigkill([p for p in e2e.stack.processes()
                      if p.name() == "redis-server" or p.cmdline()[:1] == ["redis-server"]])
    assert killed, "no redis-server of this stack to kill"
    return killed


def wait_respawn(e2e: E2E, queue: str, killed: list[int], timeout: float = 60.0) -> None:
    """The wrapper brings a new worker up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if [p for p in worker_processes(e2e, queue) if p.pid not in killed]:
            return
        time.sleep(0.5)
    raise TimeoutError(f"{queue} worker not restarted after {timeout}s")


def update_view(e2e: E2E, update_id: str) -> dict:
    try:
        return httpx.get(e2e.gateway(f"/update/{update_id}"), timeout=10).json()
    except (httpx.HTTPError, ValueError):
        return {}


def newest_update_id(e2e: E2E, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            items = httpx.get(e2e.gateway("/updates"), timeout=10).json()["items"]
            if items:
                return items[0]["id"]
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    raise TimeoutError("no update appeared")


def wait_stage(e2e: E2E, update_id: str, stage: str, states: tuple[str, ...] = ("started",),
               timeout: float = 600.0) -> dict:
    """Poll until the stage is in one of states; returns the stage view."""
    deadline = time.monotonic() + timeout
    view: dict = {}
    while time.monotonic() < deadline:
        update = update_view(e2e, update_id)
        view = next((s for s in update.get("stages", []) if s["name"] == stage), {})
        if view.get("state") in states:
            return view
        if update.get("status") in ("finished", "failed") and "started" in states:
            raise AssertionError(f"update ended before {stage} was caught running: {update}")
        time.sleep(0.2)
    raise TimeoutError(f"stage {stage} not in {states} after {timeout}s: {view}")


def assert_still_running(e2e: E2E, update_id: str, stage: str, timeout: float = 30.0) -> None:
    """Call right after killing a stage's worker: its job is not finished, so the kill landed while
    the stage ran (a dead work horse cannot finish the job later; a miss shows as `finished`)."""
    deadline = time.monotonic() + timeout
    while not (update := update_view(e2e, update_id)) and time.monotonic() < deadline:
        time.sleep(0.2)
    view = next((s for s in update.get("stages", []) if s["name"] == stage), {})
    assert view.get("state") == "started", f"the kill missed the running {stage}: {view}"


def point_count(e2e: E2E) -> int:
    return int(httpx.get(f"{e2e.stack.url('retrieval')}/collection", timeout=30).json()["points"])


def expected_chunks(e2e: E2E) -> int:
    """Chunks of every indexable page in the stack's page store, as the indexer would cut them."""
    from services.indexer.indexing import INDEXABLE, page_chunks
    from services.indexer.peers import StorePageSource

    env = e2e.stack.environment()
    values = {"data_dir": env["DATA_DIR"], "mde_config": env.get("MDE_CONFIG", "")}
    with environment(values) as settings:
        source = StorePageSource(settings)
        try:
            return sum(len(page_chunks(page, html, settings.processing))
                       for page in source.pages() if page.state in INDEXABLE
                       if (html := source.html(page.id)) is not None)
        finally:
            source.store.close()


def restart_site(e2e: E2E, *args: str) -> Docsite:
    """Stop the docsite and serve the same copy on the same port with other options."""
    port, log = e2e.site.port, e2e.site.log
    e2e.site.stop()
    process = subprocess.Popen(
        [sys.executable, str(SHARED / "tools" / "docsite.py"), "--port", str(port), "--log", str(log),
         "--root", str(e2e.site_root), "--limit", str(SITE_PAGES), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                e2e.site = Docsite(process, port, log)
                return e2e.site
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"docsite did not come back on port {port}")

