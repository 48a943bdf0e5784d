"""Gateway updates against a real Redis, real RQ workers (under the restart wrapper) and a real
gateway process; the stage functions are stand-ins steered by files (see gateway_stages.py)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from shared.settings import PROJECT_ROOT
from tests.conftest import start_redis
from tests.integration.gateway_kit import Pipeline


def test_an_update_runs_every_stage_in_order(make_pipeline: Callable[..., Pipeline]) -> None:
    pipeline = make_pipeline()
    response = httpx.post(pipeline.url("/update"), timeout=10)
    assert response.status_code == 202
    update_id = response.json()["update_id"]
    assert response.json()["status_url"] == f"/update/{update_id}"
    body = pipeline.wait_for(update_id)
    assert body["status"] == "finished", body
    assert pipeline.runs() == ["crawl", "index", "prepare_dataset", "finetune"]
    assert [s["state"] for s in body["stages"]] == ["finished"] * 4
    assert body["stages"][0]["result"]["pages_new"] == 3
    assert body["stages"][0]["started_at"] and body["stages"][0]["ended_at"]
    recent = httpx.get(pipeline.url("/updates"), timeout=5).json()
    assert recent["items"][0]["id"] == update_id
    too_soon = httpx.post(pipeline.url("/update"), timeout=10)
    assert too_soon.status_code == 429 and int(too_soon.headers["Retry-After"]) > 3600
    forced = httpx.post(pipeline.url("/update?force=true"), json={"stages": ["crawl"]}, timeout=10)
    assert forced.status_code == 202
    assert pipeline.wait_for(forced.json()["update_id"])["status"] == "finished"
    assert pipeline.runs().count("crawl") == 2


def test_ten_concurrent_updates_one_accepted(make_pipeline: Callable[..., Pipeline]) -> None:
    pipeline = make_pipeline()
    (pipeline.stage_dir / "crawl.sleep").write_text("2")

    async def post_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=10) as client:
            return await asyncio.gather(*(client.post(pipeline.url("/update?force=true"))
                                          for _ in range(10)))

    responses = asyncio.run(post_all())
    codes = sorted(r.status_code for r in responses)
    assert codes == [202] + [429] * 9
    assert all(int(r.headers["Retry-After"]) > 0 for r in responses if r.status_code == 429)
    accepted = next(r for r in responses if r.status_code == 202).json()["update_id"]
    assert pipeline.wait_for(accepted)["status"] == "finished"


def test_update_token_is_required_when_set(make_pipeline: Callable[..., Pipeline]) -> None:
    pipeline = make_pipeline(UPDATE_TOKEN="s3cret")
    assert httpx.post(pipeline.url("/update"), timeout=10).status_code == 401
    wrong = httpx.post(pipeline.url("/update"), headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401
    right = httpx.post(pipeline.url("/update"), headers={"Authorization": "Bearer s3cret"},
                       json={"stages": ["crawl"]}, timeout=10)
    assert right.status_code == 202


def test_failed_stage_fails_the_update_and_retry_resumes_there(
        make_pipeline: Callable[..., Pipeline]) -> None:
    """Fault: the index stage raises (twice: once plus its one RQ retry)."""
    pipeline = make_pipeline()
    (pipeline.stage_dir / "index.fail").write_text("")
    update_id = httpx.post(pipeline.url("/update"), timeout=10).json()["update_id"]
    body = pipeline.wait_for(update_id)
    assert body["status"] == "failed"
    assert "injected index failure" in body["error"] and "index" in body["error"]
    assert [s["state"] for s in body["stages"]][:2] == ["finished", "failed"]
    assert pipeline.runs() == ["crawl", "index", "index"]  # retried once by RQ, then failed
    (pipeline.stage_dir / "index.fail").unlink()
    retried = httpx.post(pipeline.url(f"/update/{update_id}/retry"), timeout=10)
    assert retried.status_code == 202
    assert pipeline.wait_for(update_id)["status"] == "finished"
    assert pipeline.runs() == ["crawl", "index", "index", "index", "prepare_dataset", "finetune"]


def test_killed_worker_job_is_run_again(make_pipeline: Callable[..., Pipeline]) -> None:
    """Fault: SIGKILL the crawl worker (and its work horse) while the crawl stage runs."""
    pipeline = make_pipeline()
    (pipeline.stage_dir / "crawl.sleep").write_text("4")
    update_id = httpx.post(pipeline.url("/update"), json={"stages": ["crawl", "index"]},
                           timeout=10).json()["update_id"]
    pipeline.wait_stage(update_id, "crawl")
    deadline = time.monotonic() + 30  # RQ marks the job started before the horse runs the stage:
    while "crawl" not in pipeline.runs() and time.monotonic() < deadline:  # kill it mid-stage
        time.sleep(0.05)
    supervisor = psutil.Process(pipeline.processes["crawl_worker"].pid)
    for child in supervisor.children(recursive=True):
        child.kill()
    # nothing can finish the job once its horse is dead: not finished now = running at the kill
    crawl = pipeline.stage(update_id, "crawl")
    assert crawl["state"] == "started", f"the kill missed: the crawl was already {crawl}"
    (pipeline.stage_dir / "crawl.sleep").write_text("0")
    body = pipeline.wait_for(update_id, timeout=120)
    assert body["status"] == "finished", body
    assert pipeline.runs().count("crawl") == 2
    assert pipeline.runs()[-1] == "index"


def test_redis_restart_mid_update(make_pipeline: Callable[..., Pipeline], tmp_path: Path) -> None:
    """Fault: Redis is stopped and started again (same port, AOF) while the crawl stage runs."""
    redis = start_redis(tmp_path / "own-redis")
    try:
        pipeline = make_pipeline(redis=redis)
        (pipeline.stage_dir / "crawl.sleep").write_text("3")
        update_id = httpx.post(pipeline.url("/update"), json={"stages": ["crawl", "index"]},
                               timeout=10).json()["update_id"]
        pipeline.wait_stage(update_id, "crawl")
        redis.process.terminate()
        redis.process.wait(10)
        stopped_at = time.time()
        time.sleep(2.0)
        redis = start_redis(redis.data_dir, port=redis.port, password=redis.password)
        body = pipeline.wait_for(update_id, timeout=150)
        # the promise: Redis comes back from its AOF, the cut-off stage runs again (RQ retry or
        # abandoned-job requeue) and the update finishes; a failure here is a bug, not an outcome
        assert body["status"] == "finished", body
        crawl = body["stages"][0]
        assert crawl["ended_at"] > stopped_at, f"the crawl was not running when Redis went: {crawl}"
        assert httpx.get(pipeline.url("/ready"), timeout=10).json()["checks"]["redis"]["ok"]
    finally:
        redis.process.terminate()


def test_metrics_parse_as_prometheus_text(make_pipeline: Callable[..., Pipeline]) -> None:
    pipeline = make_pipeline()
    httpx.get(pipeline.url("/jobs"), timeout=10)
    text = httpx.get(pipeline.url("/metrics"), timeout=10).text
    names = {family.name for family in text_string_to_metric_families(text)}
    assert "mde_http_requests" in names
    assert "mde_queue_depth" in names


def test_jobs_lists_queues_and_workers(make_pipeline: Callable[..., Pipeline]) -> None:
    pipeline = make_pipeline()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        body = httpx.get(pipeline.url("/jobs"), timeout=10).json()["queues"]
        if all(body[q]["workers"] for q in ("crawl", "index", "train")):
            break
        time.sleep(0.5)
    assert set(body) == {"crawl", "index", "train"}
    assert all(body[q]["workers"] for q in body)


def test_cli_update_waits_and_reports(make_pipeline: Callable[..., Pipeline]) -> None:
    pipeline = make_pipeline()
    env = {**pipeline.env, "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-m", "shared.cli", "update", "--stages", "crawl",
                             "--stages", "index", "--wait"], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "finished" in result.stdout
    again = subprocess.run([sys.executable, "-m", "shared.cli", "update"], cwd=PROJECT_ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "less than" in again.stdout and "retry after" in again.stdout
    status = subprocess.run([sys.executable, "-m", "shared.cli", "status"], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert "last update" in status.stdout and "finished" in status.stdout
