"""Generation with the real model over a real retrieval service (an indexed slice of the docsite)
and a tiny LoRA adapter: streaming order, modes, reload, disconnect, refusal, OpenAI API, errors.
Every test runs on both engines (llama.cpp, MLX): nothing above the engine may tell them apart."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from tests.conftest import free_port
from tests.integration import generation_kit as kit
from tests.integration.generation_stack import (  # noqa: F401 - fixtures
    SHORT,
    Stack,
    indexed,
    stack,
)

pytestmark = pytest.mark.slow


def test_rag_streams_sources_then_evidence_then_tokens_then_done(stack: Stack) -> None:
    body = {"question": kit.QUESTION, "mode": "rag", "max_tokens": 48, "temperature": 0}
    arrived: dict[str, float] = {}
    events = []
    with httpx.stream("POST", stack.generation.url + "/generate", json=body, timeout=300) as reply:
        assert reply.headers["content-type"].startswith("text/event-stream")
        for name, data in kit.sse(reply):
            arrived.setdefault(name, time.monotonic())
            events.append((name, data))
    names = [name for name, _ in events]
    assert names[:2] == ["sources", "evidence"] and names[-1] == "done"
    assert set(names[2:-1]) <= {"token"}
    sources, evidence, done = events[0][1]["sources"], events[1][1]["evidence"], events[-1][1]
    assert sources and sources[0]["n"] == 1 and "controlled-folder" in sources[0]["url"]
    assert {"title", "heading_path", "url", "score"} <= set(sources[0])
    # the documented answer arrives before the model's first token
    assert evidence and arrived["evidence"] <= arrived.get("token", arrived["done"])
    assert done["lead"] == "".join(d["text"] for n, d in events if n == "token").strip()
    assert done["text"].startswith(done["lead"]) and "\n\nSources:\n[1] " in done["text"]
    assert done["evidence"] == evidence and done["answer_id"]
    assert done["weights"]["kind"] == "base" and done["refused"] is False
    assert done["timings"]["retrieval_ms"] > 0 and done["usage"]["completion_tokens"] <= 48
    assert done["usage"]["cached_tokens"] > 0 or done["stopped"]  # the system prompt's KV cache


def test_off_topic_question_is_refused_with_nearest_pages(stack: Stack) -> None:
    done = stack.ask(question=kit.OFF_TOPIC, mode="rag")
    assert done["refused"] is True and done["finish_reason"] == "refused"
    assert "does not cover" in done["text"] and done["usage"]["completion_tokens"] == 0
    assert done["sources"] and done["refusal_reason"]


def test_an_on_topic_question_after_a_price_the_pages_never_state_is_refused(stack: Stack) -> None:
    """The topic is indexed (controlled folder access), its price is not: retrieval alone would
    answer, the answer type check refuses with the reason."""
    question = "How much does controlled folder access cost per device per month in dollars?"
    done = stack.ask(question=question, mode="rag")
    assert done["refused"] is True and "asks for a price" in done["refusal_reason"]
    assert "controlled-folder" in done["sources"][0]["url"]  # the nearest page is the topic's


def test_a_question_about_a_sibling_product_is_refused(stack: Stack) -> None:
    """Sensor, ports and domain controllers are indexed words; Defender for Identity is not the
    subject of any indexed section."""
    question = "What ports does the Defender for Identity sensor need open on domain controllers?"
    done = stack.ask(question=question, mode="rag")
    assert done["refused"] is True and "about Defender for Identity" in done["refusal_reason"]


def test_modes_without_an_adapter_use_the_base_weights(stack: Stack) -> None:
    model = httpx.get(stack.generation.url + "/model").json()
    assert {model[mode]["kind"] for mode in ("rag", "ft", "rag_ft")} == {"base"}
    assert model["default_mode"] == "rag"
    engine = model["engine"]  # which engine, its version and threads
    assert engine["engine"] in ("llama_cpp", "mlx") and engine["version"]
    assert engine["threads"] is None or engine["threads"] >= 1
    for mode in ("ft", "rag_ft"):
        assert stack.ask(question=kit.QUESTION, mode=mode)["weights"]["kind"] == "base"


def test_published_adapter_serves_ft_while_rag_stays_on_base(stack: Stack) -> None:
    try:
        model = stack.publish("v1")
        assert model["changed"] is True and model["default_mode"] == "rag_ft"
        assert model["rag"]["kind"] == "base"
        assert (model["ft"]["kind"], model["ft"]["version"]) == ("adapter", "v1")
        assert model["ft"]["metrics"] == {"heldout_ppl": 9.5}
        assert stack.ask(question=kit.QUESTION, mode="rag")["weights"]["kind"] == "base"
        for mode in ("ft", "rag_ft"):
            assert stack.ask(question=kit.QUESTION, mode=mode)["weights"]["version"] == "v1"
        default = stack.ask(question=kit.QUESTION)
        assert default["mode"] == "rag_ft" and default["weights"]["kind"] == "adapter"
        assert stack.post("/reload").json()["changed"] is False  # same version: nothing to load
    finally:
        stack.unpublish()


def test_reload_during_a_stream_finishes_on_the_old_weights(stack: Stack) -> None:
    stack.publish("v1")
    try:
        body = {"question": "What is controlled folder access?", "mode": "ft", "max_tokens": 48,
                "temperature": 0}
        with httpx.stream("POST", stack.generation.url + "/generate", json=body, timeout=300) as reply:
            events = kit.sse(reply)
            assert next(events)[0] == "sources" and next(events)[0] == "token"
            reloaded = stack.publish("v2")  # while the answer is still streaming
            done = next(data for name, data in events if name == "done")
        assert reloaded["ft"]["version"] == "v2"
        assert done["weights"]["version"] == "v1" and done["usage"]["completion_tokens"] > 1
        assert stack.ask(question=kit.QUESTION, mode="ft")["weights"]["version"] == "v2"
    finally:
        stack.unpublish()


def test_a_client_that_disconnects_stops_its_generation(stack: Stack) -> None:
    body = {"question": "Explain controlled folder access in detail.", "mode": "ft",
            "max_tokens": 400, "temperature": 0}
    with httpx.stream("POST", stack.generation.url + "/generate", json=body, timeout=300) as reply:
        events = kit.sse(reply)
        assert next(events)[0] == "sources" and next(events)[0] == "token"
    deadline = time.monotonic() + 10  # 400 tokens would take far longer
    while stack.engine.busy and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not stack.engine.busy


def test_concurrent_requests_decode_together(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    widest = kit.widest_batch(stack.engine, monkeypatch)
    results: list[dict[str, Any]] = []
    questions = ["What is controlled folder access?", "What is a Linux exclusion?",
                 "What is block at first sight?"]
    threads = [threading.Thread(target=lambda q=q: results.append(
        stack.ask(question=q, mode="ft", max_tokens=24))) for q in questions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert len(results) == 3 and all(r["usage"]["completion_tokens"] > 0 for r in results)
    assert widest[0] >= 2


def test_openai_client_gets_answers_with_sources(stack: Stack) -> None:
    from openai import NotFoundError, OpenAI

    client = OpenAI(base_url=stack.generation.url + "/v1", api_key="unused", max_retries=0)
    assert {m.id for m in client.models.list()} == {"mde-rag", "mde-ft", "mde-rag_ft"}
    messages = [{"role": "user", "content": kit.QUESTION}]
    reply = client.chat.completions.create(model="mde-rag", messages=messages, max_tokens=16,
                                           temperature=0)
    message = reply.choices[0].message
    assert "\n\nSources:\n[1] " in message.content and reply.usage.completion_tokens <= 16
    assert message.content.count("\n\nSources:\n") == 1  # the source list once
    assert message.model_extra["sources"][0]["n"] == 1
    evidence = message.model_extra["evidence"]
    assert evidence and all(item["text"].splitlines()[0] in message.content for item in evidence)
    chunks = list(client.chat.completions.create(model="mde-rag", messages=messages, max_tokens=16,
                                                 temperature=0, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "\n\nSources:\n[1] " in text and chunks[-1].choices[0].finish_reason in ("stop", "length")
    assert chunks[-1].model_extra["sources"][0]["url"].startswith("https://")
    assert chunks[-1].model_extra["evidence"] and "From the documentation:" in text
    with pytest.raises(NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=messages)  # fault: unknown model


def test_busy_not_ready_and_retrieval_down(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    body = {"question": kit.QUESTION, "mode": "rag", **SHORT}
    monkeypatch.setattr(stack.engine, "pending", stack.settings.infer.queue_size)  # fault: full
    busy = stack.post("/generate", json=body)
    assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
    monkeypatch.setattr(stack.engine, "pending", 0)
    retrieval = stack.generation.app.state.retrieval
    monkeypatch.setattr(retrieval.client, "base_url", f"http://127.0.0.1:{free_port()}")
    down = stack.post("/generate", json=body)  # fault: retrieval is not running
    assert down.status_code == 502 and "retrieval" in down.json()["detail"]
    monkeypatch.setattr(stack.engine, "weights", None)  # fault: model still loading
    loading = stack.post("/generate", json=body)
    assert loading.status_code == 503 and loading.headers["retry-after"] == "5"


@pytest.mark.parametrize(("body", "named"), [
    ({"question": "x" * 5000, "mode": "rag"}, "question"),          # fault: question too long
    ({"question": "hi", "max_tokens": 100000}, "max_tokens"),       # fault: over the cap
    ({"question": "hi", "top_k": 0}, "top_k"),                      # fault: top_k below 1
])
def test_limits_are_422_naming_the_field(stack: Stack, body: dict, named: str) -> None:
    reply = stack.post("/generate", json=body)
    assert reply.status_code == 422 and named in reply.json()["detail"]


def run_engine(stack: Stack, prompt: list[int], sampling: Any,
               prefix: tuple[int, ...] = ()) -> tuple[str, Any]:
    """Text and Finished of one generation straight through the engine (greedy)."""
    import asyncio

    from services.generation.engine import Piece

    weights = stack.engine.ready().for_mode("rag")

    async def generate() -> tuple[str, Any]:
        pieces = []
        async for item in stack.engine.stream(weights, prompt, sampling, prefix):
            if not isinstance(item, Piece):
                return "".join(pieces), item
            pieces.append(item.text)
        raise AssertionError("no Finished event")

    return asyncio.run(generate())


def test_the_prefix_cache_does_not_change_the_answer(stack: Stack) -> None:
    """The system prompt's KV, computed once and restored, gives the tokens a full prefill gives."""
    from services.generation.pipeline import render
    from services.generation.engine import Sampling

    weights = stack.engine.ready().for_mode("rag")
    system = "You answer questions about Microsoft Defender for Endpoint in one sentence."
    messages = [{"role": "system", "content": system},
                {"role": "user", "content": "What is controlled folder access?"}]
    prompt, prefix = render(weights, messages, system)
    sampling = Sampling(32, 0.0, 1.0)
    plain, uncached = run_engine(stack, prompt, sampling)
    filled, first = run_engine(stack, prompt, sampling, prefix)
    restored, second = run_engine(stack, prompt, sampling, prefix)
    assert uncached.cached_tokens == 0 and first.cached_tokens == second.cached_tokens == len(prefix)
    assert plain == filled == restored and plain


