"""Evidence: the few documented units (sentences, steps, table rows, code) that answer a question,
quoted verbatim from the numbered sources, within a character budget.

Units are scored against the question by the corpus-IDF-weighted share of the question's terms they
contain, their embedding similarity to the question, a preference for commands, steps and rows when
the question asks how or which, a preference for units stating an amount when it asks how long or
how many, the retrieval score of their source and the share of the question's terms their page
holds (the page about the question holds its distinguishing terms). They are chosen as segments:
a unit alone, or a sentence that introduces a list, table or code block ("set the following
registry key:") with that block, scored on their joint text, so a procedure or a registry setting
is quoted whole, and picked one at a time: a segment loses the credit of question terms already
quoted and gains for those it adds (a question's second part gets its units). Units from pages
other than the best segment's must score as well (`other_page_ratio`): an answer that quotes one
page cites the right page more often.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from services.generation.evidence_layout import arrange
from services.generation.evidence_patterns import (AMOUNT, AMOUNT_QUESTION, BOILERPLATE, HOW,
                                                    NAVIGATION, OUTPUT_LANGUAGES, structure)
from services.generation.support import LIST_MARKER
from services.generation.units import Unit, row_body, row_header, split_units
from shared.platforms import elsewhere, platforms
from shared.schemas import EvidenceItem, SourceRef
from shared.settings_sections import EvidenceSettings
from shared.terms import content_terms, has_term, stems, word_runs, words

NGRAM = 8  # a unit sharing an 8-word run with one already quoted says it again
MIN_INTRO_TERMS = 2  # "Note:" or "Important:" introduce nothing worth quoting


@dataclass(frozen=True)
class TermStats:
    """Document frequencies of the question's terms in the indexed corpus."""

    documents: int
    frequencies: dict[str, int] = field(default_factory=dict)

    def idf(self, term: str) -> float:
        found = self.frequencies.get(term, 0)
        return math.log((self.documents + 1) / (found + 0.5)) if found else 0.0

    def known(self, term: str) -> bool:
        return self.frequencies.get(term, 0) > 0


@dataclass(eq=False)
class Candidate:
    source: SourceRef
    unit: Unit
    semantic: float = 0.0
    stems: set[str] = field(default_factory=set)

    @property
    def cost(self) -> int:
        return len(self.unit.text) + 1

    @property
    def body_cost(self) -> int:
        """The cost once its table's header is already quoted (a row prints only its line)."""
        return len(row_body(self.unit)) + 1

    # a candidate sits in several segments (alone, after its intro): match its text once
    @cached_property
    def states_amount(self) -> bool:
        return bool(AMOUNT.search(self.unit.text))

    @cached_property
    def points_elsewhere(self) -> bool:
        return bool(NAVIGATION.search(LIST_MARKER.sub("", self.unit.text, count=1)))

    @property
    def page(self) -> str:
        return self.source.url.split("#")[0]


@dataclass(eq=False)
class Segment:
    members: list[Candidate]
    lexical: float = 0.0
    score: float = 0.0
    held: dict[str, float] = field(default_factory=dict)  # question terms it holds: their weight


def candidates(sources: Sequence[SourceRef]) -> list[Candidate]:
    """Every unit of every source, once (overlapping chunks repeat text)."""
    seen: set[str] = set()
    found: list[Candidate] = []
    for source in sources:
        for unit in split_units(source.text):
            # "- Type: `X`" is "Type: X", and step "1. Set-MpPreference …" is the list item
            # "- `Set-MpPreference …`" of another page
            key = " ".join(words(LIST_MARKER.sub("", unit.text, count=1)))
            if key not in seen and not BOILERPLATE.match(unit.text.strip()):
                seen.add(key)
                found.append(Candidate(source, unit, stems=stems(unit.text)))
    return found


def most_lexical(question: str, found: list[Candidate], stats: TermStats,
                 limit: int) -> list[Candidate]:
    """The candidates worth embedding (embedding every unit of five passages takes too long on a
    CPU): the best by their own terms, ties in document order; the rest keep similarity 0."""
    weights = term_weights(question, stats)
    ranked = sorted(found, key=lambda c: lexical(weights, c.stems, set()) + structure(c.unit)
                    * 0.1, reverse=True)
    return ranked[:limit]


