"""Processes the UI tests talk to: a service API or the Streamlit server on a free port, stopped
with its whole process group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from shared.http import wait_ready
from shared.settings import PROJECT_ROOT
from tests.conftest import free_port


class Server:
    """One subprocess serving HTTP on a free port (a service API, a stand-in, or Streamlit)."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path,
                 port: int | None = None, health: str = "/health") -> None:
        self.name, self.command, self.log, self.health = name, command, log, health
        self.port = port or free_port()
        self.env = {**os.environ, **env}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> Server:
        command = [part.replace("{port}", str(self.port)) for part in self.command]
        self.process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=self.env,
                                        stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
                                        start_new_session=True)
        if wait_ready(self.url, timeout, self.health, alive=lambda: self.process.poll() is None):
            return self
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
        self.stop()
        raise TimeoutError(f"{self.name} not up after {timeout}s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


def service(name: str, tmp: Path, **env: str) -> Server:
    """`python -m shared.serve <name>` on a free port, with a temp DATA_DIR."""
    port = free_port()
    env = {"DATA_DIR": str(tmp / "data"), f"{name.upper()}_PORT": str(port), **env}
    return Server(name, [sys.executable, "-m", "shared.serve", name], env, tmp / f"{name}.log",
                  port=port, health="/ready")


def standin(tmp: Path) -> Server:
    """The generation + retrieval stand-in of tests/e2e/ui_standin.py."""
    command = [sys.executable, "-m", "uvicorn", "tests.e2e.ui_standin:app", "--host", "127.0.0.1",
               "--port", "{port}", "--log-level", "warning"]
    return Server("standin", command, {}, tmp / "standin.log")


def streamlit(tmp: Path, env: dict[str, str] | None = None, **urls: str) -> Server:
    """The UI the way the Procfile starts it (`python -m ui.run`), pointed at the given services."""
    port = free_port()
    env = {"UI_PORT": str(port), "DATA_DIR": str(tmp / "data"), **(env or {}),
           **{f"{name.upper()}_URL": url for name, url in urls.items()}}
    return Server("ui", [sys.executable, "-m", "ui.run"], env, tmp / "ui.log", port=port,
                  health="/_stcore/health")


def index_corpus(retrieval_url: str, count: int | None = None) -> None:
    """A small index: the retrieval fakes' corpus (its first `count` rows), embedded with the real
    embedding model (the retrieval service refuses vectors of another size)."""
    from services.embedding.client import LocalEmbedder
    from shared.schemas import PointIn
    from shared.settings import load_settings
    from tests.unit.retrieval.fakes import CORPUS, make_chunk

    chunks = [make_chunk(*row) for row in CORPUS[:count]]
    vectors = LocalEmbedder(load_settings()).embed([chunk.embed_text for chunk in chunks])
    body = {"points": [PointIn(chunk=c, vector=v).model_dump() for c, v in zip(chunks, vectors)]}
    httpx.put(f"{retrieval_url}/points", json=body, timeout=60).raise_for_status()


@contextmanager
def rag_services(tmp: Path) -> Iterator[tuple[Server, Server]]:
    """(retrieval, generation): the real services over a small real index, for answers in rag."""
    retrieval = service("retrieval", tmp, INDEX__QUERY_EMBEDDER="local").start()
    generation = service("generation", tmp, RETRIEVAL_URL=retrieval.url)
    try:
        index_corpus(retrieval.url)
        generation.start(timeout=240)
        yield retrieval, generation
    finally:
        generation.stop()
        retrieval.stop()
