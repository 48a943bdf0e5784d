"""A source passage cut into the pieces an answer can quote: sentences, list items, numbered steps,
table rows (with their header) and whole code blocks, each verbatim and in document order.

Passages are the indexer's Markdown: fenced code, `|` table lines, `-`/`1.` list lines, `#` headings.
A passage that starts inside a sentence (the overlap carried over from the previous chunk) loses that
fragment; headings are not units but the context of the units under them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FENCE = re.compile(r"^\s*```")
HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
TABLE_LINE = re.compile(r"^\s*\|.*\|\s*$")
SEPARATOR = re.compile(r"^\s*\|[\s:|-]+\|\s*$")
BULLET = re.compile(r"^\s*[-*+]\s+\S")
STEP = re.compile(r"^\s*\d{1,2}[.)]\s+\S")
SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[A-Z0-9`\"'(\[])")
ABBREVIATION = re.compile(r"\b(?:e\.g|i\.e|etc|vs|Inc|No|Fig|[a-z])\.$", re.IGNORECASE)
NOTE_LABEL = re.compile(r"^(important|note|tip|caution|warning):", re.IGNORECASE)
APPLIES_TO = re.compile(r"^applies to\b\W*$", re.IGNORECASE)
PLATFORMS = re.compile(r"^platforms\W*$", re.IGNORECASE)
MAX_ITEM_CHARS = 500  # a longer list item is quoted sentence by sentence


@dataclass(frozen=True)
class Unit:
    kind: str  # sentence | item | step | row | code
    text: str  # verbatim; a row is its table's header, separator and the row
    heading: str  # the nearest heading above it inside the passage ("" when none)
    position: int  # order inside the passage
    block: int  # units of one list, table, paragraph or code block share it
    language: str = ""  # a code block's fence language
    ends_with_colon: bool = False  # introduces what follows ("run the following command:")


def split_sentences(text: str) -> list[str]:
    """Sentences of a paragraph; abbreviations such as `e.g.` do not end one."""
    pieces = [piece.strip() for piece in SENTENCE_END.split(text.strip()) if piece.strip()]
    merged: list[str] = []
    for piece in pieces:
        if merged and (ABBREVIATION.search(merged[-1]) or len(merged[-1]) <= 3):
            merged[-1] = f"{merged[-1]} {piece}"  # "e.g." and "a." do not end a sentence
        else:
            merged.append(piece)
    return merged


class _Builder:
    def __init__(self) -> None:
        self.units: list[Unit] = []
        self.heading = ""
        self.block = 0

    def new_block(self) -> None:
        self.block += 1

    def add(self, kind: str, text: str, language: str = "") -> None:
        text = text.strip("\n")
        if text.strip():
            self.units.append(Unit(kind, text, self.heading, len(self.units), self.block,
                                   language, text.rstrip().endswith(":")))

    def paragraph(self, lines: list[str]) -> None:
        self.new_block()
        for sentence in split_sentences(" ".join(line.strip() for line in lines)):
            self.add("sentence", sentence)

    def item(self, kind: str, lines: list[str]) -> None:
        last = self.units[-1] if self.units else None
        if not (last and last.block == self.block and last.kind in ("item", "step")):
            self.new_block()  # the first item of a list (blank lines between items are fine)
        text = "\n".join(lines)
        if len(text) <= MAX_ITEM_CHARS:
            self.add(kind, text)
        else:
            for sentence in split_sentences(" ".join(line.strip() for line in lines)):
                self.add(kind, sentence)


def split_units(passage: str) -> list[Unit]:
    """The quotable units of one passage, in order."""
    builder = _Builder()
    lines = passage.splitlines()
    i = 0
    while i < len(lines):
        i = _consume(lines, i, builder)
    return _without_applies_to(_drop_leading_fragment(builder.units, passage))


def _consume(lines: list[str], i: int, builder: _Builder) -> int:
    """Read one block starting at line i into the builder; return the next line's index."""
    line = lines[i]
    if not line.strip():
        return i + 1
    if FENCE.match(line):
        return _code(lines, i, builder)
    if heading := HEADING.match(line):
        builder.heading = heading.group(2).strip()
        builder.new_block()
        return i + 1
    if TABLE_LINE.match(line):
        return _table(lines, i, builder)
    if BULLET.match(line) or STEP.match(line):
        kind = "step" if STEP.match(line) else "item"
        end = i + 1
        while end < len(lines) and lines[end].startswith((" ", "\t")) \
                and lines[end].strip() and not _starts_block(lines[end]):
            end += 1  # continuation lines of the same item
        builder.item(kind, lines[i:end])
        return end
    end = i + 1
    while end < len(lines) and lines[end].strip() and not _starts_block(lines[end]):
        end += 1
    builder.paragraph(lines[i:end])
    return end


