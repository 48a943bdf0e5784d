"""Refusal: decide before generating whether the documentation can answer the question.

A question about another product than the documented one is refused first unless a retrieved
section is about it (`scope`), and one after a price, a duration or a version when none of the
passages states one (`answer_type`: the topic is documented, the answer is not). Otherwise a
similarity cut-off alone separates unanswerable questions badly (AUC 0.83 here), so three kinds of
evidence are combined: whether the dense and the keyword (BM25) retrievers agree on the pages (a
question the documentation answers sends both to the same page; AUC 0.89 alone), the best dense
cosine, and the share of the question's content terms that occur in the retrieved passages. The
weights and the threshold are tuned on half of the public questions (`mde eval refusal`) and live
in settings (`infer.refusal_weights`, `infer.refusal_threshold`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from services.generation import answer_type, scope
from shared.platforms import elsewhere, platforms
from shared.schemas import SearchHit, SourceRef
from shared.settings import InferSettings

WORD = re.compile(r"[a-z0-9][a-z0-9+#]*(?:[._-][a-z0-9+#]+)*")
STOPWORDS = frozenset(["a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "cannot", "could", "did", "do", "does", "doing", "don", "done", "down", "during", "each", "either", "else", "ever", "every", "few", "for", "from", "further", "get", "gets", "getting", "go", "goes", "going", "got", "had", "has", "have", "having", "he", "her", "here", "hers", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "let", "like", "make", "makes", "many", "may", "me", "might", "more", "most", "much", "must", "my", "myself", "need", "needs", "no", "nor", "not", "now", "of", "off", "on", "once", "one", "only", "or", "other", "our", "ours", "out", "over", "own", "per", "please", "put", "really", "same", "say", "see", "set", "sets", "should", "so", "some", "still", "such", "sure", "take", "than", "that", "the", "their", "them", "then", "there", "these", "they", "thing", "things", "this", "those", "through", "to", "too", "try", "trying", "under", "until", "up", "us", "use", "used", "uses", "using", "very", "via", "want", "wants", "was", "way", "we", "well", "were", "what", "whats", "when", "where", "whether", "which", "while", "who", "whom", "why", "will", "with", "within", "without", "won", "would", "yes", "yet", "you", "your", "yours", "actually", "anyway", "basically", "best", "better", "bit", "correct", "currently", "exactly", "instead", "kind", "lot", "okay", "right", "something", "thanks", "tell", "way", "work", "works"])
SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ied", "ers", "er", "ed", "es", "s", "ly")
FEATURES = ("agreement", "dense", "coverage")


@dataclass
class Evidence:
    agreement: float  # Σ over pages of 1/rank(dense) · 1/rank(keyword)
    dense: float  # best dense cosine
    coverage: float  # share of content terms found in the passages
    missing: tuple[str, ...] = ()
    unstated: str | None = None  # what the question asks for ("a duration") that no passage states
    other_product: str | None = None  # the product the question is about, which the docs are not

    def values(self) -> list[float]:
        return [self.agreement, self.dense, self.coverage]

    def ruled_out(self, answer_types: bool = True) -> bool:
        """Refused by a rule before any score: about another product, or after something the
        passages do not state (when answer_types)."""
        return bool(self.other_product or (answer_types and self.unstated))


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


def _pages(hits: list[SearchHit], depth: int) -> list[str]:
    return list(dict.fromkeys(hit.url for hit in hits))[:depth]


def on_platform(question: str, hits: list[SearchHit]) -> list[SearchHit]:
    """The hits of pages about the platform the question names (all of them if it names none, or
    if none is about it: the index may hold no page about that platform)."""
    asked = platforms(question)
    return [hit for hit in hits if not elsewhere(asked, hit)] or hits if asked else hits


def page_agreement(dense: list[SearchHit], keyword: list[SearchHit], depth: int) -> float:
    """How strongly the two retrievers rank the same pages first (1.0: same top page)."""
    by_dense, by_keyword = _pages(dense, depth), _pages(keyword, depth)
    ranks = {page: i for i, page in enumerate(by_keyword, start=1)}
    return sum(1 / (i * ranks[page]) for i, page in enumerate(by_dense, start=1) if page in ranks)


def gather(question: str, hits: list[SearchHit], dense: list[SearchHit],
           keyword: list[SearchHit], depth: int, products: Sequence[str] = ()) -> Evidence:
    """The evidence for one question from its hybrid, dense and keyword hits."""
    terms = content_terms(question)
    text = passage_text(hits)
    missing = tuple(term for term in terms if stem(term) not in text)
    coverage = 1 - len(missing) / len(terms) if terms else 1.0
    # a question naming a platform is answered by that platform's pages: the retrievers agree
    # on those or not at all ("onboard a Linux server behind a proxy": BM25 led with Windows'
    # proxy pages, dense with the Linux ones)
    return Evidence(page_agreement(on_platform(question, dense)[:depth],
                                   on_platform(question, keyword)[:depth], depth),
                    max((hit.score for hit in dense), default=0.0), coverage, missing,
                    answer_type.unstated(question, [hit.text for hit in hits]),
                    scope.other_product(question, hits, products))


def score(evidence: Evidence, weights: list[float]) -> float:
    return sum(w * v for w, v in zip(weights, evidence.values()))


def decide(evidence: Evidence, infer: InferSettings) -> Verdict:
    """Refuse a question about another product than the docs', one after something the passages do
    not state, or one whose weighted evidence is below the tuned threshold."""
    if evidence.other_product:
        return Verdict(True, f"the question is about {evidence.other_product}, and none of the "
                             "closest sections is")
    if infer.refusal_answer_types and evidence.unstated:
        return Verdict(True, f"the question asks for {evidence.unstated} and none of the closest "
                             "passages states one")
    value = score(evidence, infer.refusal_weights)
    if value >= infer.refusal_threshold:
        return Verdict(False)
    detail = (f"evidence {value:.2f} < {infer.refusal_threshold:.2f} (page agreement "
              f"{evidence.agreement:.2f}, dense {evidence.dense:.2f}, terms found "
              f"{evidence.coverage:.0%}")
    if evidence.missing:
        detail += f"; not in the passages: {', '.join(evidence.missing[:6])}"
    return Verdict(True, detail + ")")


def nearest_pages(shown: list[SourceRef], count: int) -> list[SourceRef]:
    """The first `count` distinct pages of the shown sources, each linked at its best section and
    numbered from 1 (three sections of one page were three lines with the same title)."""
    distinct: dict[str, SourceRef] = {}
    for source in shown:
        distinct.setdefault(source.url.split("#")[0], source)
    return [source.model_copy(update={"n": n})
            for n, source in enumerate(list(distinct.values())[:count], 1)]


def refusal_text(nearest: list[SourceRef], index_empty: bool = False) -> str:
    """What the assistant says instead of an answer it would have to invent."""
    if index_empty:
        return ("The documentation index is empty, so I cannot answer from it yet. Run an update "
                "(`mde update`, or the Update button) and ask again.")
    text = "The documentation I have does not cover this, so I will not guess."
    if nearest:
        text += " The nearest pages are:\n" + "\n".join(f"[{s.n}] {s.title}: {s.url}" for s in nearest)
    return text
