"""The support check: does a generated sentence say what one of the sources says?

A sentence is supported by a source when most of its content terms occur in that source, every
specific token it carries (a number, a command, a path, a setting name) occurs there verbatim, and
it does not negate what the source's closest sentence says (or the other way round). The source that
supports it best is the one its `[n]` points to. Thresholds are calibrated by `ops/bench/support.py`
on a labelled sample built from the corpus (see docs/BENCHMARKS.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from services.generation.units import split_units
from shared.schemas import SourceRef
from shared.terms import STOPWORDS, stems, words

SPECIFIC = re.compile(r"`[^`]+`|(?<![\w/\\])(?:[\w.-]*\d[\w.-]*|[\w%:.-]*[\\/_][\w%\\/.-]+|"
                      r"[\w-]+\.(?:exe|sh|py|log|xml|json|plist|cmd|ps1|pkg|dll)|"
                      r"[A-Za-z]+(?:-[A-Za-z]+)+|[a-z]+[A-Z]\w*|[A-Z][a-z]+[A-Z]\w*|[a-z]{14,})"
                      r"(?![\w/\\])")
NEGATION = re.compile(r"\b(not|no|never|cannot|can't|don't|doesn't|isn't|aren't|won't|without|"
                      r"none|neither|nor)\b|n't\b", re.IGNORECASE)
CITATION = re.compile(r"\s*\[\d{1,3}\]")
PLACEHOLDER = re.compile(r"\[n\]", re.IGNORECASE)  # the instruction's "with its [n]", copied
BACKTICKED = re.compile(r"`[^`]*`")  # checked verbatim as a whole (`specific_tokens`)
FLAG = re.compile(r"--?[a-z][\w-]*")  # "-CloudExtendedTimeout", "--value"
MARKER = r"(?:\d{1,3}[.)]|[-*\u2022])"  # a list item's number or bullet
TABLE_HEADER = re.compile(r"^(.*\|.*)\n\|\s*:?-{3}", re.MULTILINE)  # the line above "| --- |"
ROW_UNHELD = "its table cells stand in no row of the source in this order"
LIST_MARKER = re.compile(rf"^\s*{MARKER}\s+", re.MULTILINE)  # "2. " is no fact


@dataclass(frozen=True)
class Verdict:
    supported: bool
    source: int | None  # the source that supports the sentence best
    coverage: float  # share of the sentence's content terms found in that source
    reason: str = ""


@dataclass(frozen=True)
class Unit:
    stems: set[str]
    negations: int
    text: str  # lower-cased, for verbatim token checks
    plain: str = ""  # its words, space-separated: a sentence copied from it stands in it as is


@dataclass(frozen=True)
class SourceText:
    n: int
    text: str  # lower-cased, for verbatim token checks
    stems: set[str]
    units: list[Unit]
    heading: set[str]  # stems of the title and heading path
    heading_text: str  # the title and heading path, lower-cased
    headers: tuple[set[str], ...] = ()  # stems of each table header line


def prepare(sources: Sequence[SourceRef]) -> list[SourceText]:
    """What the check needs of each source, computed once per answer."""
    prepared = []
    for source in sources:
        body = " ".join([source.title, *source.heading_path, source.text])
        units = [Unit(stems(u.text), len(NEGATION.findall(u.text)), u.text.lower(),
                      f" {' '.join(words(u.text))} ") for u in split_units(source.text)]
        heading = " ".join([source.title, *source.heading_path])
        headers = tuple(stems(line) for line in TABLE_HEADER.findall(body))
        prepared.append(SourceText(source.n, body.lower(), stems(body), units, stems(heading),
                                   heading.lower(), headers))
    return prepared


def specific_tokens(sentence: str) -> list[str]:
    """Numbers, commands, paths and settings, without the sentence's own punctuation ("8.1.")."""
    tokens = (token.strip("`").rstrip(".,:;-").lower() for token in SPECIFIC.findall(sentence))
    return [token for token in tokens if token]