def _starts_block(line: str) -> bool:
    return bool(FENCE.match(line) or HEADING.match(line) or TABLE_LINE.match(line)
                or BULLET.match(line) or STEP.match(line))


def _code(lines: list[str], i: int, builder: _Builder) -> int:
    language = lines[i].strip().strip("`").strip()
    end = i + 1
    while end < len(lines) and not FENCE.match(lines[end]):
        end += 1
    builder.new_block()
    builder.add("code", "\n".join(lines[i + 1:end]), language)
    return end + 1


def _table(lines: list[str], i: int, builder: _Builder) -> int:
    end = i
    while end < len(lines) and TABLE_LINE.match(lines[end]):
        end += 1
    rows = lines[i:end]
    builder.new_block()
    if len(rows) >= 3 and SEPARATOR.match(rows[1]):
        head = f"{rows[0]}\n{rows[1]}"
        for row in rows[2:]:
            builder.add("row", f"{head}\n{row}")
    else:  # a table without a header line (or a cut one): each line stands alone
        for row in rows:
            if not SEPARATOR.match(row):
                builder.add("row", row)
    return end


def _without_applies_to(units: list[Unit]) -> list[Unit]:
    """Docs pages open with an "Applies to:" product list, often followed by a "Platforms" list:
    page chrome, not an answer (answers quoted "> Platforms", "> - Windows"). A "Platforms" list
    counts as chrome while no sentence of prose comes before it in the passage (a note above the
    lists is no prose: "Important: Customers who applied the March 2022 … engine update …" opens
    the update schedule page)."""
    chrome: set[int] = set()
    notes: set[int] = set()
    prose = False
    for unit in units:
        text = unit.text.strip()
        if NOTE_LABEL.match(text):
            notes.add(unit.block)
        if APPLIES_TO.match(text) or (PLATFORMS.match(text) and not prose):
            chrome |= {unit.block, unit.block + 1}
        elif unit.kind == "sentence" and len(text.split()) >= 4 and unit.block not in notes:
            prose = True
    return [u for u in units if u.block not in chrome]


def _drop_leading_fragment(units: list[Unit], passage: str) -> list[Unit]:
    """A passage that begins mid-sentence (a chunk's overlap) loses that first fragment, unless it
    introduces what follows ("values to enable … are:" before the list of values)."""
    first = passage.lstrip()[:1]
    if units and units[0].kind == "sentence" and first.islower() and not units[0].ends_with_colon:
        return units[1:]
    return units


def drop_fragment(passage: str) -> str:
    """The passage without the sentence end it begins with, when it begins mid-sentence (a chunk's
    overlap with the one before it: "non-Microsoft antivirus product. EDR in block mode …"), as
    `split_units` leaves it out. Kept whole when what follows on that line would read as a list
    ("… Profile Type. 4. Under Template Name …": a table the page put in one line), or when the
    fragment introduces what follows ("values to enable … are:")."""
    text = passage.lstrip()
    if not text[:1].islower():
        return passage
    paragraph, _, rest = text.partition("\n")
    end = SENTENCE_END.search(paragraph)
    if not end and paragraph.rstrip().endswith(":"):
        return passage
    remainder = paragraph[end.end():] if end else ""
    if BULLET.match(remainder) or STEP.match(remainder):
        return passage
    return f"{remainder}\n{rest}" if remainder else rest


def row_body(unit: Unit) -> str:
    """A table row without its header (for merging several rows under one header)."""
    return unit.text.splitlines()[-1] if unit.kind == "row" else unit.text


def row_header(unit: Unit) -> str:
    lines = unit.text.splitlines()
    return "\n".join(lines[:-1]) if unit.kind == "row" and len(lines) > 1 else ""
