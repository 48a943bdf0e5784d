"""Wire models shared by services and clients (noun + role)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Mode = Literal["rag", "ft", "rag_ft"]


class EmbedRequest(BaseModel):
    texts: list[str] = Field(min_length=1)
    kind: Literal["query", "passage"] = "passage"


class EmbedResponse(BaseModel):
    vectors: list[list[float]]
    dim: int
    model: str


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


class Timings(BaseModel):
    retrieval_ms: float = 0.0
    time_to_first_token_ms: float
    tokens_per_sec: float
    total_ms: float


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