def test_repetition_penalty_is_honoured(stack: Stack) -> None:
    """Both engines apply Sampling.repetition_penalty over recent tokens (1.0 = off)."""
    from services.generation.engine import Sampling

    weights = stack.engine.ready().for_mode("rag")
    messages = [{"role": "user", "content": "Say the word apple twenty times."}]
    prompt = list(weights.tokenizer.apply_chat_template(messages, add_generation_prompt=True))
    plain, _ = run_engine(stack, prompt, Sampling(48, 0.0, 1.0, 1.0, 64))
    penalised, finished = run_engine(stack, prompt, Sampling(48, 0.0, 1.0, 1.8, 64))
    assert penalised != plain and finished.completion_tokens > 0  # greedy: only the penalty differs


def test_logit_bias_reaches_the_engine(stack: Stack) -> None:
    """Both engines add Sampling.logit_bias (the lead's lean towards the evidence's tokens) to the
    logits: biased hard enough, one token is all the model says."""
    from services.generation.engine import Sampling

    weights = stack.engine.ready().for_mode("rag")
    messages = [{"role": "user", "content": "What is controlled folder access?"}]
    prompt = list(weights.tokenizer.apply_chat_template(messages, add_generation_prompt=True))
    [apple] = weights.tokenizer.encode(" apple")  # one token in SmolLM2's vocabulary
    plain, _ = run_engine(stack, prompt, Sampling(12, 0.0, 1.0))
    biased, finished = run_engine(stack, prompt, Sampling(12, 0.0, 1.0, logit_bias={apple: 40.0}))
    assert "apple" not in plain
    assert biased.split() == ["apple"] * 12 and finished.completion_tokens == 12