def segments(found: list[Candidate], block_chars: int) -> list[Segment]:
    """Each unit alone, and each introducing sentence with the block it introduces (or, when the
    block is long, with each of the block's units). An intro is never quoted alone: "Advanced
    hunting action type:" without what it introduces says nothing."""
    made = [Segment([c]) for i, c in enumerate(found)
            if not c.unit.ends_with_colon and not _prints_output_of(found[i - 1] if i else None, c)]
    for i, intro in enumerate(found):
        following = found[i + 1] if i + 1 < len(found) else None
        if not (intro.unit.ends_with_colon and following and following.source is intro.source
                and following.unit.block != intro.unit.block
                and len(content_terms(intro.unit.text)) >= MIN_INTRO_TERMS):
            continue
        block = [c for c in found[i + 1:] if c.source is intro.source
                 and c.unit.block == following.unit.block]
        if sum(c.cost for c in block) <= block_chars:
            made.append(Segment([intro, *block]))
        else:
            made.extend(Segment([intro, c]) for c in block)
    return made


def _prints_output_of(previous: Candidate | None, candidate: Candidate) -> bool:
    """Whether a code block is the output of the command block just before it."""
    return (previous is not None and previous.source is candidate.source
            and candidate.unit.kind == previous.unit.kind == "code"
            and candidate.unit.language in OUTPUT_LANGUAGES
            and previous.unit.language not in OUTPUT_LANGUAGES)


def term_weights(question: str, stats: TermStats) -> dict[str, float]:
    """Each of the question's known terms with its share of their summed IDF (computed once per
    question, not once per unit)."""
    idf = {term: stats.idf(term) for term in content_terms(question) if stats.known(term)}
    total = sum(idf.values())
    return {term: weight / total for term, weight in idf.items()} if total else {}


def lexical(weights: dict[str, float], own: set[str], around: set[str]) -> float:
    """IDF-weighted share of the question's known terms in a text (half credit in its headings)."""
    return sum(weight * (1.0 if has_term(term, own) else 0.5 if has_term(term, around) else 0.0)
               for term, weight in weights.items())


def score(question: str, made: list[Segment], stats: TermStats, settings: EvidenceSettings) -> None:
    """Score each segment on its joint text (candidates carry their embedding similarity)."""
    weights = term_weights(question, stats)
    structured, amount = bool(HOW.search(question)), bool(AMOUNT_QUESTION.search(question))
    best_source = max((s.members[0].source.score for s in made), default=0.0) or 1.0
    contexts: dict[int, set[str]] = {}
    pages = page_coverage(weights, made)
    for segment in made:
        first = segment.members[0]
        own = set().union(*(c.stems for c in segment.members))
        around = contexts.setdefault(id(first.source), stems(" ".join(
            [first.source.title, *first.source.heading_path])))
        around = around | stems(" ".join(c.unit.heading for c in segment.members))
        segment.lexical = lexical(weights, own, around)
        segment.held = {term: weight for term, weight in weights.items() if has_term(term, own)}
        bonus = max(structure(c.unit) for c in segment.members) if structured else 0.0
        states = amount and any(c.states_amount for c in segment.members)
        cost = sum(c.body_cost for c in segment.members)  # a table's header is shared
        sends = all(c.points_elsewhere for c in segment.members)
        segment.score = (settings.amount_weight * states - settings.navigation_weight * sends
                         + settings.lexical_weight * segment.lexical
                         + settings.semantic_weight * max(c.semantic for c in segment.members)
                         + settings.structure_weight * bonus
                         + settings.source_weight * first.source.score / best_source
                         + settings.page_weight * pages[first.page]
                         - settings.length_weight * cost / settings.budget_chars)


def page_coverage(weights: dict[str, float], made: list[Segment]) -> dict[str, float]:
    """IDF-weighted share of the question's terms anywhere in each page's shown passages, titles
    and headings: the page holding more of the question is more likely the one it is about (a page
    on Intune ASR profiles holds "OMA-URI" and "value", not the "offboarding" asked about)."""
    held: dict[str, set[str]] = {}
    firsts = {id(s.members[0].source): s.members[0] for s in made}  # one candidate per source
    for first in firsts.values():
        source = first.source
        held.setdefault(first.page, set()).update(
            stems(" ".join([source.title, *source.heading_path, source.text])))
    return {page: lexical(weights, terms, set()) for page, terms in held.items()}


