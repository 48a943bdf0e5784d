"""One measurement each, for `ops.bench.generate`: bare llama-cpp-python, bare mlx-lm, a service
(SSE), RAG questions through a service, and concurrent chats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

import httpx

from shared.http import wait_ready
from shared.settings import PROJECT_ROOT, get_settings

SHARED = PROJECT_ROOT.parent / "shared"
CHAT = "Explain step by step how to onboard a Linux server to Microsoft Defender for Endpoint."


def long_question(tokenizer: Any, target_tokens: int = 1500) -> str:
    """Documentation text cut at target_tokens tokens with a question at the end (RAG-sized)."""
    text = ""
    for path in sorted((SHARED / "corpus" / "mde").glob("*.md")):
        text += path.read_text(encoding="utf-8")[:3000] + "\n\n"
        if len(tokenizer.encode(text)) >= target_tokens:
            break
    text = tokenizer.decode(tokenizer.encode(text)[:target_tokens])
    return text + "\nQuestion: which settings does this describe? Answer briefly."


def rag_questions(limit: int = 12) -> list[str]:
    rows = [json.loads(line) for line in (SHARED / "eval" / "questions.jsonl").read_text().splitlines()]
    return [row["question"] for row in rows if row["kind"] != "unanswerable"][:limit]


def bare_run(model: Any, tokenizer: Any, prompt: list[int], max_tokens: int, step: int) -> dict:
    """In-process mlx_lm.stream_generate, greedy, with the service's repetition penalty."""
    from mlx_lm import stream_generate
    from mlx_lm.sample_utils import make_logits_processors, make_sampler

    infer = get_settings().infer
    penalty = make_logits_processors(repetition_penalty=infer.repetition_penalty,
                                     repetition_context_size=infer.repetition_context)
    started, first, last = time.perf_counter(), None, None
    for response in stream_generate(model, tokenizer, prompt, max_tokens=max_tokens,
                                    sampler=make_sampler(temp=0.0), logits_processors=penalty,
                                    prefill_step_size=step):
        first = first or time.perf_counter()
        last = response
    assert first is not None and last is not None
    return {"ttft_s": first - started, "tok_s": last.generation_tps,
            "tokens": last.generation_tokens, "wall_s": time.perf_counter() - started}


class BareLlama:
    """llama-cpp-python's own `Llama` as its README sets it up (the service's GGUF and threads), in
    a process of its own like the services: beside MLX's BLAS threads it decoded at 1.7 tok/s."""

    def __init__(self, gguf: str, threads: int, batch: int, spin_count: int) -> None:
        env = dict(os.environ)
        env.setdefault("GOMP_SPINCOUNT", str(spin_count))  # as the service (model.llama_spin_count)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ops.bench.generate_runs", gguf, str(threads), str(batch)],
            cwd=PROJECT_ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run(self, prompt: list[int], max_tokens: int) -> dict:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps([prompt, max_tokens]) + "\n")
        self.process.stdin.flush()
        return dict(json.loads(self.process.stdout.readline()))

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def serve_bare_llama(gguf: str, threads: int, batch: int) -> None:
    """The BareLlama process: one JSON [prompt, max_tokens] per line in, one result per line out."""
    from llama_cpp import Llama

    infer = get_settings().infer
    llm = Llama(model_path=gguf, n_ctx=4096, n_threads=threads, n_threads_batch=threads,
                n_batch=batch, flash_attn=True, last_n_tokens_size=infer.repetition_context,
                verbose=False)
    for line in sys.stdin:
        prompt, max_tokens = json.loads(line)
        sys.stdout.write(json.dumps(bare_llama_run(llm, prompt, max_tokens,
                                                    infer.repetition_penalty)) + "\n")
        sys.stdout.flush()


def bare_llama_run(llm: Any, prompt: list[int], max_tokens: int, penalty: float) -> dict:
    """`Llama.create_completion` on token ids, greedy with the service's repetition penalty,
    streamed; the KV cache is reset first."""
    llm.reset()
    started, first, tokens = time.perf_counter(), None, 0
    for _ in llm.create_completion(prompt, max_tokens=max_tokens, temperature=0.0,
                                   repeat_penalty=penalty, stream=True):
        first = first or time.perf_counter()
        tokens += 1
    ended = time.perf_counter()
    assert first is not None
    decode = (tokens - 1) / (ended - first) if tokens > 1 else 0.0
    return {"ttft_s": first - started, "tok_s": decode, "tokens": tokens, "wall_s": ended - started}


def service_run(url: str, body: dict[str, Any]) -> dict:
    """POST /generate as SSE. `ttft_s` is the model's first token (the service's timings: retrieval
    and evidence, then the engine's), `seen_s` when the client got the first checked sentence
    (the lead is released sentence by sentence), `evidence_s` when it got the evidence."""
    started, seen, events, done = time.perf_counter(), {}, "", {}
    with httpx.stream("POST", f"{url}/generate", json=body, timeout=900) as response:
        if response.status_code != 200:
            raise RuntimeError(f"/generate answered {response.status_code}: {response.read()!r}")
        for line in response.iter_lines():
            if line.startswith("event:"):
                events = line[6:].strip()
                seen.setdefault(events, time.perf_counter() - started)
            elif line.startswith("data:") and events == "done":
                done = json.loads(line[5:])
    wall, timings = time.perf_counter() - started, done["timings"]
    model_ms = timings["retrieval_ms"] + timings["evidence_ms"] + timings["time_to_first_token_ms"]
    return {"ttft_s": model_ms / 1000, "seen_s": seen.get("token", wall),
            "evidence_s": seen.get("evidence"), "tok_s": timings["tokens_per_sec"],
            "tokens": done["usage"]["completion_tokens"],
            "prompt_tokens": done["usage"]["prompt_tokens"],
            "refused": done.get("refused", False), "wall_s": wall}


def concurrent_run(url: str, chats: int, max_tokens: int, temperature: float = 0.0) -> dict:
    """`chats` short chats at once; aggregate completion tok/s over the whole wall time."""
    body = {"question": CHAT, "mode": "ft", "max_tokens": max_tokens, "temperature": temperature}
    results: list[dict] = []
    threads = [threading.Thread(target=lambda: results.append(service_run(url, body)))
               for _ in range(chats)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    tokens = sum(r["tokens"] for r in results)
    return {"chats": chats, "tokens": tokens, "wall_s": wall, "agg_tok_s": tokens / wall}


def start_service(port: int, engine: str, retrieval_url: str | None,
                  settings: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    # the whole ~1.5k-token document travels as the question, so lift the question limit
    env = {**os.environ, "GENERATION_PORT": str(port), "MODEL__ENGINE": engine,
           "INFER__MAX_QUESTION_CHARS": "100000", "INFER__QUEUE_SIZE": "16", **(settings or {})}
    if retrieval_url:
        env["RETRIEVAL_URL"] = retrieval_url
    process = subprocess.Popen([sys.executable, "-m", "shared.serve", "generation"], cwd=PROJECT_ROOT,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not wait_ready(f"http://127.0.0.1:{port}", 180):
        process.kill()
        raise RuntimeError("generation service did not become ready")
    return process


def retrieval_ready(url: str | None) -> bool:
    """Whether a retrieval service with a non-empty index answers at url."""
    if not url:
        return False
    try:
        reply = httpx.post(f"{url}/search", json={"query": "onboard linux", "top_k": 1}, timeout=30)
        return reply.status_code == 200 and bool(reply.json()["hits"])
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    serve_bare_llama(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
