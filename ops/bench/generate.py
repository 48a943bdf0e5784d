"""Generation speed of both engines and bare llama-cpp-python, interleaved run by run, one process:

* bare llama-cpp-python (`Llama.create_completion`, the service's GGUF and threads) and bare mlx-lm
  with the project's fast CPU kernels, on one prompt of --prompt-tokens (1,500) tokens;
* each engine's service `POST /generate` (SSE) on the same prompt (`ft` mode: the same tokens);
* RAG questions through each service at top_k 5 (needs a retrieval service with an index:
  --retrieval-url);
* N concurrent short chats vs one, per service (aggregate completion tok/s).

    .venv/bin/python -m ops.bench.generate [--runs 5] [--max-tokens 64] [--retrieval-url URL]
                                           [--prompt-tokens 1500] [--json]

`overhead` is the service's wall time for the long prompt (first token + decode) over the bare
library's, run by run; `concurrency_gain` is N chats' aggregate tok/s over one chat's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from typing import Any

from ops.bench import generate_runs as runs

ENGINES = ("llama_cpp", "mlx")


def setup(settings: Any, prompt_tokens: int) -> tuple[dict[str, Any], str, list[int]]:
    """The bare libraries, loaded in this process, and the long prompt as the service renders it,
    prompt_tokens long (the system prompt and chat template included)."""
    from services.generation.prompting import read_prompt
    from services.generation.weights import load_weights
    from shared.mlx_runtime import use_fast_blas
    from shared.prompts import plain_messages

    use_fast_blas(settings.model.blas_library)  # before anything imports mlx
    from services.generation.kernels import native_compiler

    native_compiler()  # as the MLX service does
    mlx = load_weights(settings.model.base_id, fast_kernels=True)
    threads = settings.model.threads or os.cpu_count() or 1
    llama = runs.BareLlama(settings.model.gguf, threads, settings.model.llama_batch,
                           settings.model.llama_spin_count)
    system = read_prompt(settings.model.ft_system_prompt_file)

    def rendered(question: str) -> list[int]:
        return list(mlx.tokenizer.apply_chat_template(plain_messages(system, [], question),
                                                      add_generation_prompt=True))

    question = runs.long_question(mlx.tokenizer, prompt_tokens - len(rendered("")) - 12)
    prompt = rendered(question)
    return {"llama_cpp": llama, "mlx": mlx}, question, prompt


def bare(engine: str, library: Any, prompt: list[int], max_tokens: int, step: int) -> dict:
    if engine == "llama_cpp":
        return library.run(prompt, max_tokens)  # type: ignore[no-any-return]
    return runs.bare_run(library.model, library.tokenizer, prompt, max_tokens, step)


def measure(count: int, max_tokens: int, retrieval_url: str | None, chats: int,
            prompt_tokens: int = 1500) -> dict:
    """Every path once per run, the engines interleaved within each run."""
    from shared.settings import get_settings
    from tests.conftest import free_port

    settings = get_settings()
    libraries, question, prompt = setup(settings, prompt_tokens)
    step = settings.model.prefill_step_size
    rag = runs.retrieval_ready(retrieval_url)
    services, urls = {}, {}
    results: dict[str, dict[str, list[dict]]] = {
        engine: {key: [] for key in ("bare", "service", "rag", "one", "many")}
        for engine in ENGINES}
    try:
        for engine in ENGINES:
            port = free_port()
            services[engine] = runs.start_service(port, engine, retrieval_url if rag else None)
            urls[engine] = f"http://127.0.0.1:{port}"
        ask = {"question": question, "mode": "ft", "max_tokens": max_tokens, "temperature": 0}
        for engine in ENGINES:  # warm-up: compile kernels, fill caches
            bare(engine, libraries[engine], prompt[:64], 4, step)
            runs.service_run(urls[engine], {"question": "Hello", "mode": "ft", "max_tokens": 4})
        questions = runs.rag_questions()
        for i in range(count):
            for engine in ENGINES:
                r, url = results[engine], urls[engine]
                r["bare"].append(bare(engine, libraries[engine], prompt, max_tokens, step))
                r["service"].append(runs.service_run(url, ask))
                if rag:
                    r["rag"].append(runs.service_run(url, {
                        "question": questions[i % len(questions)], "mode": "rag", "top_k": 5,
                        "max_tokens": max_tokens, "temperature": 0}))
                r["one"].append(runs.concurrent_run(url, 1, max_tokens))
                r["many"].append(runs.concurrent_run(url, chats, max_tokens))
    finally:
        libraries["llama_cpp"].close()
        for process in services.values():
            process.terminate()
            process.wait(30)
    return {"prompt_tokens": len(prompt), "chats": chats, "runs": results}


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def spread(values: list[float], digits: int = 2) -> str:
    """`median (min–max)` of a list."""
    if not values:
        return "–"
    return (f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–"
            f"{max(values):.{digits}f})")


def ratios(result: dict, engine: str) -> dict[str, list[float]]:
    r = result["runs"][engine]
    return {"overhead": [s["wall_s"] / b["wall_s"] for b, s in zip(r["bare"], r["service"])],
            "concurrency": [m["agg_tok_s"] / o["agg_tok_s"] for o, m in zip(r["one"], r["many"])],
            "vs_mlx": [s["tok_s"] / m["tok_s"] for s, m in zip(
                r["service"], result["runs"]["mlx"]["service"]) if m["tok_s"]]}


def summary(result: dict) -> list[dict[str, Any]]:
    """One object per engine (the --json output), then bare llama-cpp-python."""
    objects = []
    for engine in ENGINES:
        r, ratio = result["runs"][engine], ratios(result, engine)
        objects.append({
            "engine": engine, "ttft_s": median([x["ttft_s"] for x in r["service"]]),
            "decode_tok_s": median([x["tok_s"] for x in r["service"]]),
            "overhead": median(ratio["overhead"]), "concurrency_gain": median(ratio["concurrency"]),
            "rag_ttft_s": median([x["ttft_s"] for x in r["rag"]]),
            "rag_evidence_s": median([x["evidence_s"] for x in r["rag"] if x["evidence_s"]]),
            "rag_answer_s": median([x["wall_s"] for x in r["rag"]]),
            "decode_vs_mlx": median(ratio["vs_mlx"]), "prompt_tokens": result["prompt_tokens"],
            "runs": len(r["service"])})
    bare_runs = result["runs"]["llama_cpp"]["bare"]
    objects.append({"engine": "llama-cpp-python (bare)",
                    "ttft_s": median([x["ttft_s"] for x in bare_runs]),
                    "decode_tok_s": median([x["tok_s"] for x in bare_runs])})
    return objects


def table(result: dict) -> list[str]:
    lines = ["| engine | path | TTFT s, median (range) | decode tok/s, median (range) |",
             "|---|---|---|---|"]
    for engine in ENGINES:
        r, ratio = result["runs"][engine], ratios(result, engine)
        for path, name in (("bare", "bare library"), ("service", "service (SSE)"),
                           ("rag", "service, rag top_k 5")):
            if r[path]:
                lines.append(f"| {engine} | {name} | {spread([x['ttft_s'] for x in r[path]])} | "
                             f"{spread([x['tok_s'] for x in r[path]], 1)} |")
        many, one = [m["agg_tok_s"] for m in r["many"]], [o["agg_tok_s"] for o in r["one"]]
        if r["rag"]:
            evidence = [x["evidence_s"] for x in r["rag"] if x["evidence_s"]]
            lines.append(f"| {engine} | rag: evidence shown {spread(evidence)} s, first checked "
                         f"sentence {spread([x['seen_s'] for x in r['rag']])} s, whole answer "
                         f"{spread([x['wall_s'] for x in r['rag']])} s | | |")
        lines += [
            f"| {engine} | service/bare wall time (overhead) | {spread(ratio['overhead'])} | |",
            f"| {engine} | {result['chats']} chats vs 1: aggregate tok/s {spread(many, 1)} vs "
            f"{spread(one, 1)} | | ×{spread(ratio['concurrency'])} |",
            f"| {engine} | service decode / MLX service decode | | ×{spread(ratio['vs_mlx'])} |"]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--chats", type=int, default=4)
    parser.add_argument("--prompt-tokens", type=int, default=1500, help="the long prompt's length")
    parser.add_argument("--retrieval-url", default=None,
                        help="a retrieval service with an index, for the rag runs")
    parser.add_argument("--json", action="store_true", help="one JSON object per engine")
    args = parser.parse_args()
    result = measure(args.runs, args.max_tokens, args.retrieval_url, args.chats, args.prompt_tokens)
    if args.json:
        for item in summary(result):
            print(json.dumps(item))
        return
    print("\n".join(table(result)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
