"""Scenario 8 of the end-to-end suite: scale-out the way a user outgrows one machine.

Redis and the APIs run on the host (bound to 0.0.0.0 with the internal token required); two extra
`index` workers run on two other "hosts", Linux network namespaces joined by veth pairs on private
10.213.x.0/24 links, each with its own empty DATA_DIR and only the host-side veth address to reach
Redis and the APIs. One full index run fans out into small batches that all three workers share;
one namespace worker is SIGKILLed mid-batch and never comes back. Every chunk ends up indexed
exactly once. Needs root (`ip netns`); skipped with the failing command otherwise.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from tests.e2e.e2e_kit import E2E, boot
from tests.e2e.fault_kit import expected_chunks, point_count
from tests.e2e.netns_kit import NetnsUnavailable, WorkerHost

pytestmark = pytest.mark.slow
BATCH_PAGES = 2  # 20 pages -> 10 batch jobs to share
STACK_ENV = {"BIND_HOST": "0.0.0.0", "REDIS_HOST": "0.0.0.0", "INTERNAL_TOKEN": "scale-out-token",
             "REQUIRE_INTERNAL_TOKEN": "true", "INDEX__BATCH_PAGES": str(BATCH_PAGES)}


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[WorkerHost]]:
    """Two namespaces with veth links; removed (with their workers) in the finalizer."""
    if os.geteuid() != 0:
        pytest.skip(f"`ip netns add` needs root; running as uid {os.geteuid()}")
    tmp, base = tmp_path_factory.mktemp("hosts"), 1 + 2 * (os.getpid() % 120)
    made = [WorkerHost(str(os.getpid() % 10000), base + n, tmp / f"host{n}" / "data") for n in (0, 1)]
    try:
        for host in made:
            host.create()
    except NetnsUnavailable as error:
        for host in made:
            host.remove()
        pytest.skip(f"network namespaces not permitted here: {error}")
    yield made
    for host in made:
        host.remove()


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory, hosts: list[WorkerHost]) -> Iterator[E2E]:
    """The host: every API, Redis and one index worker; crawled once, nothing indexed yet."""
    e2e = boot(tmp_path_factory.mktemp("scaleout"), bootstrap=False, **STACK_ENV)
    try:
        response = e2e.update(force=True, stages=["crawl"])
        assert response.status_code == 202, response.text
        assert e2e.wait_update(response.json()["update_id"])["status"] == "finished"
        yield e2e
    finally:
        e2e.stop()


def wait_listening(host: WorkerHost, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "Listening on" in host.log_text() or "listening on" in host.log_text().lower():
            return
        assert host.worker and host.worker.poll() is None, host.log_text()[-3000:]
        time.sleep(0.5)
    raise TimeoutError(f"worker in {host.name} not listening:\n{host.log_text()[-3000:]}")


def kill_mid_batch(host: WorkerHost, timeout: float = 300.0) -> None:
    """SIGKILL the host's worker as soon as it has started a batch job."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and host.batches()[0] == 0:
        time.sleep(0.1)
    assert host.batches()[0] >= 1, f"{host.name} never got a batch:\n{host.log_text()[-3000:]}"
    host.kill()
    started, finished = host.batches()  # its log is final now: a started, unfinished batch = a hit
    assert started > finished, f"the kill missed: {host.name} had finished all {started} batches"


def test_8_namespace_workers_share_one_run_and_survive_a_lost_host(
        e2e: E2E, hosts: list[WorkerHost]) -> None:
    """Fault: the worker host in the first namespace is SIGKILLed mid-batch and stays down."""
    for host in hosts:
        host.start_worker(e2e.stack)
    for host in hosts:
        wait_listening(host)
        assert str(e2e.stack.root) not in str(host.data_dir)
    response = e2e.update(force=True, stages=["index"], full=True)
    assert response.status_code == 202, response.text
    update_id = response.json()["update_id"]
    lost, survivor = hosts
    kill_mid_batch(lost)
    update = e2e.wait_update(update_id, timeout=600)
    assert update["status"] == "finished", update
    assert e2e.stage(update, "index")["result"]["batches"] >= 20 // BATCH_PAGES
    points, chunks = point_count(e2e), expected_chunks(e2e)
    assert points == chunks and len(e2e.chunks()) == points, (points, chunks)
    done = survivor.batches()[1]
    assert done >= 1, f"{survivor.name} finished no batch:\n{survivor.log_text()[-3000:]}"
    assert [host for host in hosts if any(host.data_dir.rglob("*.sqlite"))] == []
    print(f"\nscenario 8 figures: points={points} chunks={chunks} lost=0 "
          f"killed_host_batches_started={lost.batches()[0]} survivor_batches_ok={done}")
