"""Instruction pairs from document structure: heading questions, table facts, cited RAG pairs."""

from __future__ import annotations

import random
import re

from services.trainer import pairs
from shared.schemas import Chunk


def chunk(text: str, path: list[str], url: str = "https://learn.example/a", position: int = 1,
          anchor: str | None = "sec") -> Chunk:
    return Chunk(id=f"{url}#{position}", page_id="p", url=url, title=path[0], heading_path=path,
                 anchor=anchor, position=position, text=text, embed_text=text, content_hash="c",
                 page_hash=url)


def test_task_headings_become_how_do_i_questions() -> None:
    question = pairs.heading_question("Controlled folder access", "Enable it with PowerShell", "x")
    assert question == "How do I enable it with PowerShell (Controlled folder access)?"
    assert pairs.heading_question("T", "Prerequisites", "x") == "What are the prerequisites for T?"
    assert pairs.heading_question("T", "Is it free?", "x") == "Is it free?"
    assert pairs.heading_question("T", "Portal steps", "1. Open it\n2. Go").startswith("How do I")
    assert "what should I know about licensing" in pairs.heading_question("T", "Licensing", "x")


def test_sections_not_worth_asking_give_no_question() -> None:
    long_text = "Useful text about the feature. " * 5
    assert pairs.section_question(chunk("too short", ["T", "Configure"])) is None
    assert pairs.section_question(chunk(long_text, ["T", "See also"])) is None
    assert pairs.section_question(chunk(long_text, ["T", "Configure it"])) is not None


def test_table_rows_become_fact_questions() -> None:
    table = ("| Setting | Default | Notes |\n| --- | --- | --- |\n| Cloud protection | On | needs "
             "internet |\n| Sample submission | Prompt | |")
    facts = pairs.table_facts(chunk(table, ["Antivirus", "Defaults"]), max_rows=5)
    assert len(facts) == 2
    question, answer = facts[0]
    assert '"Cloud protection"' in question and "Antivirus" in question
    assert answer == "For Cloud protection: Default: On; Notes: needs internet."
    assert pairs.table_facts(chunk(table, ["A", "B"]), max_rows=1)[1:] == []


def test_rag_pair_cites_the_number_of_the_gold_passage() -> None:
    gold = chunk("Turn on tamper protection in the portal. It blocks changes.", ["T", "Tamper"])
    others = [chunk(f"Other passage {i}.", ["O", "x"], url=f"https://o/{i}") for i in range(2)]
    for seed in range(6):
        system, user, answer = pairs.rag_pair(gold, "How?", others, random.Random(seed), 200)
        number = int(re.search(r"\[(\d)\]$", answer).group(1))  # type: ignore[union-attr]
        passage = user.split(f"[{number}] ", 1)[1]  # sources live in the last user turn
        assert passage.startswith("T > Tamper\nTurn on tamper protection")
        assert "Question: How?\n" in user and "[" not in system


def test_unanswerable_rag_pair_says_the_sources_do_not_cover_it() -> None:
    gold = chunk("Gold text here.", ["T", "S"])
    others = [chunk("Unrelated.", ["O", "x"], url="https://o/1")]
    system, user, answer = pairs.rag_pair(gold, "Q?", others, random.Random(1), 200,
                                          answerable=False)
    assert "Gold text" not in system + user and answer == pairs.NOT_COVERED


def test_clip_cuts_at_a_sentence() -> None:
    text = "First sentence here. Second sentence is longer than the limit allows."
    assert pairs.clip(text, 40) == "First sentence here."
