"""Wire models of answers: the generation service's requests, events and feedback (noun + role).
Re-exported by `shared.schemas`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Mode = Literal["rag", "ft", "rag_ft"]


class ChatTurn(BaseModel):
    role: Literal["user", "assistant"]
    content: str


class GenerateRequest(BaseModel):
    question: str = Field(min_length=1)
    mode: Mode | None = None
    history: list[ChatTurn] = []
    top_k: int | None = Field(None, ge=1, le=50)
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0  # prompt tokens served from the system prompt's KV cache


class Timings(BaseModel):
    retrieval_ms: float = 0.0
    evidence_ms: float = 0.0  # choosing the evidence (embedding its units included)
    time_to_first_token_ms: float
    tokens_per_sec: float
    total_ms: float
    queue_ms: float = 0.0  # waiting for the model thread to take the request


class SourceRef(BaseModel):
    """One numbered source of an answer: the `sources` event, `done` and /v1 responses."""

    n: int
    title: str
    heading_path: list[str] = []
    url: str  # url#anchor when the hit has an anchor
    anchor: str | None = None
    score: float
    text: str = ""
    anchors: list[str] = []  # anchors of the sections inside the passage (evidence links to them)
    platforms: list[str] = []  # the platforms the page declares ([] = it does not say)


class EvidenceItem(BaseModel):
    """A documented unit quoted verbatim from source [n]: the `evidence` event and `done`."""

    n: int
    kind: Literal["sentence", "item", "step", "row", "code"]
    text: str
    url: str  # url#anchor of the section it sits in
    language: str = ""  # a code block's language


class FeedbackRequest(BaseModel):
    """POST /feedback: a thumbs up or down on one answer, with an optional comment."""

    answer_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    vote: Literal["up", "down"]
    comment: str = Field("", max_length=2000)


class DroppedSentence(BaseModel):
    """A generated sentence left out of the final answer, and why."""

    text: str
    reason: str


class WeightsInfo(BaseModel):
    kind: Literal["base", "adapter", "merged"]
    version: str | None = None
    path: str
    loaded_at: float
    metrics: dict[str, float] = {}


class GenerateDone(BaseModel):
    text: str
    mode: Mode
    finish_reason: str | None
    usage: Usage
    timings: Timings
    weights: WeightsInfo
    refused: bool = False
    refusal_reason: str | None = None  # the evidence that decided a refusal
    sources: list[SourceRef] = []
    cited: list[int] = []  # source numbers the answer's text cites
    index_empty: bool = False
    answer_id: str = ""  # what POST /feedback votes on
    lead: str = ""  # the model's checked sentences (the streamed `token` text)
    evidence: list[EvidenceItem] = []
    lead_candidates: int = 1  # leads written side by side; the best supported one is shown
    lead_sentences: int = 0  # generated sentences kept (each passed the support check)
    lead_quoted: int = 0  # supported ones left out: they repeat words the evidence below quotes
    dropped: list[DroppedSentence] = []  # generated sentences the sources do not support
    stopped: str | None = None  # why the lead was cut short: repeated | sentences
    evidence_scoring: str = ""  # terms+embedding | terms (the embedding service did not answer)
