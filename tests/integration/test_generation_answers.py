"""Answers over the real stack (both engines): evidence verbatim in the final text, feedback
stored, and generated sentences checked before they are final (a scripted stand-in engine)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration import generation_kit as kit
from tests.integration.generation_stack import Stack, indexed, stack  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow


def test_evidence_is_verbatim_from_the_passages_and_in_the_final_text(stack: Stack) -> None:
    done = stack.ask(question=kit.QUESTION, mode="rag")
    passages = {s["n"]: s["text"] for s in done["sources"]}
    assert done["evidence"]
    for item in done["evidence"]:
        body = item["text"].splitlines()[-1] if item["kind"] == "row" else item["text"]
        assert body in passages[item["n"]]  # never rewritten
        assert item["url"].startswith(done["sources"][item["n"] - 1]["url"].split("#")[0])
        assert body.splitlines()[0].strip() in done["text"]
    quoted = "\n".join(item["text"] for item in done["evidence"])
    assert "Set-MpPreference -EnableControlledFolderAccess" in quoted  # the documented cmdlet
    assert set(done["cited"]) >= {item["n"] for item in done["evidence"]}
    links = [source["url"] for source in done["sources"]]
    assert len(set(links)) == len(links)  # a section's chunks are one source


def test_feedback_is_stored_listed_and_checked(stack: Stack) -> None:
    done = stack.ask(question=kit.QUESTION, mode="rag")
    vote = stack.post("/feedback", json={"answer_id": done["answer_id"], "vote": "down",
                                         "comment": "missing the registry path"})
    assert vote.status_code == 200 and vote.json()["question"] == kit.QUESTION
    listed = httpx.get(stack.generation.url + "/feedback", params={"vote": "down"}).json()
    assert listed["items"][0]["comment"] == "missing the registry path"
    unknown = stack.post("/feedback", json={"answer_id": "0" * 32, "vote": "up"})
    assert unknown.status_code == 404  # fault: a vote for an answer nobody gave
    huge = stack.post("/feedback", json={"answer_id": done["answer_id"], "vote": "up",
                                         "comment": "x" * 5000})
    assert huge.status_code == 422 and "comment" in huge.json()["detail"]  # fault: oversized


class ScriptedEngine:
    """A stand-in for the model (mechanics only): streams a fixed text in small pieces."""

    def __init__(self, real: Any, text: str) -> None:
        self.real, self.text, self.stopped_early = real, text, True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def stream(self, *_: Any, **__: Any) -> Any:
        from services.generation.engine import Finished, Piece

        for i in range(0, len(self.text), 4):
            yield Piece(self.text[i:i + 4])
        self.stopped_early = False
        yield Finished("stop", 1, 0, len(self.text) // 4, 0.0, 1.0, 10.0)


@pytest.mark.parametrize(("script", "kept", "gone", "stopped"), [
    # fault: an invented sentence between two documented ones is dropped
    ("Run Set-MpPreference -EnableControlledFolderAccess AuditMode in PowerShell. "
     "The Contoso agent needs port 4711 open on every router. ",
     "Set-MpPreference -EnableControlledFolderAccess AuditMode", "Contoso", None),
    # fault: a model that loops is cut at the repeat
    ("Controlled folder access protects folders from ransomware. " * 6,
     "Controlled folder access protects folders", None, "repeated"),
])
def test_generated_sentences_are_checked_before_they_are_final(
        stack: Stack, monkeypatch: pytest.MonkeyPatch, script: str, kept: str, gone: str | None,
        stopped: str | None) -> None:
    from services.generation import answer

    scripted = ScriptedEngine(stack.engine, script)
    real_events = answer.answer_events
    monkeypatch.setattr(answer, "answer_events",
                        lambda _engine, *args: real_events(scripted, *args))
    done = stack.ask(question=kit.QUESTION, mode="rag")
    assert kept in done["lead"] and done["stopped"] == stopped
    if gone:
        assert gone not in done["text"] and any(gone in d["text"] for d in done["dropped"])
    else:
        assert done["lead"].count("Controlled folder access protects") == 1


class CandidateEngine(ScriptedEngine):
    """A stand-in for the model (mechanics only): each generation streams the next script."""

    def __init__(self, real: Any, scripts: list[str]) -> None:
        super().__init__(real, "")
        self.scripts, self.calls = scripts, 0

    async def stream(self, *args: Any, **kwargs: Any) -> Any:
        self.text, self.calls = self.scripts[self.calls % len(self.scripts)], self.calls + 1
        async for item in super().stream(*args, **kwargs):
            yield item


def test_the_best_supported_of_the_lead_candidates_is_shown(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault injected: the greedy lead invents a fact; a sampled one keeps to the documentation.
    The answer shows the supported one and drops nothing of it; without candidates the invented
    sentence is dropped and the lead keeps only what the sources hold."""
    from services.generation import answer

    invented = "The Contoso agent needs port 4711 open on every router. "
    documented = "Run Set-MpPreference -EnableControlledFolderAccess AuditMode in PowerShell. "
    scripted = CandidateEngine(stack.engine, [invented + documented, documented, invented])
    real_events = answer.answer_events
    monkeypatch.setattr(answer, "answer_events",
                        lambda _engine, *args: real_events(scripted, *args))
    done = stack.ask(question=kit.QUESTION, mode="rag")
    assert scripted.calls == 3 and done["lead_candidates"] == 3
    assert "AuditMode" in done["lead"] and not done["dropped"]  # the second: all supported
    monkeypatch.setattr(stack.settings.infer, "lead_candidates", 1)
    scripted.calls = 0
    single = stack.ask(question=kit.QUESTION, mode="rag")
    assert scripted.calls == 1 and single["lead_candidates"] == 1
    assert "AuditMode" in single["lead"] and "Contoso" in single["dropped"][0]["text"]