def select(made: list[Segment], settings: EvidenceSettings) -> list[Candidate]:
    """The best segments within the budget, one at a time: a segment's score loses the lexical
    credit of the question terms the chosen ones hold already, so each part of a question ("the
    minimum cores / RAM? is that on top of what Windows needs?") gets its unit. None under
    min_ratio of the best, none from another page than the best segment's unless it scores
    other_page_ratio of the best."""
    ranked = sorted(made, key=lambda s: s.score, reverse=True)
    if not ranked:
        return []
    top, page = ranked[0].score, ranked[0].members[0].page
    pool = [segment for segment in ranked if segment.score >= top * settings.min_ratio]
    chosen: list[Candidate] = []
    said: set[tuple[str, ...]] = set()
    tables: set[tuple[int, str]] = set()  # (source, header) of the table rows quoted
    covered: set[str] = set()
    left = settings.budget_chars
    while pool and len(chosen) < settings.max_units:
        segment = max(pool, key=lambda s: _still_worth(s, covered, tables, settings))
        pool.remove(segment)
        if segment.members[0].page != page and segment.score < top * settings.other_page_ratio:
            continue
        new = [c for c in segment.members if c not in chosen]
        grams = [_grams(c) for c in new]
        if any(g & said for g in grams):
            continue  # another page (or chunk) says the same: quote it once
        cost = quoted_cost(new, tables)
        if new and cost <= left:
            chosen.extend(new)
            said.update(*grams)
            tables.update(_table(c) for c in new)
            left -= cost
            covered |= segment.held.keys()
    return _with_earlier_steps(chosen, made, left)


def _with_earlier_steps(chosen: list[Candidate], made: list[Segment], left: int
                        ) -> list[Candidate]:
    """What the budget has left goes to the steps missing before a quoted step, in document
    order: a procedure quoted from its second step leaves the reader without the first."""
    steps = sorted({id(c): c for s in made for c in s.members if c.unit.kind == "step"}.values(),
                   key=lambda c: (c.source.n, c.unit.position))
    while missing := [before for before, after in itertools.pairwise(steps)
                      if after in chosen and before not in chosen and before.cost <= left
                      and before.source is after.source and before.unit.block == after.unit.block]:
        chosen.append(missing[0])
        left -= missing[0].cost
    return chosen


def _still_worth(segment: Segment, covered: set[str], tables: set[tuple[int, str]],
                 settings: EvidenceSettings) -> float:
    """A segment's score less the lexical credit of the question terms quoted already (more rows
    of a table already quoted keep theirs: "which registry values …" is answered by the rows
    together), plus `novelty_weight` for each term it adds once something is quoted: a question's
    second part ("… what value means audit vs warn?") outranks the first part's further steps."""
    said = sum(weight for term, weight in segment.held.items() if term in covered)
    novel = sum(segment.held.values()) - said if covered else 0.0
    if all(c.unit.kind == "row" and _table(c) in tables for c in segment.members):
        said = 0.0
    return segment.score - settings.lexical_weight * said + settings.novelty_weight * novel


def quoted_cost(new: list[Candidate], tables: set[tuple[int, str]]) -> int:
    """Characters the candidates add to the evidence: rows of a table already quoted (or quoted
    together) add only their own line, as `arrange` prints one header per table."""
    cost, seen = 0, set(tables)
    for candidate in new:
        table = _table(candidate)
        shares = candidate.unit.kind == "row" and table in seen
        cost += candidate.body_cost if shares else candidate.cost
        seen.add(table)
    return cost


def _table(candidate: Candidate) -> tuple[int, str]:
    return candidate.source.n, row_header(candidate.unit)


def _grams(candidate: Candidate) -> set[tuple[str, ...]]:
    if candidate.unit.kind == "code":
        return set()  # a log or script may repeat itself: it is quoted as it is
    # a row's own line: the rows of one table share its header ("| Group Policy | Registry key |
    # Registry entry | Value |" and each row's first word "Configure …" made one 8-word run)
    return set(word_runs(row_body(candidate.unit) if candidate.unit.kind == "row"
                         else candidate.unit.text, NGRAM))


def choose(question: str, found: list[Candidate], stats: TermStats,
           settings: EvidenceSettings) -> list[EvidenceItem]:
    """The evidence for a question from candidates whose `semantic` similarity is set; none from
    a page about another platform than the question's while one that is not is shown (the macOS
    page's steps scored higher for a Linux server's question)."""
    asked = platforms(question)
    shown = {id(c.source): c.source for c in found}  # decided once per source, not per unit
    away = {key for key, source in shown.items() if elsewhere(asked, source)}
    found = [c for c in found if id(c.source) not in away] or found
    made = segments(found, settings.block_chars)
    score(question, made, stats, settings)
    return arrange(select(made, settings))
