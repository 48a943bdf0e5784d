"""The gateway's update routes behind their walls, on a real gateway process, real RQ workers and
a real Redis (stand-in stage functions, see gateway_stages.py)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import httpx

from shared.settings import PROJECT_ROOT
from tests.integration.gateway_kit import Pipeline
from tests.unit.test_security import EVIL


def test_a_page_on_another_site_cannot_start_an_update(
        make_pipeline: Callable[..., Pipeline]) -> None:
    """Fault: any page the admin opens runs `fetch("http://127.0.0.1:8680/update?force=true",
    {method: "POST", mode: "no-cors"})`; these are the headers the browser sends with it."""
    pipeline = make_pipeline()
    headers = {**EVIL, "host": f"127.0.0.1:{pipeline.port}"}
    refused = httpx.post(pipeline.url("/update?force=true"), headers=headers, content=b"",
                         timeout=10)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert httpx.get(pipeline.url("/updates"), timeout=10).json()["items"] == []  # nothing started
    assert pipeline.runs() == []
    curl = httpx.post(pipeline.url("/update"), json={"stages": ["crawl"]}, timeout=10)
    assert curl.status_code == 202  # curl -X POST .../update keeps working


def test_update_routes_take_the_internal_token_when_it_is_required(
        make_pipeline: Callable[..., Pipeline]) -> None:
    """Fault: REQUIRE_INTERNAL_TOKEN=true and no UPDATE_TOKEN (before, POST /update and its retry
    took no token at all while every other mutating route needed one)."""
    pipeline = make_pipeline(INTERNAL_TOKEN="int-tok", REQUIRE_INTERNAL_TOKEN="true")
    (pipeline.stage_dir / "crawl.fail").write_text("")
    assert httpx.post(pipeline.url("/update"), timeout=10).status_code == 401
    internal = {"Authorization": "Bearer int-tok"}
    started = httpx.post(pipeline.url("/update"), json={"stages": ["crawl"]}, headers=internal,
                         timeout=10)
    assert started.status_code == 202
    update_id = started.json()["update_id"]
    assert pipeline.wait_for(update_id)["status"] == "failed"
    retry = pipeline.url(f"/update/{update_id}/retry")
    assert httpx.post(retry, timeout=10).status_code == 401
    wrong = {"Authorization": "Bearer wrong"}
    assert httpx.post(retry, headers=wrong, timeout=10).status_code == 401
    assert httpx.post(retry, headers=internal, timeout=10).status_code == 202


def test_update_token_or_internal_token(make_pipeline: Callable[..., Pipeline]) -> None:
    """With UPDATE_TOKEN set, either token starts an update (the narrower one for people, the
    internal one for the stack's own tools); none or a wrong one is 401."""
    pipeline = make_pipeline(UPDATE_TOKEN="upd-tok", INTERNAL_TOKEN="int-tok")
    url = pipeline.url("/update?force=true")
    assert httpx.post(url, timeout=10).status_code == 401
    assert httpx.post(url, headers={"Authorization": "Bearer upd"}, timeout=10).status_code == 401
    first = httpx.post(url, json={"stages": ["crawl"]}, headers={"Authorization": "Bearer upd-tok"},
                       timeout=10)
    assert first.status_code == 202
    assert pipeline.wait_for(first.json()["update_id"])["status"] == "finished"
    second = httpx.post(url, json={"stages": ["crawl"]},
                        headers={"Authorization": "Bearer int-tok"}, timeout=10)
    assert second.status_code == 202


def test_mde_update_sends_the_internal_token(make_pipeline: Callable[..., Pipeline]) -> None:
    """With the internal token required and no UPDATE_TOKEN, `mde update` must still start an
    update (it sends UPDATE_TOKEN, else the internal token): the guard above must not lock out
    the stack's own command line."""
    pipeline = make_pipeline(INTERNAL_TOKEN="int-tok", REQUIRE_INTERNAL_TOKEN="true")
    result = subprocess.run([sys.executable, "-m", "shared.cli", "update", "--stages", "crawl",
                             "--force"], cwd=PROJECT_ROOT, env={**pipeline.env, "COLUMNS": "200"},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "started" in result.stdout
