"""Instruction pairs derived from the document structure: heading questions, table facts, cited RAG.

Every function here is pure: the same chunk (and the same seeded `random.Random`) gives the same pair.
"""

from __future__ import annotations

import random
import re

from shared.prompts import rag_messages, source_header
from shared.schemas import Chunk

PATH_SEPARATOR = " › "
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9`\"'(\[])")
TABLE_ROW = re.compile(r"^\|(.+)\|\s*$")
PROCEDURE = re.compile(r"^\s*1\.\s", re.MULTILINE)
NOT_COVERED = ("The documentation passages I have do not cover this, so I can't answer it "
               "from them.")
# headings that start with one of these read as a task: "How do I <heading>?"
TASK_VERBS = {
    "add", "allow", "apply", "assign", "block", "change", "check", "choose", "configure", "confirm",
    "connect", "create", "define", "delete", "deploy", "disable", "download", "edit", "enable",
    "exclude", "export", "find", "get", "import", "install", "investigate", "manage", "migrate",
    "monitor", "offboard", "onboard", "open", "prevent", "remove", "report", "reset", "restore",
    "review", "run", "schedule", "search", "select", "set", "specify", "start", "stop", "submit",
    "test", "troubleshoot", "turn", "uninstall", "update", "upgrade", "use", "validate", "verify",
    "view",
}
SKIP_HEADINGS = {"see also", "related articles", "related content", "related topics", "next steps",
                 "next step", "feedback", "in this article"}
MIN_ANSWER_CHARS = 80
ABOUT_HEADINGS = {"prerequisites", "requirements", "before you begin", "overview", "limitations",
                  "known issues", "supported operating systems", "system requirements"}


def section_title(chunk: Chunk) -> str:
    """The heading path below the page title, or the page title for an intro chunk."""
    return PATH_SEPARATOR.join(chunk.heading_path[1:]) or chunk.title


def clip(text: str, max_chars: int) -> str:
    """Cut at the last sentence (else word) boundary before max_chars."""
    text = text.strip()
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    sentences = [m.end() for m in re.finditer(r"[.!?](?=\s)", cut)]
    if sentences and sentences[-1] > max_chars // 3:
        return cut[:sentences[-1]]
    return cut.rsplit(" ", 1)[0] + " …"


def heading_question(title: str, heading: str, text: str) -> str:
    """Turn a section heading into the question the section answers."""
    heading = heading.strip().rstrip(".:")
    words = heading.split()
    first = words[0].lower() if words else ""
    if heading.endswith("?"):
        return heading
    if first in TASK_VERBS:
        return f"How do I {first}{heading[len(words[0]):]} ({title})?"
    if heading.lower() in ABOUT_HEADINGS:
        return f"What are the {heading.lower()} for {title}?"
    if PROCEDURE.search(text):
        return f"How do I do this in {title}: {heading}?"
    return f"In {title}, what should I know about {heading[0].lower() + heading[1:]}?"


def section_question(chunk: Chunk) -> str | None:
    """The question a chunk's section answers, or None when it answers nothing worth asking."""
    if len(chunk.text.strip()) < MIN_ANSWER_CHARS:
        return None
    if chunk.heading_path and chunk.heading_path[-1].strip().lower() in SKIP_HEADINGS:
        return None
    if len(chunk.heading_path) < 2:
        return f"What is {chunk.title} about?" if chunk.position == 0 else None
    return heading_question(chunk.title, chunk.heading_path[-1], chunk.text)


def _cells(line: str) -> list[str]:
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line.strip()[1:-1])]


def table_facts(chunk: Chunk, max_rows: int) -> list[tuple[str, str]]:
    """One (question, answer) pair per table row: 'what is <column> for <row>?'."""
    rows = [_cells(line) for line in chunk.text.splitlines() if TABLE_ROW.match(line)]
    rows = [row for row in rows if not all(set(cell) <= set("-: ") for cell in row)]
    if len(rows) < 2 or len(rows[0]) < 2:
        return []
    header, facts = rows[0], []
    for row in rows[1:1 + max_rows]:
        if not row[0] or not any(row[1:]):
            continue
        values = [f"{name or 'value'}: {value}" for name, value in zip(header[1:], row[1:]) if value]
        question = (f"In {chunk.title} ({section_title(chunk)}), what does the table say about "
                    f"{header[0] or 'the row'} \"{row[0]}\"?")
        facts.append((question, f"For {row[0]}: " + "; ".join(values) + "."))
    return facts


def summary(text: str, max_chars: int = 320) -> str:
    """The first sentences of a passage: the short answer a cited RAG reply gives."""
    plain = " ".join(line.strip("#>-* ") for line in text.splitlines() if line.strip())
    return clip(plain, max_chars)


def rag_prompt(system: str, passages: list[Chunk], question: str,
               passage_chars: int) -> tuple[str, str]:
    """(system message, user message) with the numbered passages, in the layout the generation
    service serves (`shared.prompts`), so `rag_ft` is trained on the prompt it will be served."""
    blocks = [(source_header(n, p.heading_path, p.title), clip(p.text, passage_chars))
              for n, p in enumerate(passages, start=1)]
    messages = rag_messages(system, blocks, [], question)
    return messages[0]["content"], messages[-1]["content"]


def rag_pair(chunk: Chunk, question: str, distractors: list[Chunk], rng: random.Random,
             passage_chars: int, answerable: bool = True,
             system: str = "") -> tuple[str, str, str]:
    """(system, user, cited answer): the gold passage at a random number n and an answer citing [n];
    without the gold passage the answer says the sources do not cover it."""
    if not answerable:
        return (*rag_prompt(system, distractors, question, passage_chars), NOT_COVERED)
    passages = list(distractors)
    number = rng.randint(1, len(passages) + 1)
    passages.insert(number - 1, chunk)
    sentences = SENTENCE_END.split(summary(chunk.text))
    answer = " ".join(sentences[:-1] + [sentences[-1].rstrip() + f" [{number}]"])
    return (*rag_prompt(system, passages, question, passage_chars), answer)
