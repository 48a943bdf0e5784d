"""Content terms of a text: the one tokenizer that retrieval's term statistics, evidence scoring,
the support check and refusal all use, so a term counted in the corpus is the term matched in a
question.

Words keep their inner `.`, `_`, `-` (`Set-MpPreference`, `mdatp_cron_job.log`) and also count as
their parts, so `set-mppreference` in a question matches `Set-MpPreference` and `MpPreference`.
"""

from __future__ import annotations

import re

WORD = re.compile(r"[a-z0-9][a-z0-9+#]*(?:[._-][a-z0-9+#]+)*")
PARTS = re.compile(r"[._-]")
STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being
below between both but by can cannot could did do does doing don done down during each either else
ever every few for from further get gets getting go goes going got had has have having he her here
hers how i if in into is it its itself just let like make makes many may me might more most much
must my myself need needs no nor not now of off on once one only or other our ours out over own per
please put really same say see set sets should so some still such sure take than that the their
them then there these they thing things this those through to too try trying under until up us use
used uses using very via want wants was way we well were what whats when where whether which while
who whom why will with within without won would yes yet you your yours actually anyway basically
best better bit correct currently exactly instead kind lot okay right something thanks tell work
works
""".split())
SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ied", "ers", "er", "ed", "es", "s", "ly")


def stem(word: str) -> str:
    """A crude stem (`quarantined` → `quarantin`), the same for question and corpus words."""
    for suffix in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def _keep(word: str) -> bool:
    return word not in STOPWORDS and len(word) > 1 and not word.isdigit()


def content_terms(text: str) -> list[str]:
    """The words that carry a text's topic, lower-cased, in order, without repeats."""
    terms: list[str] = []
    for word in WORD.findall(text.lower()):
        if _keep(word) and word not in terms:
            terms.append(word)
    return terms


def stems(text: str) -> set[str]:
    """Stems of every content word of a text and of the parts of compound words."""
    found: set[str] = set()
    for word in WORD.findall(text.lower()):
        if _keep(word):
            found.add(stem(word))
        if PARTS.search(word):
            found.update(stem(part) for part in PARTS.split(word) if _keep(part))
    return found


def term_key(term: str) -> str:
    """The form a question term is looked up under (in `stems` output and in corpus statistics)."""
    return stem(term)


WORDS = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """A text's plain lower-case words (punctuation and markup gone)."""
    return WORDS.findall(text.lower())


def word_runs(text: str, n: int = 8) -> list[tuple[str, ...]]:
    """Every run of n consecutive words: a run said twice is a repetition."""
    found = words(text)
    return [tuple(found[i:i + n]) for i in range(len(found) - n + 1)]


def slugify(text: str) -> str:
    """The anchor learn.microsoft.com gives a heading without an explicit id."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def has_term(term: str, text_stems: set[str]) -> bool:
    """Whether a question term occurs in a text (a compound term also when all its parts do)."""
    if term_key(term) in text_stems:
        return True
    parts = [stem(part) for part in PARTS.split(term) if _keep(part)]
    return len(parts) > 1 and all(part in text_stems for part in parts)
