"""Generation speed, interleaved run by run in one process per BLAS setting:

* raw mlx-lm (`stream_generate`, the library's own kernels) and bare mlx-lm with the project's fast
  CPU kernels, on one ~1.5k-token prompt;
* the service's `POST /generate` (SSE) on the same prompt (`ft` mode: same tokens as bare);
* RAG questions through the service at top_k 5 (needs a retrieval service with an index: --retrieval-url);
* N concurrent short chats vs one (aggregate completion tok/s).

    .venv/bin/python -m ops.bench.generate [--runs 5] [--max-tokens 64] [--retrieval-url URL]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from ops.bench import generate_runs as runs
from shared.settings import PROJECT_ROOT


def measure(blas: str, count: int, max_tokens: int, retrieval_url: str | None, chats: int) -> dict:
    """One BLAS setting, in this process: every path once per run, interleaved."""
    from services.generation.prompting import plain_messages, read_prompt
    from services.generation.weights import load_weights
    from shared.mlx_runtime import blas_in_use, use_fast_blas
    from shared.settings import get_settings
    from tests.conftest import free_port

    settings = get_settings()
    use_fast_blas(blas)
    from services.generation.kernels import native_compiler

    native_compiler()  # as the service does
    raw = load_weights(settings.model.base_id, fast_kernels=False)
    fast = load_weights(settings.model.base_id, fast_kernels=True)
    question = runs.long_question(fast.tokenizer)
    system = read_prompt(settings.model.ft_system_prompt_file)
    prompt = fast.tokenizer.apply_chat_template(plain_messages(system, [], question),
                                                add_generation_prompt=True)
    step = settings.model.prefill_step_size
    rag = runs.retrieval_ready(retrieval_url)
    port = free_port()
    service = runs.start_service(port, blas, retrieval_url if rag else None)
    url = f"http://127.0.0.1:{port}"
    results: dict[str, list[dict]] = {key: [] for key in ("raw", "bare", "service", "rag", "one", "many")}
    try:
        for weights in (raw, fast):  # warm-up: compile kernels, fill caches
            runs.bare_run(weights.model, weights.tokenizer, prompt[:64], 4, step)
        runs.service_run(url, {"question": "Hello", "mode": "ft", "max_tokens": 4})
        ask = {"question": question, "mode": "ft", "max_tokens": max_tokens, "temperature": 0}
        for i in range(count):
            results["raw"].append(runs.bare_run(raw.model, raw.tokenizer, prompt, max_tokens, step))
            results["bare"].append(runs.bare_run(fast.model, fast.tokenizer, prompt, max_tokens, step))
            results["service"].append(runs.service_run(url, ask))
            if rag:
                questions = runs.rag_questions()
                results["rag"].append(runs.service_run(url, {
                    "question": questions[i % len(questions)], "mode": "rag", "top_k": 5,
                    "max_tokens": max_tokens, "temperature": 0}))
            results["one"].append(runs.concurrent_run(url, 1, max_tokens))
            results["many"].append(runs.concurrent_run(url, chats, max_tokens))
    finally:
        service.terminate()
        service.wait(30)
    return {"blas": blas_in_use(), "prompt_tokens": len(prompt), "chats": chats, "runs": results}


def spread(values: list[float], digits: int = 2) -> str:
    """`median (min–max)` of a list."""
    if not values:
        return "–"
    return (f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–"
            f"{max(values):.{digits}f})")


def summarize(label: str, result: dict) -> list[str]:
    r = result["runs"]
    lines = []
    for path, name in (("raw", "raw mlx-lm"), ("bare", "bare mlx-lm + fast kernels"),
                       ("service", "service (SSE)"), ("rag", "service, rag top_k 5")):
        if r[path]:
            tokens = statistics.median(x.get("prompt_tokens", result["prompt_tokens"]) for x in r[path])
            lines.append(f"| {label} | {name} | {tokens:.0f} | {spread([x['ttft_s'] for x in r[path]])}"
                         f" | {spread([x['tok_s'] for x in r[path]], 1)} |")
    overhead = [s["ttft_s"] / b["ttft_s"] for b, s in zip(r["bare"], r["service"])]
    decode = [b["tok_s"] / s["tok_s"] for b, s in zip(r["bare"], r["service"]) if s["tok_s"]]
    speedup = [w["ttft_s"] / s["ttft_s"] for w, s in zip(r["raw"], r["service"])]
    scaling = [m["agg_tok_s"] / o["agg_tok_s"] for o, m in zip(r["one"], r["many"])]
    lines += [f"| {label} | service/bare TTFT ratio (overhead) | | {spread(overhead)} | |",
              f"| {label} | bare/service decode ratio (overhead) | | | {spread(decode)} |",
              f"| {label} | raw mlx-lm/service TTFT ratio (speed-up) | | {spread(speedup)} | |",
              (f"| {label} | {result['chats']} chats vs 1: aggregate tok/s "
               f"{spread([m['agg_tok_s'] for m in r['many']], 1)} vs "
               f"{spread([o['agg_tok_s'] for o in r['one']], 1)} | | | ×{spread(scaling)} |")]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--chats", type=int, default=4)
    parser.add_argument("--retrieval-url", default=None,
                        help="a retrieval service with an index, for the rag runs")
    parser.add_argument("--reference-runs", type=int, default=0,
                        help="runs with MLX's bundled BLAS (slow: minutes per prompt)")
    parser.add_argument("--worker", choices=["auto", "none"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:  # one BLAS setting per process: it must be chosen before mlx is imported
        count = args.runs if args.worker == "auto" else args.reference_runs
        print(json.dumps(measure(args.worker, count, args.max_tokens, args.retrieval_url, args.chats)))
        return
    table = ["| BLAS | path | prompt tokens | TTFT s, median (range) | decode tok/s, median (range) |",
             "|---|---|---|---|---|"]
    for blas, label in (("auto", "OpenBLAS"), ("none", "bundled")):
        if blas == "none" and args.reference_runs == 0:
            continue
        command = [sys.executable, "-m", "ops.bench.generate", "--worker", blas, "--runs",
                   str(args.runs), "--max-tokens", str(args.max_tokens), "--chats", str(args.chats),
                   "--reference-runs", str(args.reference_runs)]
        if args.retrieval_url:
            command += ["--retrieval-url", args.retrieval_url]
        output = subprocess.run(command, cwd=PROJECT_ROOT, check=True, capture_output=True,
                                text=True).stdout
        result = json.loads(output.strip().splitlines()[-1])
        table += summarize(label, result)
        print(json.dumps(result), file=sys.stderr)
    print("\n".join(table))


if __name__ == "__main__":
    main()
