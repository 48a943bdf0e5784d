"""A stateful fuzz of the update API on a real gateway, real RQ workers and a real Redis (stand-in
stage functions, see gateway_stages.py): updates are created, then read, retried and listed by the
ids that exist, mixed with ids that do not, so the routes see live ids and not only random ones."""

from __future__ import annotations

import string
import time
from collections.abc import Callable
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import (
    Bundle, RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test,
)

from shared.settings_sections import STAGES
from tests.integration.gateway_kit import Pipeline

PROBLEM = "application/problem+json"
# ids that exist as other keys under the same prefix (the lock, the marker) or look like paths
ODD_IDS = st.sampled_from(["lock", "last_finished", "record", "record:x", "%2E%2E", "0" * 12,
                           "ABCDEF123456", "-1", "a" * 300])
IDS = ODD_IDS | st.text(string.printable, max_size=40)


def slash(update_id: str) -> set[int]:
    """An id that is empty, a dot segment or ends in "/" makes another path (the client folds the
    dots, Starlette redirects a trailing slash, `/update` itself is POST only)."""
    return {307, 405} if update_id in ("", ".", "..") or update_id.endswith("/") else set()


def check(response: httpx.Response, allowed: set[int]) -> httpx.Response:
    """No 5xx, only the statuses the route documents, and every error a problem document."""
    assert response.status_code in allowed, (response.request.url, response.status_code,
                                             response.text[:300])
    if response.status_code >= 400:
        assert response.headers["content-type"] == PROBLEM, response.text[:300]
        assert response.json()["status"] == response.status_code
    return response


