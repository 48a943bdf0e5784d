"""Generation: the stack every generation test module shares: the real model on either engine over
a real retrieval service (an indexed slice of the docsite) and a tiny LoRA adapter."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.pointer import POINTER, write_pointer
from shared.settings import Settings
from tests.conftest import RedisServer, free_port
from tests.integration import generation_kit as kit
from tests.integration.index_kit import ServiceThread, environment, start_service

SHORT = {"max_tokens": 16, "temperature": 0}


@dataclass
class Stack:
    settings: Settings
    generation: kit.Served
    retrieval: ServiceThread
    adapter: Path

    @property
    def engine(self) -> Any:
        return self.generation.app.state.engine

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(self.generation.url + path, timeout=300, **kwargs)

    def ask(self, **body: Any) -> dict[str, Any]:
        reply = self.post("/generate", json={**SHORT, **body}, headers={"Accept": "application/json"})
        assert reply.status_code == 200, reply.text
        return reply.json()

    def publish(self, version: str) -> dict[str, Any]:
        folder = self.adapter.parent / version
        if not folder.exists():
            kit.copy_version(self.adapter, version)
        write_pointer(self.adapter.parent, version)
        return self.post("/reload").json()

    def unpublish(self) -> None:
        (self.adapter.parent / POINTER).unlink(missing_ok=True)
        self.post("/reload")


@pytest.fixture(scope="module")
def indexed(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[dict[str, Any], ServiceThread, Path]]:
    base = tmp_path_factory.mktemp("generation")
    port = free_port()
    env = kit.index_slice(base, redis_server, {
        "index__query_embedder": "local", "retrieval_url": f"http://127.0.0.1:{port}",
        "infer__context_tokens": 320, "infer__top_k": 3})
    with environment(env) as settings:
        retrieval = start_service("retrieval", port)
        adapter = kit.train_adapter(Path(settings.finetune.out_dir) / "v1", settings.model.base_id,
                                     learning_rate=1e-3)
        yield env, retrieval, adapter
        retrieval.stop()


@pytest.fixture(scope="module", params=["llama_cpp", "mlx"])
def stack(request: pytest.FixtureRequest, indexed: tuple[dict[str, Any], ServiceThread, Path]
          ) -> Iterator[Stack]:
    env, retrieval, adapter = indexed
    with environment({**env, "model__engine": request.param}) as settings:
        from services.generation.app import create_app

        generation = kit.serve(create_app())
        assert generation.app.state.engine.describe()["engine"] == request.param
        yield Stack(settings, generation, retrieval, adapter)
        generation.service.stop()
