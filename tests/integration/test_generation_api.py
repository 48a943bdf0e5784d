"""Generation service with the real converted SmolLM2 model: SSE streaming, JSON, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient


QUESTION = {"question": "What is the capital of France?", "mode": "ft", "max_tokens": 24,
            "temperature": 0}


@pytest.fixture(scope="module")
def generation() -> Iterator[TestClient]:
    from services.generation.app import create_app
    from shared.settings import get_settings

    get_settings.cache_clear()
    with TestClient(create_app()) as client:
        yield client
    get_settings.cache_clear()


def sse_events(text: str) -> list[tuple[str, dict]]:
    events, name = [], "message"
    for line in text.splitlines():
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            events.append((name, json.loads(line[5:])))
    return events


def test_generate_streams_sources_tokens_then_done(generation: TestClient) -> None:
    with generation.stream("POST", "/generate", json=QUESTION) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response.read().decode())
    names = [name for name, _ in events]
    assert names[0] == "sources" and names[-1] == "done"
    assert names.count("token") >= 1  # the answer streams a finished sentence at a time
    done = events[-1][1]
    streamed = "".join(data["text"] for name, data in events if name == "token")
    assert streamed.strip() == done["text"] == done["lead"]  # ft: no evidence, no sources
    assert "Paris" in done["text"]
    assert done["weights"]["kind"] == "base"  # no adapter published: ft uses the base weights
    assert done["usage"]["completion_tokens"] <= 24
    assert done["timings"]["time_to_first_token_ms"] > 0


def test_generate_as_json(generation: TestClient) -> None:
    response = generation.post("/generate", json=QUESTION, headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert "Paris" in response.json()["text"]


def test_model_route_names_the_weights(generation: TestClient) -> None:
    body = generation.get("/model").json()
    assert body["ft"]["kind"] == "base"
    # the MLX folder, or the GGUF beside it on the llama.cpp engine (the default off Apple Silicon)
    assert body["ft"]["path"].endswith(("SmolLM2-135M-Instruct-mlx", "SmolLM2-135M-Instruct-mlx.gguf"))
    assert body["engine"]["engine"] in ("mlx", "llama_cpp")


def test_ready(generation: TestClient) -> None:
    assert generation.get("/ready").status_code == 200


@pytest.mark.parametrize(("body", "named"), [
    ({"mode": "ft"}, "question"),                                # fault: no question
    ({"question": "hi", "mode": "chat"}, "mode"),                # fault: unknown mode
    ({"question": "hi", "max_tokens": 0}, "max_tokens"),         # fault: zero tokens
    ({"question": "hi", "max_tokens": 100000}, "max_tokens"),    # fault: over the cap
    ({"question": "x" * 5000, "mode": "ft"}, "question"),        # fault: question too long
    ({"question": "hi", "temperature": -1}, "temperature"),      # fault: negative temperature
])
def test_bad_requests_get_422_naming_the_field(generation: TestClient, body: dict, named: str) -> None:
    response = generation.post("/generate", json=body)
    assert response.status_code == 422
    assert named in response.json()["detail"]
