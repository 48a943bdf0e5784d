"""Everything decided before the model writes, as forward stages, each a function of the last:

retrieve → choose sources → extract evidence → decide refusal → build the prompt.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field

from services.generation import evidence, prompting, refusal
from services.generation.retrieval import EmbeddingClient, RetrievalClient
from services.generation.weights import LoadedWeights
from shared import prompts
from shared.schemas import ChatTurn, EvidenceItem, Mode, SearchResponse, SourceRef
from shared.platforms import platforms
from shared.settings import Settings
from shared.terms import content_terms

NEAREST = 3  # pages listed with a refusal
# a question naming a platform: the refusal compares the retrievers' first `refusal_depth` hits on
# that platform's pages, so it reads this many times as many
PLATFORM_ROOM = 4


@dataclass
class Retrieved:
    found: SearchResponse
    dense: SearchResponse
    keyword: SearchResponse
    stats: evidence.TermStats
    ms: float


@dataclass
class Extracted:
    sources: list[SourceRef]
    items: list[EvidenceItem]
    scoring: str  # terms+embedding | terms
    ms: float


@dataclass
class Prepared:
    """What generation starts from."""

    mode: Mode
    weights: LoadedWeights
    prompt: list[int] = field(default_factory=list)
    prefix: tuple[int, ...] = ()
    sources: list[SourceRef] = field(default_factory=list)
    evidence: list[EvidenceItem] = field(default_factory=list)
    verdict: refusal.Verdict = field(default_factory=lambda: refusal.Verdict(False))
    index_empty: bool = False
    retrieval_ms: float = 0.0
    evidence_ms: float = 0.0
    evidence_scoring: str = ""
    copy_bias: dict[int, float] = field(default_factory=dict)  # the evidence's tokens, for the lead
    copy_follow: dict[int, tuple[int, ...]] = field(default_factory=dict)  # what follows each there


async def retrieve(client: RetrievalClient, query: str, question: str, top_k: int,
                   depth: int) -> Retrieved:
    """Hybrid hits for the answer, dense and keyword hits for refusal, corpus term frequencies."""
    started = time.perf_counter()
    terms = content_terms(question)
    fetch = depth * PLATFORM_ROOM if platforms(question) else depth
    found, dense, keyword, stats = await asyncio.gather(
        client.search(query, top_k), client.search(query, fetch, "dense"),
        client.search(query, fetch, "sparse"), client.terms(terms))
    return Retrieved(found, dense, keyword, evidence.TermStats(stats.documents, stats.frequencies),
                     (time.perf_counter() - started) * 1000)


async def extract(question: str, shown: list[SourceRef], stats: evidence.TermStats,
                  embedder: EmbeddingClient, settings: Settings) -> Extracted:
    """The evidence units for the question from the shown sources."""
    started = time.perf_counter()
    config = settings.infer.evidence
    if not config.enabled or not shown:
        return Extracted(shown, [], "", 0.0)
    found = evidence.candidates(shown)
    similarities = None
    if config.semantic_weight:
        embedded = evidence.most_lexical(question, found, stats, config.embed_units)
        similarities = await embedder.similarities(question, [c.unit.text for c in embedded])
        for candidate, similarity in zip(embedded, similarities or []):
            candidate.semantic = similarity
    items = evidence.choose(question, found, stats, config)
    scoring = "terms+embedding" if similarities is not None else "terms"
    return Extracted(shown, items, scoring, (time.perf_counter() - started) * 1000)


def decide(retrieved: Retrieved, question: str, settings: Settings) -> refusal.Verdict:
    if retrieved.found.index_empty:
        return refusal.Verdict(True, "the index is empty")
    gathered = refusal.gather(question, retrieved.found.hits, retrieved.dense.hits,
                              retrieved.keyword.hits, settings.infer.refusal_depth,
                              settings.infer.refusal_other_products)
    return refusal.decide(gathered, settings.infer)


def render(weights: LoadedWeights, messages: list[dict[str, str]],
           system: str) -> tuple[list[int], tuple[int, ...]]:
    """Prompt tokens, and the prefix they share with the bare system prompt (cacheable)."""
    tokenizer = weights.tokenizer
    prompt = list(tokenizer.apply_chat_template(messages, add_generation_prompt=True))
    alone = tokenizer.apply_chat_template([{"role": "system", "content": system}])
    shared = next((i for i, (a, b) in enumerate(zip(prompt, alone)) if a != b), len(alone))
    return prompt, tuple(prompt[:shared])


def blocks(extracted: Extracted, weights: LoadedWeights, budget: int) -> list[tuple[str, str]]:
    """The documentation the model reads: each source's evidence (or, with evidence off, its
    passage, under the token budget)."""
    shown = extracted.sources
    headers = [prompts.source_header(s.n, s.heading_path, s.title) for s in shown]
    if extracted.items:
        texts = {s.n: "\n".join(i.text for i in extracted.items if i.n == s.n) for s in shown}
        return [(header, texts[s.n]) for header, s in zip(headers, shown) if texts[s.n]]
    fitted = prompting.fit_sources([s.text for s in shown], headers, weights.tokenizer, budget)
    return list(zip(headers, fitted))


def build(prepared: Prepared, extracted: Extracted, history: list[ChatTurn], question: str,
          settings: Settings) -> None:
    """The rag prompt over the evidence."""
    system = prompting.read_prompt(settings.model.system_prompt_file)
    documentation = blocks(extracted, prepared.weights, settings.infer.context_tokens)
    messages = prompts.rag_messages(system, documentation, prompting.turns(history), question)
    prepared.prompt, prepared.prefix = render(prepared.weights, messages, system)
    prepared.copy_bias = copy_bias(extracted.items, prepared.weights,
                                   settings.infer.evidence.copy_bias)
    if settings.infer.evidence.copy_follow_bias > 0:
        prepared.copy_follow = copy_follow(extracted.items, prepared.weights)


def copy_bias(items: list[EvidenceItem], weights: LoadedWeights, bias: float) -> dict[int, float]:
    """`bias` for every token of the evidence's text (none without evidence, or at 0)."""
    if not items or bias <= 0:
        return {}
    tokenizer = weights.tokenizer
    tokens = set(tokenizer.encode("\n".join(item.text for item in items)))
    return {token: bias for token in tokens - set(tokenizer.all_special_ids)}


def copy_follow(items: list[EvidenceItem], weights: LoadedWeights) -> dict[int, tuple[int, ...]]:
    """For each token of the evidence, the tokens that follow it there (in the text as the prompt
    holds it, and line by line with a leading space, as a sentence of the lead would start)."""
    if not items:
        return {}
    tokenizer = weights.tokenizer
    special = set(tokenizer.all_special_ids)
    text = "\n".join(item.text for item in items)
    follow: dict[int, set[int]] = {}
    for piece in [text, " " + text, *(" " + line for line in text.split("\n") if line.strip())]:
        ids = [token for token in tokenizer.encode(piece) if token not in special]
        for token, following in itertools.pairwise(ids):
            follow.setdefault(token, set()).add(following)
    return {token: tuple(sorted(after)) for token, after in follow.items()}
