"""Heading-aware chunks: split a clean page by H2/H3 sections, merge the small ones, pack to a size.

A section is never cut inside a table row or a code line; a code block that fits stays whole, a longer
one is split at line boundaries; text is split at sentences, then words. Consecutive chunks of one
section overlap by at most `chunk_overlap_chars` of text (a split table repeats its header instead).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field

from services.indexer.cleaning import Block, CleanPage, render_heading
from shared.schemas import Chunk
from shared.settings import ProcessingSettings

CHUNKER_VERSION = 3  # part of the index settings hash: bump when chunks change for the same input
SECTION_LEVELS = (2, 3)
PATH_SEPARATOR = " › "
SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+(?=\S)")


@dataclass
class Section:
    path: list[str]  # [page title, H2, H3]
    anchors: list[str]  # anchors of the heading path, plus those of sections merged into it
    anchor: str | None = None  # the heading the section's text starts under
    blocks: list[Block] = field(default_factory=list)
    level: int = 1

    @property
    def size(self) -> int:
        return sum(len(b.text) + 2 for b in self.blocks)


@dataclass(frozen=True)
class Unit:
    """The smallest piece the packer moves: a sentence, list item, table row or code piece."""

    text: str
    sep: str  # joins it to the previous unit of the chunk
    block: int  # index of the block it came from
    kind: str
    header: str = ""  # a table's header rows, repeated when the table continues in a new chunk


def point_id(url: str, position: int) -> str:
    """Deterministic point id: the same url and position always give the same id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{url}#{position}"))


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def split_sections(page: CleanPage) -> list[Section]:
    """One section per H2/H3 heading (plus the intro under the H1); deeper headings stay inline."""
    top = next((b.anchor for b in page.blocks if b.kind == "heading" and b.level == 1), None)
    intro = Section([page.title], [top] if top else [], top, level=1)
    sections = [intro]
    trail: dict[int, tuple[str, str | None]] = {}
    for block in page.blocks:
        if block.kind == "heading" and block.level in SECTION_LEVELS:
            trail = {lvl: v for lvl, v in trail.items() if lvl < block.level}
            trail[block.level] = (block.text, block.anchor)
            path = [trail[lvl] for lvl in sorted(trail)]
            anchors = intro.anchors + [anchor for _, anchor in path if anchor]
            sections.append(Section([page.title] + [text for text, _ in path], anchors,
                                    block.anchor, level=block.level))
        elif not (block.kind == "heading" and block.level == 1):
            sections[-1].blocks.append(block)
    return [s for s in sections if s.blocks]


def merge_small(sections: list[Section], min_chars: int, max_chars: int) -> list[Section]:
    """Merge a section under min_chars into its first subsection, else into the previous section,
    else into the next one, as long as the result still fits in one chunk. A merged section keeps
    the heading path and anchor its text starts under; the other's heading goes inline."""
    merged: list[Section] = []
    pending: Section | None = None
    for index, section in enumerate(sections):
        if pending is not None:
            if pending.size + section.size <= max_chars:
                section = _join(pending, section)
            else:
                merged.append(pending)
            pending = None
        if section.size >= min_chars:
            merged.append(section)
            continue
        following = sections[index + 1] if index + 1 < len(sections) else None
        if following is not None and following.level > section.level:
            pending = section  # a parent's short intro goes with its first subsection
        elif merged and merged[-1].size + section.size <= max_chars:
            merged[-1] = _join(merged[-1], section)
        else:
            pending = section
    if pending is not None:
        merged.append(pending)
    return merged


def _join(first: Section, second: Section) -> Section:
    # labelled as the first: a label of the second linked to the first's anchor sent a user to
    # another section than the one named (a short "MDM" section shown as "Configuration Manager")
    heading = Block("heading", second.path[-1], level=len(second.path),
                    anchor=second.anchor)
    anchors = list(dict.fromkeys(first.anchors + second.anchors))
    blocks = first.blocks + ([heading] if len(second.path) > 1 else []) + second.blocks
    return Section(list(first.path), anchors, first.anchor, blocks, level=first.level)


def units(blocks: list[Block], max_chars: int) -> list[Unit]:
    """Break blocks into packable units no longer than max_chars (except one long code line)."""
    out: list[Unit] = []
    for index, block in enumerate(blocks):
        first = "\n\n"
        if block.kind == "heading":
            out.append(Unit(render_heading(block), first, index, "heading"))
        elif block.kind == "code":
            out.extend(Unit(piece, first, index, "code") for piece in _code_pieces(block, max_chars))
        elif block.kind == "table":
            header = "\n".join(block.parts[:2])
            for n, row in enumerate(block.parts[2:]):
                text = f"{header}\n{row}" if n == 0 else row
                pieces = _words(text, max_chars) if len(text) > max_chars else [text]
                out.extend(Unit(piece, (first if n == 0 else "\n") if k == 0 else " ", index,
                                "table", header) for k, piece in enumerate(pieces))
        elif block.kind == "list":
            for n, item in enumerate(block.parts):
                out.extend(_text_units(item, first if n == 0 else "\n", index, max_chars))
        else:
            out.extend(_text_units(block.text, first, index, max_chars))
    return out