def says_something(text: str) -> bool:
    """Whether a piece of text makes a claim at all: "1.", "Note:" or "[2]" do not."""
    return len(stems(CITATION.sub("", text))) >= 2


def names_columns(sentence: str, sources: Sequence[SourceText]) -> bool:
    """Whether a sentence only names a table's columns ("The Exclusion Category | Exclusion Scope
    | Description |"): every word is in a source table's header, and a header states nothing."""
    own = stems(LIST_MARKER.sub("", CITATION.sub("", sentence)))
    return len(own) >= 2 and any(own <= header for source in sources for header in source.headers)


def check(sentence: str, sources: Sequence[SourceText], min_coverage: float) -> Verdict:
    """The verdict for one sentence against the prepared sources."""
    cited = CITATION.sub("", sentence)
    plain = LIST_MARKER.sub("", cited)
    own = stems(plain)
    if len(own) < 2:  # says nothing (`says_something`), counted on the stems we already have
        return Verdict(False, None, 0.0, "too short to say anything")
    if PLACEHOLDER.search(plain):  # "The [n] is a command-line tool": the prompt, not the docs
        return Verdict(False, None, 0.0, "copies the instruction's [n] placeholder")
    # one list line restates one item, under its own label: "- Cores: 1GB minimum, 2 GB
    # preferred" took its values from the memory line after the cores line
    single = LIST_MARKER.match(cited) is not None and "\n" not in cited.strip()
    head = plain.split(":", 1)
    label = stems(head[0]) if single and len(head) == 2 and len(head[0].split()) <= 4 else set()
    windows = {s.n: _windows(own, s, single, label) for s in sources}
    scored = sorted(((max((c for c, _ in windows[s.n]), default=0.0), s) for s in sources),
                    key=lambda pair: pair[0], reverse=True)
    if not scored:
        return Verdict(False, None, 0.0, "no sources")
    coverage, best = scored[0]
    if coverage < min_coverage:
        return Verdict(False, best.n, coverage, f"only {coverage:.0%} of its terms are in a source")
    if reason := _not_verbatim(plain, best, windows[best.n], min_coverage):
        return Verdict(False, best.n, coverage, reason)
    # a row may be copied from another source than the one holding most of its words
    if _row_unheld(plain, [best.text, *(source.text for source in sources if source is not best)]):
        return Verdict(False, best.n, coverage, ROW_UNHELD)
    if len(NEGATION.findall(plain)) != closest_unit(plain, own, best).negations:
        return Verdict(False, best.n, coverage, "negates what the source says (or the reverse)")
    return Verdict(True, best.n, coverage)


def closest_unit(plain: str, own: set[str], source: SourceText) -> Unit:
    """The unit a sentence restates: one that holds it word for word ("- Do not send samples"
    is that item, not "- Send all samples automatically" with as many shared terms), else the
    one sharing most of its terms."""
    copied = f" {' '.join(words(plain))} "
    verbatim = (unit for unit in source.units if copied in unit.plain) if copied.strip() else ()
    return next(iter(verbatim), None) or max(source.units, key=lambda unit: len(own & unit.stems),
                                             default=Unit(set(), 0, ""))


def _not_verbatim(plain: str, best: SourceText, windows: list[tuple[float, str]],
                  min_coverage: float) -> str:
    """Why the sentence's numbers, commands and paths are not the source's, or ""."""
    specifics = specific_tokens(plain)
    if missing := [t for t in specifics if not _whole(t, best.text)]:
        return f"not in the source: {', '.join(missing[:3])}"
    # they must stand where its words are: "`sudo zypper remove mdatp` for Ubuntu and Debian
    # systems" took the command of the SLES line and the rest of the Ubuntu one
    if specifics and not any(all(_whole(t, text) for t in specifics)
                             for covered, text in windows if covered >= min_coverage):
        return f"its specifics stand elsewhere in the source than its words ({specifics[0]})"
    if (command := command_span(plain)) and command not in " ".join(best.text.split()):
        return f"retypes a command: {command!r}"
    if cut := cut_short(plain, best.text):
        return f"cuts the source's {cut!r} short"
    return ""


