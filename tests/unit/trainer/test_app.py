"""Trainer debug API: adapters, metrics, rollback, attempts, dataset, runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from services.trainer import publish
from services.trainer.attempts import AttemptLog
from services.trainer.dataset import build_dataset
from shared.pointer import read_pointer
from shared.settings import Settings
from tests.unit.trainer.corpus import corpus_chunks
from tests.unit.trainer.test_publish import staged


def test_debug_routes(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(redis_port=1, generation_url="http://127.0.0.1:9")
    out_dir = Path(settings.finetune.out_dir)
    for version in ("v1", "v2"):
        publish.publish(staged(out_dir, version, heldout_ppl=9.0), out_dir, version, keep=3)
    publish.reject(staged(out_dir, "v3"), out_dir, "v3", "worse", keep=3)
    AttemptLog(settings).record({"run_key": "k", "status": "rejected", "finished_at": 1.0})
    from services.trainer.app import create_app

    client = TestClient(create_app())
    listing = client.get("/adapters").json()
    assert listing["current"] == "v2" and [i["version"] for i in listing["items"]] == ["v3", "v2", "v1"]
    assert client.get("/adapters/v3").json()["rejected_reason"] == "worse"
    assert client.get("/adapters/nope").status_code == 404
    used = client.post("/adapters/v1/use").json()
    assert used == {"current": "v1", "reloaded": False} and read_pointer(out_dir) == "v1"
    assert client.post("/adapters/v3/use").status_code == 404
    weird = "%CC%A8" * 90 + "/use"  # fault: a 180-character combining-mark version (fuzz test, was 500)
    assert client.post(f"/adapters/{weird}").status_code == 422
    assert client.get("/adapters/.runs").status_code == 422  # fault: a hidden folder by name
    assert client.get("/attempts").json()["items"][0]["status"] == "rejected"
    assert client.get("/dataset").status_code == 404
    build_dataset(corpus_chunks(4), settings)
    assert client.get("/dataset").json()["pages"]
    assert client.get("/runs").json() == {"items": []}
