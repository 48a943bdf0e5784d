"""Search latency through HTTP: POST /search p50/p95 per mode, at the docsite's size and at 20,000
synthetic chunks (goal: p95 <= 50 ms).

    .venv/bin/python -m ops.bench.search --data-dir DIR [--synthetic 20000] [--rounds 3]

DIR is a DATA_DIR holding an index of the docsite (`mde crawl` + `mde index`, or the one
ops/bench/index.py builds). The retrieval and embedding services are started as subprocesses on
free ports (`python -m shared.serve ...`), so every query pays the real HTTP hops: client ->
retrieval -> embedding (query vector) -> Qdrant Edge. The synthetic index holds real chunk texts
(for BM25) with random unit vectors, written straight into a fresh Edge store.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from shared.http import wait_ready
from shared.settings import PROJECT_ROOT, load_settings

QUESTIONS = PROJECT_ROOT.parent / "shared" / "eval" / "questions.jsonl"
MODES = ("dense", "sparse", "hybrid")


def serve(name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-m", "shared.serve", name], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if wait_ready(env[f"{name.upper()}_URL"], 180):
        return process
    process.kill()
    raise RuntimeError(f"{name} did not start")


def latencies(url: str, queries: list[str], mode: str, rounds: int) -> dict[str, float]:
    times: list[float] = []
    with httpx.Client(base_url=url, timeout=30) as client:
        client.post("/search", json={"query": "warm up", "mode": mode})
        for _ in range(rounds):
            for query in queries:
                started = time.perf_counter()
                client.post("/search", json={"query": query, "top_k": 5, "mode": mode})
                times.append((time.perf_counter() - started) * 1000)
    ordered = sorted(times)
    return {"p50": round(statistics.median(ordered), 2),
            "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 2), "n": len(ordered)}


class FixedSize:
    """Stands in for the model where only the vector size is asked (vectors here are random)."""

    def embed(self, texts: list[str], kind: str = "passage") -> list[list[float]]:
        return [[1.0] + [0.0] * 383 for _ in texts]


def synthetic_index(source_dir: Path, target_dir: Path, count: int) -> int:
    """`count` points: the docsite's chunk texts, repeated with new ids, and random unit vectors."""
    from services.indexer.chunking import point_id
    from services.retrieval.retriever import Retriever
    from services.retrieval.store import open_store
    from shared.schemas import PointIn

    source = Retriever(open_store(load_settings(data_dir=source_dir)), FixedSize(),
                       load_settings().index)
    chunks = source.chunks(None, 10_000).items
    source.close()
    target = Retriever(open_store(load_settings(data_dir=target_dir)), FixedSize(),
                       load_settings().index)
    rng = random.Random(7)
    batch: list[PointIn] = []
    for n in range(count):
        base = chunks[n % len(chunks)]
        url = f"{base.url}-copy{n // len(chunks)}"
        vector = [rng.gauss(0, 1) for _ in range(384)]
        norm = sum(v * v for v in vector) ** 0.5
        chunk = base.model_copy(update={"id": point_id(url, base.position), "url": url})
        batch.append(PointIn(chunk=chunk, vector=[v / norm for v in vector]))
        if len(batch) == 500:
            target.upsert(batch)
            batch = []
    target.upsert(batch)
    target.store.publish(target.store.current)  # type: ignore[attr-defined]  # optimize + flush
    points = target.collection().points
    target.close()
    return points


def store_only(data_dir: Path, queries: list[str]) -> dict[str, float]:
    """Hybrid DBSF queries straight on the Edge store (no HTTP, no model): the engine's share."""
    from services.retrieval.retriever import Retriever
    from services.retrieval.store import QueryPlan, open_store

    settings = load_settings(data_dir=data_dir)
    retriever = Retriever(open_store(settings), FixedSize(), settings.index)
    rng = random.Random(3)
    times = []
    for query in queries * 3:
        vector = [rng.gauss(0, 1) for _ in range(384)]
        plan = QueryPlan("hybrid", 5, vector, retriever.sparse.query(query), "dbsf",
                         prefetch_limit=settings.index.prefetch_limit)
        started = time.perf_counter()
        retriever.store.query(plan)
        times.append((time.perf_counter() - started) * 1000)
    retriever.close()
    ordered = sorted(times)
    return {"p50": round(statistics.median(ordered), 3),
            "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 3)}


def measure(data_dir: Path, queries: list[str], rounds: int, ports: dict[str, int]) -> dict[str, Any]:
    env = dict(os.environ, DATA_DIR=str(data_dir), LOG_LEVEL="WARNING")
    for name, port in ports.items():
        env[f"{name.upper()}_PORT"] = str(port)
        env[f"{name.upper()}_URL"] = f"http://127.0.0.1:{port}"
    processes = [serve("embedding", env), serve("retrieval", env)]
    try:
        url = env["RETRIEVAL_URL"]
        points = httpx.get(f"{url}/collection").json()["points"]
        return {"points": points} | {mode: latencies(url, queries, mode, rounds) for mode in MODES}
    finally:
        for process in processes:
            process.terminate()
            process.wait(20)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True, help="DATA_DIR with the docsite index")
    parser.add_argument("--synthetic", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    from ops.bench.crawl import free_port

    queries = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line]
    ports = {"embedding": free_port(), "retrieval": free_port()}
    report = {"docsite": measure(args.data_dir, queries, args.rounds, ports)}
    if args.synthetic:
        work = Path(tempfile.mkdtemp(prefix="mde-bench-search-"))
        try:
            started = time.perf_counter()
            synthetic_index(args.data_dir, work, args.synthetic)
            report["synthetic_upsert_sec"] = round(time.perf_counter() - started, 2)
            report["synthetic_store_only_ms"] = store_only(work, queries)
            report["synthetic"] = measure(work, queries, args.rounds, ports)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
