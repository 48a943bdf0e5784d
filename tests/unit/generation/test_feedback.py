"""The feedback store: answers recorded, votes stored and listed, unknown ids refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.generation.feedback import FeedbackStore
from shared.errors import NotFound

DONE = {"answer_id": "a" * 32, "mode": "rag", "text": "Use it [1].", "refused": False,
        "sources": [{"n": 1, "title": "T", "url": "https://x/y#z", "text": "long passage"}]}


def test_votes_are_stored_and_listed(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "feedback.sqlite")
    store.record("How?", DONE)
    assert store.votes(10) == []  # recorded, not voted
    row = store.vote(DONE["answer_id"], "down", "wrong command")
    assert (row["question"], row["vote"], row["comment"]) == ("How?", "down", "wrong command")
    assert row["sources"] == [{"n": 1, "title": "T", "url": "https://x/y#z"}]
    store.vote(DONE["answer_id"], "up", "")  # the last vote counts
    assert [r["vote"] for r in store.votes(10)] == ["up"] and store.votes(10, "down") == []
    store.close()
    assert FeedbackStore(tmp_path / "feedback.sqlite").votes(10)[0]["vote"] == "up"  # persisted


def test_a_vote_for_an_unknown_answer_is_404(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "feedback.sqlite")
    with pytest.raises(NotFound, match="answer_id"):  # fault: an id nobody recorded
        store.vote("b" * 32, "up", "")