class UpdateAPI(RuleBasedStateMachine):
    pipeline: Pipeline  # set by the test
    updates = Bundle("updates")

    def __init__(self) -> None:
        super().__init__()
        self.client = httpx.Client(base_url=self.pipeline.url(""), timeout=30)
        self.known: set[str] = set()

    @initialize(target=updates)
    def first(self) -> str:
        """One update that surely exists, so every other rule has a live id from the start."""
        ids = [item["id"] for item in self.client.get("/updates").json()["items"]]
        if ids:
            self.known.update(ids)
            return ids[0]
        body = check(self.client.post("/update", params={"force": "true"}), {202}).json()
        self.known.add(body["update_id"])
        return body["update_id"]

    @rule(target=updates, stages=st.none() | st.lists(st.sampled_from([*STAGES, "crawlr"]),
                                                       max_size=3),
          full=st.booleans(), force=st.booleans())
    def create(self, stages: list[str] | None, full: bool, force: bool) -> str:
        response = check(self.client.post("/update", params={"force": str(force).lower()},
                                          json={"stages": stages, "full": full}),
                         {202, 400, 429})
        if response.status_code != 202:
            return next(iter(self.known))
        self.known.add(response.json()["update_id"])
        return response.json()["update_id"]

    @rule(update_id=updates)
    def read(self, update_id: str) -> None:
        body = check(self.client.get(f"/update/{update_id}"), {200}).json()
        assert body["id"] == update_id and body["stages"]
        assert all(stage["name"] in STAGES and stage["state"] for stage in body["stages"])

    @rule(update_id=updates)
    def retry(self, update_id: str) -> None:
        check(self.client.post(f"/update/{update_id}/retry"), {202, 409, 429})

    @rule(update_id=IDS)
    def read_any(self, update_id: str) -> None:
        response = check(self.client.get(f"/update/{quote(update_id, safe='')}"),
                         {200, 404} | slash(update_id))
        if response.status_code == 200:
            assert response.json()["id"] in self.known

    @rule(update_id=IDS)
    def retry_any(self, update_id: str) -> None:
        check(self.client.post(f"/update/{quote(update_id, safe='')}/retry"),
              {202, 404, 409, 429} | slash(update_id))

    @rule(limit=st.integers(-5, 100) | st.sampled_from(["x", "1.5"]))
    def list_recent(self, limit: int | str) -> None:
        response = check(self.client.get("/updates", params={"limit": limit}), {200, 422})
        if response.status_code == 200:
            assert {item["id"] for item in response.json()["items"]} <= self.known

    @rule()
    def settle(self) -> None:
        """Wait until no update runs, so the next rules meet finished and failed ones too."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            items = check(self.client.get("/updates"), {200}).json()["items"]
            if all(item["status"] in ("finished", "failed") for item in items):
                return
            time.sleep(0.2)
        raise AssertionError(f"updates still running after 30 s: {items}")

    @invariant()
    def lock_and_marker_are_not_updates(self) -> None:
        for key in ("lock", "last_finished"):
            check(self.client.get(f"/update/{key}"), {404})

    def teardown(self) -> None:
        self.client.close()


def test_update_api_state_machine(make_pipeline: Callable[..., Pipeline]) -> None:
    """Fault: whatever sequence of create, read, retry and list hypothesis finds, on ids that exist
    and on ids that are other keys; the stand-in index stage always fails, so failed updates
    exist to retry (and crawl-only ones finish)."""
    # no scheduler (with a 0 h interval it would start update after update); no RQ retries
    UpdateAPI.pipeline = make_pipeline(UPDATE__MIN_INTERVAL_HOURS="0", UPDATE__ENABLED="false",
                                       UPDATE__MAX_RETRIES="0")
    (UpdateAPI.pipeline.stage_dir / "index.fail").write_text("")
    run_state_machine_as_test(UpdateAPI, settings=settings(
        max_examples=20, stateful_step_count=15, deadline=None,
        suppress_health_check=list(HealthCheck)))


@pytest.mark.parametrize("phase", ["running", "finished"])
def test_lock_and_last_finished_are_not_update_ids(make_pipeline: Callable[..., Pipeline],
                                                    phase: str) -> None:
    """Fault: `GET /update/lock` while an update runs, `GET /update/last_finished` after one
    finished (before: a plain-text 500 each: the lock and the marker were read as records)."""
    pipeline = make_pipeline()
    (pipeline.stage_dir / "crawl.sleep").write_text("3" if phase == "running" else "0")
    update_id = httpx.post(pipeline.url("/update"), json={"stages": ["crawl"]},
                           timeout=10).json()["update_id"]
    pipeline.wait_for(update_id, states=(phase,))
    for key in ("lock", "last_finished"):
        response = httpx.get(pipeline.url(f"/update/{key}"), timeout=10)
        assert response.status_code == 404 and response.headers["content-type"] == PROBLEM
        retry = httpx.post(pipeline.url(f"/update/{key}/retry"), timeout=10)
        assert retry.status_code == 404 and retry.headers["content-type"] == PROBLEM


def test_a_retried_old_update_is_settled(make_pipeline: Callable[..., Pipeline]) -> None:
    """Fault (found by the state machine above): retrying an update older than the ten most recent
    left it `running` forever, since the monitor settles only the newest ten; a retry now moves
    the update to the head of the list."""
    pipeline = make_pipeline(UPDATE__MAX_RETRIES="0")
    (pipeline.stage_dir / "crawl.fail").write_text("")
    ids = []
    for _ in range(11):
        started = httpx.post(pipeline.url("/update?force=true"), json={"stages": ["crawl"]},
                             timeout=10)
        assert started.status_code == 202, started.text
        ids.append(started.json()["update_id"])
        assert pipeline.wait_for(ids[-1])["status"] == "failed"
    (pipeline.stage_dir / "crawl.fail").unlink()
    assert httpx.post(pipeline.url(f"/update/{ids[0]}/retry"), timeout=10).status_code == 202
    assert pipeline.wait_for(ids[0], timeout=30)["status"] == "finished"
    newest = httpx.get(pipeline.url("/updates?limit=1"), timeout=10).json()["items"][0]
    assert newest["id"] == ids[0]
