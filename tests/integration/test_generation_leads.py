"""Rag leads written side by side (both engines, the real model): one prompt computed for all
candidates, fewer under load, the same answer for a greedy request, and a client that leaves stops
every candidate."""

from __future__ import annotations

import logging
import time

import httpx
import pytest

from tests.integration import generation_kit as kit
from tests.integration.generation_stack import Stack, indexed, stack  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow


def test_rag_leads_are_written_side_by_side_on_one_prompt_computed_once(
        stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The lead candidates decode in one batch; the question's prompt is computed once and the
    other candidates restore it (every candidate reads all but its last token from the cache).
    Fault injected: the queue has room for one more request only; the answer takes it, and its
    other candidates are not turned away half-way through the answer."""
    monkeypatch.setattr(stack.settings.infer, "queue_size", 1)
    widest = kit.widest_batch(stack.engine, monkeypatch)
    caplog.set_level(logging.INFO, logger="services.generation")
    question = "Which PowerShell cmdlet turns on controlled folder access in audit mode?"
    done = stack.ask(question=question, mode="rag", max_tokens=24, temperature=0)
    candidates = stack.settings.infer.lead_candidates
    prompt = f"cached the KV of a {done['usage']['prompt_tokens'] - 1}-token prompt prefix"
    assert [r.getMessage() for r in caplog.records].count(prompt) == 1  # not once per candidate
    assert done["lead_candidates"] == candidates >= 2 and widest[0] >= 2
    assert done["usage"]["cached_tokens"] == done["usage"]["prompt_tokens"] - 1
    assert stack.engine.pending == 0  # all three accounted for
    again = stack.ask(question=question, mode="rag", max_tokens=24, temperature=0)
    assert again["text"] == done["text"]  # greedy: the sampled leads have fixed seeds
    # under load (fault injected: the batch's other rows are taken) an answer writes one lead
    monkeypatch.setattr(stack.engine, "pending", stack.settings.infer.batch_size - 1)
    monkeypatch.setattr(stack.settings.infer, "queue_size", 8)
    assert stack.ask(question=question, mode="rag", max_tokens=24)["lead_candidates"] == 1


def test_a_client_that_leaves_a_rag_answer_stops_every_lead_candidate(
        stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    """Fault injected: the client leaves after the evidence, while the leads are being written.
    The engine must stop them (its log says so): three 64-token leads end on their own within
    the deadline on llama.cpp, so an idle engine alone would not show it."""
    caplog.set_level(logging.INFO, logger="services.generation")
    body = {"question": kit.QUESTION, "mode": "rag", "max_tokens": 400, "temperature": 0}
    with httpx.stream("POST", stack.generation.url + "/generate", json=body, timeout=300) as reply:
        events = kit.sse(reply)
        assert next(events)[0] == "sources" and next(events)[0] == "evidence"
        deadline = time.monotonic() + 30
        while not stack.engine.backend.rows() and time.monotonic() < deadline:
            time.sleep(0.01)  # wait until the engine thread decodes the candidates
    deadline = time.monotonic() + 3
    while (stack.engine.busy or not stopped_by_client(caplog)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not stack.engine.busy
    assert stopped_by_client(caplog), "the leads ran to their end: nothing cancelled them"


def stopped_by_client(caplog: pytest.LogCaptureFixture) -> bool:
    """The engine thread said it stopped generations because their client left."""
    return any(r.name.endswith(("llama_slots", "batching")) and "the client went away"
               in r.getMessage() for r in caplog.records)
