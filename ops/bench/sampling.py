"""What sampling (temperature > 0, the chat default) costs on the llama.cpp engine, with and without
`infer.sample_top_k`: the sampler chain alone on the real model's logits, then one chat and N
concurrent chats through two generation services (top-k 0 and the default), interleaved run by run.

    .venv/bin/python -m ops.bench.sampling [--runs 5] [--max-tokens 96] [--chats 4] [--json]

`ops.bench.generate` measures greedy decoding (temperature 0), where the chain was cheap already.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from ops.bench import generate_runs as runs
from services.generation.batching import Sampling
from shared.settings import get_settings

TEMPERATURE = 0.2


def loaded_model() -> Any:
    """The service's GGUF with the chat question evaluated, so its logits are real."""
    import llama_cpp

    llm = llama_cpp.Llama(model_path=get_settings().model.gguf, n_ctx=512, n_threads=2,
                          verbose=False)
    llm.eval(llm.tokenize(runs.CHAT.encode()))
    return llm


def sampler_ms(llm: Any, top_k: int, repeats: int = 300) -> float:
    """Milliseconds per token for the service's chain (penalty, top-k, top-p, temp, draw)."""
    import llama_cpp

    from services.generation.llama_slots import make_sampler

    settings = get_settings()
    sampling = Sampling(max_tokens=8, temperature=TEMPERATURE, top_p=settings.infer.top_p,
                        top_k=top_k, repetition_penalty=settings.infer.repetition_penalty,
                        repetition_context=settings.infer.repetition_context)
    sampler = make_sampler(sampling, llm.n_vocab())
    started = time.perf_counter()
    for _ in range(repeats):
        llama_cpp.llama_sampler_sample(sampler.sampler, llm._ctx.ctx, -1)
    return (time.perf_counter() - started) / repeats * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--chats", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from tests.conftest import free_port

    default = get_settings().infer.sample_top_k
    variants = {"top_k 0": 0, f"top_k {default}": default}
    llm = loaded_model()
    report: dict[str, Any] = {"temperature": TEMPERATURE, "sampler_ms": {
        name: round(sampler_ms(llm, k), 3) for name, k in variants.items()}}
    del llm  # its memory and threads are not the services' to share
    ports = {name: free_port() for name in variants}
    processes = [runs.start_service(ports[name], "llama_cpp", None, {"INFER__SAMPLE_TOP_K": str(k)})
                 for name, k in variants.items()]
    single: dict[str, list[float]] = {name: [] for name in variants}
    many: dict[str, list[float]] = {name: [] for name in variants}
    body = {"question": runs.CHAT, "mode": "ft", "max_tokens": args.max_tokens,
            "temperature": TEMPERATURE}
    try:
        for _ in range(args.runs):
            for name in variants:  # interleaved: the machine's load hits both alike
                url = f"http://127.0.0.1:{ports[name]}"
                single[name].append(runs.service_run(url, body)["tok_s"])
                many[name].append(runs.concurrent_run(url, args.chats, args.max_tokens,
                                                      TEMPERATURE)["agg_tok_s"])
    finally:
        for process in processes:
            process.kill()
    for name in variants:
        report[name] = {"decode_tok_s": round(statistics.median(single[name]), 1),
                        f"{args.chats}_chats_tok_s": round(statistics.median(many[name]), 1),
                        "concurrency_gain": round(statistics.median(
                            m / s for m, s in zip(many[name], single[name])), 2)}
    print(json.dumps(report, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