def test_the_follow_bias_reaches_the_engine(stack: Stack) -> None:
    """Both engines add Sampling.follow_bias to the tokens that follow the last generated one in
    the evidence: "apple" leads, "pie" follows it there, so the model says "apple pie" over and
    over (and never "pie" first: the first token has nothing before it)."""
    from services.generation.engine import Sampling

    weights = stack.engine.ready().for_mode("rag")
    messages = [{"role": "user", "content": "What is controlled folder access?"}]
    prompt = list(weights.tokenizer.apply_chat_template(messages, add_generation_prompt=True))
    [apple], [pie] = weights.tokenizer.encode(" apple"), weights.tokenizer.encode(" pie")
    sampling = Sampling(12, 0.0, 1.0, logit_bias={apple: 40.0}, follow={apple: (pie,)},
                        follow_bias=80.0)
    text, finished = run_engine(stack, prompt, sampling)
    assert text.split() == ["apple", "pie"] * 6 and finished.completion_tokens == 12
    sampling.follow_bias = 0.0  # off: the follow map alone changes nothing
    assert run_engine(stack, prompt, sampling)[0].split() == ["apple"] * 12


def test_the_repetition_penalty_looks_at_the_answer_not_the_prompt(stack: Stack) -> None:
    """The evidence stands right before the lead and the lead should copy its words: the penalty
    is for the model repeating itself. Fault injected: a prompt whose answer starts with its own
    words, under a heavy penalty; three distinct new tokens must be the unpenalised ones."""
    from services.generation.engine import Sampling

    weights = stack.engine.ready().for_mode("rag")
    messages = [{"role": "user", "content": "Copy this line exactly: Controlled folder access "
                                            "protects folders. Controlled folder access"}]
    prompt = list(weights.tokenizer.apply_chat_template(messages, add_generation_prompt=True))
    plain, _ = run_engine(stack, prompt, Sampling(3, 0.0, 1.0))
    penalised, _ = run_engine(stack, prompt, Sampling(3, 0.0, 1.0, 2.0, 64))
    copied = [word for word in plain.lower().split() if word in messages[0]["content"].lower()]
    assert len(set(plain.split())) == 3 and len(copied) >= 2  # it copies (penalised on the prompt:
    assert penalised == plain                                  # "This is the", not "This line is")