def _code_pieces(block: Block, max_chars: int) -> list[str]:
    if len(block.text) <= max_chars:
        return [block.text]
    fence = block.text.split("\n", 1)[0]
    pieces: list[str] = []
    lines: list[str] = []
    for line in block.parts:
        if lines and len(fence) + sum(len(x) + 1 for x in lines) + len(line) + 5 > max_chars:
            pieces.append("\n".join([fence, *lines, "```"]))
            lines = []
        lines.append(line)
    if lines:
        pieces.append("\n".join([fence, *lines, "```"]))
    return pieces


def _text_units(text: str, sep: str, index: int, max_chars: int) -> list[Unit]:
    if len(text) <= max_chars:
        return [Unit(text, sep, index, "text")]
    out: list[Unit] = []
    for sentence in SENTENCE_END.split(text):
        for piece in _words(sentence, max_chars):
            out.append(Unit(piece, sep if not out else " ", index, "text"))
    return out


def _words(sentence: str, max_chars: int) -> list[str]:
    pieces, current = [], ""
    for word in sentence.split(" "):
        while len(word) > max_chars:  # a single "word" over the limit: cut it, nothing else can
            if current:
                pieces.append(current)
                current = ""
            pieces.append(word[:max_chars])
            word = word[max_chars:]
        candidate = f"{current} {word}" if current else word
        if len(candidate) > max_chars:
            pieces.append(current)
            candidate = word
        current = candidate
    return pieces + ([current] if current else [])


def overlap_tail(text: str, overlap: int) -> str:
    """The end of a chunk, at most `overlap` characters, starting at a word boundary."""
    if overlap <= 0 or not text:
        return ""
    tail = text[-overlap:]
    if len(text) > overlap:
        cut = tail.find(" ")
        tail = tail[cut + 1:] if cut >= 0 else ""
    return tail.strip()


def pack(section_units: list[Unit], max_chars: int, overlap: int) -> list[str]:
    """Pack units into the fewest texts of at most max_chars, of balanced size, with an overlap."""
    if not section_units:
        return []
    total = len(_render("", section_units))
    for parts in range(max(1, -(-total // max_chars)), len(section_units)):
        texts = _render_groups(_balanced_groups(section_units, parts), max_chars, overlap)
        if all(len(t) <= max_chars for t in texts):
            return texts
    singles: list[list[Unit]] = []  # last resort: one unit per chunk, a heading with what follows
    for unit in section_units:
        if singles and singles[-1][-1].kind == "heading" \
                and len(_render("", singles[-1] + [unit])) <= max_chars:
            singles[-1].append(unit)
        else:
            singles.append([unit])
    return _render_groups(singles, max_chars, overlap, strict=False)


def _balanced_groups(section_units: list[Unit], parts: int) -> list[list[Unit]]:
    """Split at the unit boundaries nearest to equal shares, never right after a heading."""
    ends, position = [], 0
    for unit in section_units:
        position += len(unit.sep) + len(unit.text)
        ends.append(position)
    breaks = [0]
    for k in range(1, parts):
        ideal = ends[-1] * k / parts
        low = breaks[-1] + 1
        if low >= len(section_units):
            break
        best = min(range(low, len(section_units)), key=lambda i: abs(ends[i - 1] - ideal))
        while best > low and section_units[best - 1].kind == "heading":
            best -= 1
        breaks.append(best)
    breaks.append(len(section_units))
    return [section_units[a:b] for a, b in zip(breaks, breaks[1:]) if b > a]


def _render_groups(groups: list[list[Unit]], max_chars: int, overlap: int,
                   strict: bool = True) -> list[str]:
    """Texts of the groups with their prefixes; unless strict, a prefix that does not fit is left out."""
    texts: list[str] = []
    for index, group in enumerate(groups):
        prefix = _prefix(texts[-1], groups[index - 1][-1], group[0], overlap) if index else ""
        text = _render(prefix, group)
        texts.append(text if strict or len(text) <= max_chars or not prefix else _render("", group))
    return texts


def _render(prefix: str, items: list[Unit]) -> str:
    return prefix + items[0].text + "".join(u.sep + u.text for u in items[1:])


def _prefix(previous: str, last: Unit, unit: Unit, overlap: int) -> str:
    """What a continuation chunk starts with: the table's header, or the end of the previous text."""
    if unit.kind == "table" and unit.header and last.block == unit.block:
        return unit.header + "\n"
    if last.kind != "text":
        return ""
    tail = overlap_tail(previous, overlap)
    if not tail:
        return ""
    return tail + (" " if last.block == unit.block and unit.sep == " " else "\n\n")


def chunk_page(page: CleanPage, *, page_id: str, url: str, page_hash: str,
               settings: ProcessingSettings) -> list[Chunk]:
    """All chunks of one page, in reading order, with deterministic ids."""
    sections = merge_small(split_sections(page), settings.min_section_chars, settings.max_chunk_chars)
    chunks: list[Chunk] = []
    for section in sections:
        texts = pack(units(section.blocks, settings.max_chunk_chars), settings.max_chunk_chars,
                     settings.chunk_overlap_chars)
        for text in texts:
            position = len(chunks)
            embed_text = "\n".join(filter(None, [PATH_SEPARATOR.join(section.path),
                                                  page.description])) + "\n\n" + text
            chunks.append(Chunk(
                id=point_id(url, position), page_id=page_id, url=url, title=page.title,
                heading_path=section.path, anchor=section.anchor,
                anchors=section.anchors, platforms=page.platforms, position=position, text=text,
                embed_text=embed_text,
                content_hash=text_hash(embed_text), page_hash=page_hash))
    return chunks
