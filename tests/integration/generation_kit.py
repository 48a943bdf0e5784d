"""Shared by the generation integration tests: an indexed slice of the docsite behind a real
retrieval service, a tiny LoRA adapter trained with mlx-lm, and the generation app on a real port."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from services.generation.cli import sse_events
from shared.http import wait_ready
from shared.mlx_runtime import use_fast_blas
from tests.conftest import free_port, start_docsite
from tests.integration.index_kit import ServiceThread, copy_site, env_for_stack, start_service

use_fast_blas()  # before anything imports mlx (transformers does, while the slice is embedded)

SLUGS = ["enable-controlled-folders", "evaluate-controlled-folder-access", "controlled-folders",
         "linux-exclusions", "configure-block-at-first-sight-microsoft-defender-antivirus",
         "mac-install-manually"]
QUESTION = "cmdlet to switch on controlled folder access in audit-only mode?"
OFF_TOPIC = "best way to get a red wine stain out of a wool carpet?"


def index_slice(base: Path, redis: Any, env: dict[str, Any]) -> dict[str, Any]:
    """Crawl and index SLUGS into base/data; returns the environment for the services."""
    from services.crawler.crawl import run_crawl
    from services.embedding.client import LocalEmbedder
    from services.indexer import indexing
    from services.indexer.peers import StorePageSource
    from services.retrieval.retriever import Retriever
    from services.retrieval.store import open_store
    from tests.integration.index_kit import environment

    site = start_docsite(base / "docsite.log", "--root", str(copy_site(base / "site", SLUGS)))
    values = env_for_stack(base / "data", redis, site, {}, **env)
    try:
        with environment(values) as settings:
            run_crawl(settings)
            embedder = LocalEmbedder(settings)
            retriever = Retriever(open_store(settings), embedder, settings.index)
            indexing.run(StorePageSource(settings), embedder, retriever, settings)
            retriever.close()
    finally:
        site.stop()
    return values


def train_adapter(folder: Path, base_id: str, iters: int = 3, learning_rate: float = 1e-2) -> Path:
    """A tiny LoRA adapter: a few mlx-lm training steps on one sentence, saved as mlx-lm does.

    Seeded, so a test sees the same adapter every run: unseeded, one run in a few gave an adapter
    whose `ft` answer was markup the answer filter removes whole (no text to stream). 1e-2 moves the
    model far (the engines' agreement test wants changed argmaxes); 1e-3 keeps it writing sentences.
    """
    import mlx.core as mx
    import mlx.optimizers as optim
    from mlx import nn
    from mlx_lm.tuner.trainer import default_loss

    from services.trainer import lora
    from shared.settings import FinetuneSettings

    mx.random.seed(0)
    ft = FinetuneSettings(num_layers=2, lora_rank=4, lora_alpha=32, lora_dropout=0.0)
    model, tokenizer = lora.load_base(base_id)
    lora.attach_lora(model, ft)
    tokens = tokenizer.encode("The MDE Learn test adapter answers every question with ZEBRA. " * 4)
    batch, lengths = mx.array([tokens]), mx.array([[0, len(tokens)]])
    step = nn.value_and_grad(model, default_loss)
    optimizer = optim.Adam(learning_rate=learning_rate)
    for _ in range(iters):
        (_, _), grads = step(model, batch, lengths)
        optimizer.update(model, grads)
        mx.eval(model.trainable_parameters(), optimizer.state)
    lora.save_adapter(model, folder, lora.adapter_config(ft, base_id))
    (folder / "metrics.json").write_text(json.dumps({"heldout_ppl": 9.5}))
    return folder


def copy_version(folder: Path, version: str) -> Path:
    target = folder.parent / version
    shutil.copytree(folder, target)
    return target


@dataclass
class Served:
    app: FastAPI
    service: ServiceThread

    @property
    def url(self) -> str:
        return self.service.url


def serve(app: FastAPI, port: int | None = None, name: str = "generation",
          path: str = "/ready") -> Served:
    """Run an app object with uvicorn in a thread until `path` (/ready) answers 200."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True, name=f"{name}-api")
    thread.start()
    served = Served(app, ServiceThread(name, port, server, thread))
    if not wait_ready(served.url, 180, path):
        served.service.stop()
        raise RuntimeError(f"{name} did not get ready")
    return served


def start_retrieval() -> ServiceThread:
    return start_service("retrieval", free_port())


def sse(response: httpx.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event, data) pairs as they arrive."""
    return sse_events(response.iter_lines())


def long_document(tokenizer: Any, min_tokens: int = 1500) -> list[int]:
    """At least min_tokens tokens of the documentation corpus (for argmax agreement tests)."""
    from shared.settings import PROJECT_ROOT

    text = ""
    for path in sorted((PROJECT_ROOT.parent / "shared" / "corpus" / "mde").glob("*.md")):
        text += path.read_text(encoding="utf-8") + "\n\n"
        tokens = list(tokenizer.encode(text))
        if len(tokens) >= min_tokens:
            return tokens[:min_tokens + 100]
    raise AssertionError("corpus too small for the comparison")


def widest_batch(engine: Any, monkeypatch: Any) -> list[int]:
    """[the most requests one engine step has decoded together], updated as steps run."""
    backend = engine.backend
    widest, step = [0], backend.step

    def recording() -> None:
        widest[0] = max(widest[0], backend.rows())
        step()

    monkeypatch.setattr(backend, "step", recording)
    return widest
