"""Generation speed: the same ~1.5k-token prompt through bare `mlx_lm.stream_generate` and through
the service's `POST /generate`, interleaved in one run, with and without OpenBLAS.

    .venv/bin/python -m ops.bench.generate [--runs 5] [--max-tokens 64] [--skip-reference-blas]

Prints time to first token (TTFT) and decode tok/s per path, and the service/bare ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from shared.settings import PROJECT_ROOT

SHARED = PROJECT_ROOT.parent / "shared"


def long_question(tokenizer: object, target_tokens: int = 1500) -> str:
    """Documentation text of about target_tokens tokens with a question at the end (a RAG-sized prompt)."""
    text = ""
    for path in sorted((SHARED / "corpus" / "mde").glob("*.md")):
        text += path.read_text(encoding="utf-8")[:3000] + "\n\n"
        if len(tokenizer.encode(text)) >= target_tokens:  # type: ignore[attr-defined]
            break
    return text + "\nQuestion: which settings does this describe? Answer briefly."


def bare_run(weights: object, engine_settings: object, prompt: list[int], max_tokens: int) -> dict:
    from mlx_lm import stream_generate
    from mlx_lm.sample_utils import make_sampler

    started, first, last = time.perf_counter(), None, None
    for response in stream_generate(weights.model, weights.tokenizer, prompt, max_tokens=max_tokens,  # type: ignore[attr-defined]
                                    sampler=make_sampler(temp=0.0),
                                    prefill_step_size=engine_settings.model.prefill_step_size):  # type: ignore[attr-defined]
        first = first or time.perf_counter()
        last = response
    return {"ttft_s": first - started, "tok_s": last.generation_tps, "tokens": last.generation_tokens}


def service_run(url: str, question: str, max_tokens: int) -> dict:
    body = {"question": question, "mode": "ft", "max_tokens": max_tokens, "temperature": 0}
    started, first, done = time.perf_counter(), None, {}
    with httpx.stream("POST", f"{url}/generate", json=body, timeout=600) as response:
        if response.status_code != 200:
            raise RuntimeError(f"/generate answered {response.status_code}: {response.read()!r}")
        event = ""
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
                if event == "token" and first is None:
                    first = time.perf_counter()
            elif line.startswith("data:") and event == "done":
                done = json.loads(line[5:])
    return {"ttft_s": (first or time.perf_counter()) - started, "tok_s": done["timings"]["tokens_per_sec"],
            "tokens": done["usage"]["completion_tokens"]}


def start_service(port: int, blas: str) -> subprocess.Popen[bytes]:
    # the whole ~1.5k-token document travels as the question, so lift the question limit
    env = {**os.environ, "GENERATION_PORT": str(port), "MODEL__BLAS_LIBRARY": blas,
           "INFER__MAX_QUESTION_CHARS": "100000"}
    process = subprocess.Popen([sys.executable, "-m", "shared.serve", "generation"], cwd=PROJECT_ROOT,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise RuntimeError("generation service did not become ready")


def measure(blas: str, runs: int, max_tokens: int) -> dict:
    """One BLAS setting, in this process: bare and service runs interleaved."""
    from services.generation.answer import build_messages
    from services.generation.engine import load_weights
    from shared.mlx_runtime import blas_in_use, use_fast_blas
    from shared.schemas import GenerateRequest
    from shared.settings import get_settings
    from tests.conftest import free_port

    settings = get_settings()
    use_fast_blas(blas)
    weights = load_weights(settings.model.base_id)
    question = long_question(weights.tokenizer)
    messages = build_messages(GenerateRequest(question=question, mode="ft"), settings)
    prompt = weights.tokenizer.apply_chat_template(messages, add_generation_prompt=True)
    port = free_port()
    service = start_service(port, blas)
    try:
        bare_run(weights, settings, prompt[:64], 4)  # warm-up both paths
        service_run(f"http://127.0.0.1:{port}", "Hello", 4)
        results: dict[str, list[dict]] = {"bare": [], "service": []}
        for _ in range(runs):
            results["bare"].append(bare_run(weights, settings, prompt, max_tokens))
            results["service"].append(service_run(f"http://127.0.0.1:{port}", question, max_tokens))
    finally:
        service.terminate()
        service.wait(30)
    return {"blas": blas_in_use(), "prompt_tokens": len(prompt), "runs": results}


def summarize(label: str, result: dict) -> list[str]:
    runs = result["runs"]
    med = {path: {k: statistics.median(r[k] for r in runs[path]) for k in ("ttft_s", "tok_s")}
           for path in runs}
    ratios = [s["ttft_s"] / b["ttft_s"] for b, s in zip(runs["bare"], runs["service"])]
    lines = [f"| {label} | {path} | {result['prompt_tokens']} | {med[path]['ttft_s']:.2f} | "
             f"{med[path]['tok_s']:.1f} |" for path in ("bare", "service")]
    lines.append(f"| {label} | service/bare TTFT ratio (median of {len(ratios)}, range "
                 f"{min(ratios):.2f}–{max(ratios):.2f}) | | {statistics.median(ratios):.2f} | |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--reference-runs", type=int, default=1,
                        help="runs with MLX's bundled BLAS (slow: ~3 min per prompt)")
    parser.add_argument("--worker", choices=["auto", "none"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:  # one BLAS setting per process: it must be chosen before mlx is imported
        runs = args.runs if args.worker == "auto" else args.reference_runs
        print(json.dumps(measure(args.worker, runs, args.max_tokens)))
        return
    table = ["| BLAS | path | prompt tokens | TTFT s (median) | decode tok/s (median) |",
             "|---|---|---|---|---|"]
    for blas, label in (("auto", "OpenBLAS"), ("none", "bundled")):
        if blas == "none" and args.reference_runs == 0:
            continue
        output = subprocess.run([sys.executable, "-m", "ops.bench.generate", "--worker", blas,
                                 "--runs", str(args.runs), "--max-tokens", str(args.max_tokens),
                                 "--reference-runs", str(args.reference_runs)],
                                cwd=PROJECT_ROOT, check=True, capture_output=True, text=True).stdout
        table += summarize(label, json.loads(output.strip().splitlines()[-1]))
    print("\n".join(table))


if __name__ == "__main__":
    main()
