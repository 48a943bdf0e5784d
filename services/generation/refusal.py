"""Refusal: decide before generating whether the retrieved passages can answer the question.

A similarity cut-off alone separates unanswerable questions badly, so the evidence is lexical as
well: the question's content terms are looked up in the retrieved passages (coverage) and, for the
ones missing there, in the whole index (a term no page contains means the documentation cannot be
about it). The thresholds are tuned on half of the public questions and live in settings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from shared.schemas import SearchHit, SourceRef
from shared.settings import InferSettings

WORD = re.compile(r"[a-z0-9][a-z0-9+#]*(?:[._-][a-z0-9+#]+)*")
STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being
below between both but by can cannot could did do does doing don done down during each either
else ever every few for from further get gets getting go goes going got had has have having he her
here hers how i if in into is it its itself just let like make makes many may me might more most
much must my myself need needs no nor not now of off on once one only or other our ours out over
own per please put really same say see set sets should so some still such sure take than that the
their them then there these they thing things this those through to too try trying under until up
us use used uses using very via want wants was way we well were what whats when where whether which
while who whom why will with within without won would yes yet you your yours
actually anyway basically best better bit correct currently exactly instead kind lot okay right
something thanks tell way work works
""".split())
SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ied", "ers", "er", "ed", "es", "s", "ly")


@dataclass
class Evidence:
    terms: list[str]
    in_passages: list[str] = field(default_factory=list)
    not_in_index: list[str] = field(default_factory=list)
    top_score: float = 0.0

    @property
    def coverage(self) -> float:
        """Share of the question's content terms found in the retrieved passages."""
        return len(self.in_passages) / len(self.terms) if self.terms else 1.0


@dataclass
class Verdict:
    refused: bool
    reason: str | None = None


def stem(word: str) -> str:
    """A crude stem for substring matching (`quarantined` → `quarantin`)."""
    for suffix in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def content_terms(question: str) -> list[str]:
    """The question's words that carry its topic, lower-cased, in order, without repeats."""
    terms: list[str] = []
    for word in WORD.findall(question.lower()):
        if word not in STOPWORDS and len(word) > 1 and not word.isdigit() and word not in terms:
            terms.append(word)
    return terms


def passage_text(hits: list[SearchHit]) -> str:
    return "\n".join(" ".join([hit.title, *hit.heading_path, hit.url, hit.text]) for hit in hits).lower()


def terms_in(terms: list[str], text: str) -> list[str]:
    return [term for term in terms if stem(term) in text]


def decide(evidence: Evidence, infer: InferSettings) -> Verdict:
    """Refuse when too few content terms are in the passages or one of them is in no page at all."""
    if not evidence.terms:
        return Verdict(False)
    if evidence.not_in_index and evidence.coverage < infer.refusal_min_coverage + 0.25:
        return Verdict(True, f"no page mentions {', '.join(evidence.not_in_index)}")
    if evidence.coverage < infer.refusal_min_coverage:
        missing = [term for term in evidence.terms if term not in evidence.in_passages]
        return Verdict(True, f"the passages found do not mention {', '.join(missing)}")
    if evidence.top_score < infer.refusal_min_score:
        return Verdict(True, f"best passage scores {evidence.top_score:.2f}")
    return Verdict(False)


def refusal_text(nearest: list[SourceRef], index_empty: bool = False) -> str:
    """What the assistant says instead of an answer it would have to invent."""
    if index_empty:
        return ("The documentation index is empty, so I cannot answer from it yet. Run an update "
                "(`mde update`, or the Update button) and ask again.")
    text = "The documentation I have does not cover this, so I will not guess."
    if nearest:
        text += " The nearest pages are:\n" + "\n".join(f"[{s.n}] {s.title}: {s.url}" for s in nearest)
    return text
