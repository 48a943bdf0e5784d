"""OpenAI request and response shapes, without a model."""

from __future__ import annotations

import pytest

from services.generation import openai_api
from services.generation.answer import Unprocessable
from shared.errors import NotFound

BASE = "https://learn.microsoft.com/en-us/defender-endpoint/"


def request(**fields: object) -> openai_api.ChatCompletionRequest:
    body = {"model": "mde-rag", "messages": [{"role": "user", "content": "hi"}], **fields}
    return openai_api.ChatCompletionRequest.model_validate(body)


def test_model_picks_the_mode_and_messages_become_history() -> None:
    body = request(model="mde-rag_ft", max_tokens=12, messages=[
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "How do I onboard Linux?"},
        {"role": "assistant", "content": "Use the script [1].\n\nSources:\n[1] Onboard: https://x"},
        {"role": "user", "content": [{"type": "text", "text": "and on macOS?"}]}])
    generate = openai_api.to_generate(body)
    assert generate.mode == "rag_ft" and generate.question == "and on macOS?"
    assert [t.content for t in generate.history] == ["How do I onboard Linux?", "Use the script [1]."]
    assert generate.max_tokens == 12


def test_unknown_model_and_trailing_answer_are_refused() -> None:
    with pytest.raises(NotFound):
        openai_api.to_generate(request(model="gpt-4"))  # fault: unknown model
    with pytest.raises(Unprocessable):  # fault: nothing to answer
        openai_api.to_generate(request(messages=[{"role": "assistant", "content": "hello"}]))


def test_completion_carries_sources_and_evidence_in_fields_and_content() -> None:
    final = "Use it [1].\n\nFrom the documentation:\n\n> Run it. [1]\n\nSources:\n[1] T > S: "
    done = {"text": final + BASE + "t#s", "finish_reason": "stop", "refused": False,
            "evidence": [{"n": 1, "kind": "sentence", "text": "Run it.", "url": BASE + "t#s"}],
            "sources": [{"n": 1, "title": "T", "heading_path": ["T", "S"], "url": BASE + "t#s",
                         "score": 1.0}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 4}}
    body = openai_api.completion(done, "mde-rag")
    message = body["choices"][0]["message"]
    assert message["content"] == done["text"]  # the final answer, source list included once
    assert message["evidence"][0]["text"] == "Run it." and body["evidence"] == message["evidence"]
    assert message["sources"][0]["n"] == 1 and body["sources"] == message["sources"]
    assert body["usage"]["total_tokens"] == 14


def test_a_streamed_lead_and_the_rest_make_the_final_text() -> None:
    """The lead arrived with its line break; the rest of the answer must not add it again."""
    text = "- Defender for Endpoint on Linux [2]\n\nFrom the documentation:\n\n> quoted [1]"
    for streamed in ("- Defender for Endpoint on Linux [2]\n",
                     "- Defender for Endpoint on Linux [2]", ""):
        assert streamed + openai_api.rest_of(text, streamed) == text
    assert openai_api.rest_of(text, "another lead") == "\n\n" + text  # a lead the final text does not hold
