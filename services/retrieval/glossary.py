"""Acronyms the documentation defines, spelled out in queries.

Admins ask in the field's shorthand ("ASR rules", "our VDI image", "custom IOCs"); the
documentation mostly writes the words ("attack surface reduction rules"), so BM25 misses them and
the query's embedding drifts. The docs define their acronyms where they introduce them ("mobile
device management (MDM)"): those definitions are read from the indexed chunks themselves, and a
query naming one gets its long form appended ("… ASR rules (attack surface reduction)").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

# up to 8 words, then an acronym in parentheses: 2-7 letters with at least two capitals (MDM, IoC)
DEFINITION = re.compile(r"((?:[A-Za-z][\w-]*[ \t]+){1,8})\(([A-Z][A-Za-z]{1,6})\)")
SMALL_WORDS = frozenset(["a", "an", "and", "for", "in", "of", "on", "the", "to", "with"])
LOWER_WORD = re.compile(r"(?<![\w/.-])[a-z]{2,8}(?![\w/-])")
QUERY_WORD = re.compile(r"[A-Za-z]+")


def _capitals(word: str) -> str:
    return "".join(c for c in word if c.isupper())


def _singular(acronym: str) -> str:
    """IoCs → IoC, GPOs → GPO (a plural keeps its capitals)."""
    if acronym.endswith("s") and len(_capitals(acronym[:-1])) >= 2:
        return acronym[:-1]
    return acronym


def _long_form(words: list[str], capitals: str) -> str | None:
    """The shortest run of trailing words whose initials spell `capitals` (small words skipped)."""
    for size in range(len(capitals), min(len(words), len(capitals) + 3) + 1):
        run = words[-size:]
        if run[0].lower() in SMALL_WORDS:
            continue
        if "".join(w[0].upper() for w in run if w.lower() not in SMALL_WORDS) == capitals:
            return " ".join(run).lower()
    return None


@dataclass
class Glossary:
    """Acronym (upper case) → its most frequent long form in the corpus."""

    terms: dict[str, str] = field(default_factory=dict)
    # words the corpus writes in lower case: a lower-case "maps" in a query is not MAPS
    lower_words: frozenset[str] = frozenset()

    def long_forms(self, query: str) -> list[str]:
        """The long forms of the acronyms a query uses, in order, without those it spells out."""
        found: list[str] = []
        spelled = query.lower()
        for word in QUERY_WORD.findall(query):
            key = self._key(word)  # only acronyms the glossary holds
            if key is None:
                continue
            if len(_capitals(word)) < 2 and (len(key) < 3 or word.lower() in self.lower_words):
                continue
            long = self.terms[key]
            if long not in spelled and long not in found:
                found.append(long)
        return found

    def _key(self, word: str) -> str | None:
        if word.upper() in self.terms:
            return word.upper()
        if word.endswith("s") and word[:-1].upper() in self.terms:
            return word[:-1].upper()
        return None

    def expand(self, query: str) -> tuple[str, list[str]]:
        """The query with the long forms of its acronyms appended in parentheses, and those."""
        found = self.long_forms(query)
        return (f"{query} ({'; '.join(found)})" if found else query), found


def mine(texts: Iterable[str]) -> Glossary:
    """The acronyms defined in these texts ("… Long Form (LF)"), each with its commonest long form."""
    counts: Counter[tuple[str, str]] = Counter()
    lower: set[str] = set()
    for text in texts:
        lower.update(LOWER_WORD.findall(text))
        for match in DEFINITION.finditer(text):
            acronym = _singular(match.group(2))
            capitals = _capitals(acronym)
            if len(capitals) < 2:
                continue
            if long := _long_form(match.group(1).split(), capitals):
                counts[(acronym.upper(), long)] += 1
    terms: dict[str, str] = {}
    for (acronym, long), _ in counts.most_common():
        terms.setdefault(acronym, long)
    return Glossary(terms, frozenset(lower))
