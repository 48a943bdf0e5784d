"""What the UI keeps of an answer: numbered sources, the `done` summary, and how to caption them.

Everything here reads the generation service's events defensively: a missing optional field gives a
blank, never an exception.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Source:
    number: int
    title: str
    heading_path: list[str]
    url: str | None
    anchor: str | None
    score: float | None
    text: str

    @property
    def link(self) -> str | None:
        """url#anchor on the live docs (the URL's own fragment wins)."""
        if not self.url:
            return None
        if self.anchor and "#" not in self.url:
            return f"{self.url}#{self.anchor.lstrip('#')}"
        return self.url

    @property
    def heading(self) -> str:
        """The heading path below the page title, joined for display."""
        path = [part for part in self.heading_path if part and part != self.title]
        return " › ".join(path)


@dataclass
class Evidence:
    """A documented unit quoted verbatim from source [n]."""

    number: int
    kind: str
    text: str
    url: str | None
    language: str = ""


def evidence_from(data: dict[str, Any]) -> list[Evidence]:
    """The `evidence` event's (or `done`'s) items, whatever optional fields they lack."""
    items = data.get("evidence") or []
    if not isinstance(items, list):
        return []
    return [Evidence(as_int(item.get("n"), 0), str(item.get("kind") or "sentence"),
                     str(item.get("text") or ""), _first(item, "url"),
                     str(item.get("language") or ""))
            for item in items if isinstance(item, dict) and item.get("text")]


@dataclass
class Answer:
    """One assistant turn as shown in the chat."""

    text: str = ""
    sources: list[Source] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    done: dict[str, Any] = field(default_factory=dict)
    index_empty: bool = False
    error: str | None = None

    @property
    def answer_id(self) -> str:
        return str(self.done.get("answer_id") or "")

    @property
    def refused(self) -> bool:
        return bool(self.done.get("refused"))

    @property
    def cited(self) -> set[int]:
        """Source numbers the answer's text cites (as the service counted them)."""
        numbers = self.done.get("cited") or []
        return {n for n in numbers if isinstance(n, int)} if isinstance(numbers, list) else set()


def _first(item: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if item.get(key) not in (None, ""):
            return item[key]
    return None


def as_int(value: Any, default: int = 0) -> int:
    """A count from a service, or the default when it is missing or not a number."""
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return default


def as_dict(value: Any) -> dict[str, Any]:
    """An object from a service, or {} when it is something else."""
    return value if isinstance(value, dict) else {}


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def source_from(item: dict[str, Any], position: int) -> Source:
    """One hit of the `sources` event, whatever optional fields it lacks."""
    path = item.get("heading_path") or []
    if isinstance(path, str):
        path = [part.strip() for part in path.replace("›", ">").split(">")]
    elif not isinstance(path, list):
        path = []
    title = str(_first(item, "title", "page_title") or "")
    return Source(
        number=as_int(_first(item, "n", "number", "index", "citation"), position + 1),
        title=title or (path[0] if path else "Untitled page"),
        heading_path=[str(part) for part in path],
        url=_first(item, "url", "link", "href"),
        anchor=_first(item, "anchor"),
        score=_float(item.get("score")),
        text=str(_first(item, "text", "passage", "content") or ""),
    )


def sources_from(data: dict[str, Any]) -> list[Source]:
    """The numbered sources of a `sources` event ({"sources": [...]}, {"hits": [...]} or a list)."""
    items = _first(data, "sources", "hits", "value") or []
    if not isinstance(items, list):
        return []
    return [source_from(item, i) for i, item in enumerate(items) if isinstance(item, dict)]


def timings_caption(done: dict[str, Any]) -> str:
    """`retrieval 41 ms · first token 0.9 s · 14.2 tok/s · 37 tokens · rag · adapter v3`."""
    timings = as_dict(done.get("timings"))
    parts = []
    if (retrieval := _float(timings.get("retrieval_ms"))) is not None and done.get("mode") != "ft":
        parts.append(f"retrieval {retrieval:.0f} ms")
    if (first := _float(timings.get("time_to_first_token_ms"))) is not None:
        parts.append(f"first token {duration(first / 1000)}")
    if (speed := _float(timings.get("tokens_per_sec"))) is not None:
        parts.append(f"{speed:.1f} tok/s")
    tokens = as_dict(done.get("usage")).get("completion_tokens")
    if tokens is not None:
        parts.append(f"{tokens} tokens")
    if done.get("mode"):
        parts.append(str(done["mode"]))
    if weights := weights_label(done.get("weights")):
        parts.append(weights)
    return " · ".join(parts)


def weights_label(weights: Any) -> str:
    """`base weights`, `adapter v20250101`, `merged v3`."""
    if not isinstance(weights, dict) or not weights.get("kind"):
        return ""
    kind = str(weights["kind"])
    version = weights.get("version")
    return f"{kind} {version}" if version else f"{kind} weights"


def duration(seconds: float | None) -> str:
    """`850 ms`, `4.2 s`, `3 min 5 s`, `2 h 10 min`."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def ago(timestamp: Any, now: float | None = None) -> str:
    """`just now`, `5 min ago`, `3 h ago`, `2 days ago`, `never`."""
    moment = _float(timestamp)
    if not moment:
        return "never"
    seconds = (now or time.time()) - moment
    if seconds < 0:
        return "in " + duration(-seconds)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"
