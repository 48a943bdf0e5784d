"""Indexer debug API and the `mde process` / `mde search` / `mde eval retrieval` commands."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from rq import Queue
from typer.testing import CliRunner

from services.gateway.updates import load, lock_holder
from shared.queues import INDEX
from shared.settings import Settings
from tests.conftest import SHARED

SITE = SHARED / "site" / "en-us" / "defender-endpoint"


def test_post_index_queues_a_job_and_get_shows_it(stack_settings: Settings,
                                                 redis_client: Redis) -> None:
    from services.indexer.app import create_app
    from services.indexer.indexing import settings_hash

    with TestClient(create_app()) as client:
        response = client.post("/index", json={"full": True})
        assert response.status_code == 202
        job_id = response.json()["job_id"]
        assert Queue(INDEX, connection=redis_client).job_ids == [job_id]
        view = client.get(f"/index/{job_id}").json()
        assert view["status"] == "queued" and view["result"] is None
        # fault: a second index run (or a whole update) while one runs: it takes the update lock
        # like every other entry point (before: a second index job beside the first)
        again = client.post("/index")
        assert again.status_code == 429 and int(again.headers["Retry-After"]) > 0
        assert Queue(INDEX, connection=redis_client).job_ids == [job_id]
        holder, _ = lock_holder(redis_client)
        assert job_id == f"update-{holder}-index" and load(redis_client, holder).full is True
        assert client.get("/index/nope").status_code == 404  # fault: unknown job
        bad = client.get("/index/%C3%BE%10")  # fault: a job id RQ rejects (found by schemathesis)
        assert bad.status_code == 422 and "job_id" in bad.text
        assert client.get("/settings-hash").json() == {"settings_hash": settings_hash(stack_settings)}
        assert client.post("/index", json={"full": "maybe"}).status_code == 422  # fault: bad body


def test_process_writes_chunks_jsonl_from_html_files(make_settings: Callable[..., Settings],
                                                    tmp_path: Path) -> None:
    from shared.cli import app

    settings = make_settings()
    pages = tmp_path / "html"
    pages.mkdir()
    for name in ("linux-exclusions", "mac-exclusions"):
        shutil.copy(SITE / f"{name}.html", pages)
    result = CliRunner().invoke(app, ["process", "--html-dir", str(pages)])
    assert result.exit_code == 0, result.output
    lines = (settings.data_dir / "processed" / "chunks.jsonl").read_text().splitlines()
    chunks = [json.loads(line) for line in lines]
    assert len(chunks) > 10
    assert {c["url"] for c in chunks} == {
        "https://learn.microsoft.com/en-us/defender-endpoint/linux-exclusions",
        "https://learn.microsoft.com/en-us/defender-endpoint/mac-exclusions"}
    assert all(c["anchor"] and c["text"] and c["embed_text"] for c in chunks)


@pytest.mark.slow
def test_search_and_eval_on_an_empty_index(make_settings: Callable[..., Settings],
                                           tmp_path: Path) -> None:
    from shared.cli import app

    make_settings(retrieval_url="http://127.0.0.1:9")  # nothing listens: the store is opened here
    runner = CliRunner()
    result = runner.invoke(app, ["search", "onboard a linux server", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["index_empty"] is True
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "a", "question": "x?", "kind": "fact", "sources": ["s.md"], '
                         '"anchors": ["s#x"]}\n')
    result = runner.invoke(app, ["eval", "retrieval", "--questions", str(questions), "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    assert scores["recall@5"] == 0.0 and scores["scored"] == 1
    assert {"recall@1", "recall@5", "recall@10", "mrr@10", "section_recall@5", "per_kind",
            "latency_ms"} <= set(scores)