def _row_unheld(plain: str, texts: list[str]) -> bool:
    """Whether a copied table row's cells are in no row of the first source holding its first
    cell, in this order: every word of "Don't allow child processes | No | Yes" is in the row
    "| Don't allow child processes | Yes | No |", and it says the opposite."""
    cells = _cells(plain)
    for text in texts if len(cells) > 1 else ():
        rows = [_cells(line) for line in text.splitlines() if line.lstrip().startswith("|")]
        # a copy of a row starts with one of its cells (a query's "DeviceEvents | where …" not)
        if any(cells[0] in row for row in rows):
            return not any(row[i:i + len(cells)] == cells for row in rows
                           for i in range(len(row) - len(cells) + 1))
    return False


def _cells(line: str) -> list[str]:
    return [cell for part in LIST_MARKER.sub("", line).split("|") if (cell := " ".join(words(part)))]


def command_span(plain: str) -> str:
    """The command a sentence writes out of backticks, from the word before its first flag to the
    value after its last ("Set-MpPreference -CloudExtendedTimeout 10"), lower-cased; "" if none.
    It must stand in the source as it is: the lead wrote 10 where the docs' example says 50."""
    words = BACKTICKED.sub(" ", plain).lower().rstrip(" .,:;!?").split()
    flags = [i for i, word in enumerate(words) if FLAG.fullmatch(word)]
    if not flags:
        return ""
    end = flags[-1] + 1
    if end < len(words) and words[end] not in STOPWORDS:  # "--path to exclude": no value given
        end += 1
    return " ".join(words[max(flags[0] - 1, 0):end])


def _whole(token: str, text: str) -> bool:
    """The token stands in the text as itself ("10" in "10 seconds", not in "2010" or "100")."""
    return re.search(rf"(?<![\w]){re.escape(token)}(?![\w])", text) is not None


def cut_short(plain: str, text: str) -> str:
    """The source's word a sentence ends inside of: the lead quoted "./msupdate --install --apps w"
    of "./msupdate --install --apps wdav00" (a command cut short reads as a whole one)."""
    tail = plain.lower().rstrip(" .,:;!?").split()[-3:]
    if len(tail) < 2 or not any(word.startswith("-") or SPECIFIC.fullmatch(word) for word in tail):
        return ""  # prose: a restatement may end on "a" where the source says "after"
    phrase = re.escape(" ".join(tail))
    if re.search(rf"{phrase}(?!\w)", text):
        return ""
    longer = re.search(rf"(?<!\S){phrase}\w+", text)
    return longer.group(0).rsplit(" ", 1)[-1] if longer else ""


def _windows(own: set[str], source: SourceText, single: bool = False,
             label: frozenset[str] | set[str] = frozenset()) -> list[tuple[float, str]]:
    """(share of the sentence's terms, lower-cased text) of each unit of the source with the unit
    after it (unless `single`) and the source's headings, counting only units that hold the
    `label`: a claim stitched from words all over a passage is not what any one sentence of it
    says."""
    units = source.units or [Unit(source.stems, 0, source.text)]
    found = []
    for i, unit in enumerate(units):
        terms, text = unit.stems | source.heading, f"{source.heading_text}\n{unit.text}"
        if not label <= terms:
            continue
        if not single and i + 1 < len(units):
            terms, text = terms | units[i + 1].stems, f"{text}\n{units[i + 1].text}"
        found.append((len(own & terms) / len(own), text))
    return found


def attribute(sentence: str, verdict: Verdict) -> str:
    """The sentence with its citation replaced by the source that supports it best."""
    plain = CITATION.sub("", sentence).rstrip()
    if verdict.source is None:
        return plain
    ending = ""
    while plain and plain[-1] in ".!?:":
        plain, ending = plain[:-1], plain[-1] + ending
    return f"{plain} [{verdict.source}]{ending}"
