"""Sources and citations: which hits are shown, numbered [n]; URLs in an answer come only from them.

`UrlGuard` cleans the answer while it streams: it holds back a word that may still become a link or a
citation until the word is complete, then drops invented URLs and out-of-range [n] markers, so the
streamed text and the final text are the same.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from shared.schemas import SearchHit, SourceRef

URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'`)\]]+", re.IGNORECASE)
MD_LINK = re.compile(r"\[([^\[\]]*)\]\(\s*((?:https?://|www\.)[^\s)]*)\s*\)", re.IGNORECASE)
CITATION = re.compile(r"\[(\d{1,3})\]")
PAREN_URL = re.compile(r"\(\s*((?:https?://|www\.)[^\s)]*)\s*\)", re.IGNORECASE)
TRAILING = ".,;:!?"
MAX_HOLD = 300  # characters held back at most while a link may still be forming


def select_hits(hits: list[SearchHit], min_ratio: float) -> list[SearchHit]:
    """Hits that matter: the best one and those scoring at least min_ratio of it."""
    if not hits:
        return []
    best = max(hit.score for hit in hits)
    if best <= 0:
        return hits
    return [hit for hit in hits if hit.score >= best * min_ratio]


def link(hit: SearchHit) -> str:
    """url#anchor (the URL's own fragment wins)."""
    if hit.anchor and "#" not in hit.url:
        return f"{hit.url}#{hit.anchor}"
    return hit.url


def number_sources(hits: list[SearchHit], texts: list[str] | None = None) -> list[SourceRef]:
    """Numbered [1..n] sources, with the passage text as it went into the prompt."""
    return [SourceRef(n=i, title=hit.title, heading_path=hit.heading_path, url=link(hit),
                      anchor=hit.anchor, score=round(hit.score, 4),
                      text=texts[i - 1] if texts else hit.text)
            for i, hit in enumerate(hits, start=1)]


def _key(url: str) -> str:
    """A URL compared without scheme, fragment, query, trailing slash or case."""
    if url.lower().startswith("www."):
        url = "http://" + url
    parts = urlsplit(url.rstrip(TRAILING))
    return (parts.netloc.lower().removeprefix("www.") + parts.path.rstrip("/")).lower()


def allowed_urls(sources: list[SourceRef]) -> set[str]:
    return {_key(source.url) for source in sources}


def clean_text(text: str, allowed: set[str], count: int) -> str:
    """Drop links and URLs that are not sources' pages, and citations past the last source."""

    def unlink(match: re.Match[str]) -> str:
        return match.group(0) if _key(match.group(2)) in allowed else match.group(1)

    def drop_url(match: re.Match[str]) -> str:
        url = match.group(0)
        tail = url[len(url.rstrip(TRAILING)):]
        return url if _key(url) in allowed else tail

    def drop_citation(match: re.Match[str]) -> str:
        return match.group(0) if 1 <= int(match.group(1)) <= count else ""

    def drop_wrapped(match: re.Match[str]) -> str:
        return match.group(0) if _key(match.group(1)) in allowed else ""

    text = MD_LINK.sub(unlink, text)
    text = PAREN_URL.sub(drop_wrapped, text)
    text = URL.sub(drop_url, text)
    return CITATION.sub(drop_citation, text)


def _may_grow(word: str) -> bool:
    """Whether an unfinished word could still turn into a URL."""
    lowered = word.lower()
    if any(mark in lowered for mark in ("://", "www.", "http")):
        return True
    return any(lowered.endswith(prefix[:i]) for prefix in ("http", "www") for i in range(1, 4))


def _open_bracket(text: str) -> int:
    """Where an unfinished `[n]` or `[label](url)` starts, or -1."""
    start = text.rfind("[")
    if start == -1 or len(text) - start > MAX_HOLD:
        return -1
    rest = text[start:]
    if "]" not in rest or rest.endswith("]"):
        return start
    link_at = rest.find("](")
    return start if link_at != -1 and ")" not in rest[link_at:] else -1


class UrlGuard:
    """Streams text through `clean_text`, holding back what could still become a link or citation."""

    def __init__(self, sources: list[SourceRef]) -> None:
        self.allowed, self.count = allowed_urls(sources), len(sources)
        self.pending = ""

    def feed(self, piece: str) -> str:
        """The part of the text so far that is safe to show."""
        text = self.pending + piece
        cut = max(text.rfind(" "), text.rfind("\n"), text.rfind("\t")) + 1
        hold = cut if _may_grow(text[cut:]) and len(text) - cut <= MAX_HOLD else len(text)
        if "](" in text[hold:]:  # a held URL that is a link's target: hold its label too
            label = text.rfind("[", 0, hold + text[hold:].index("]("))
            hold = label if label != -1 and hold - label <= MAX_HOLD else hold
        bracket = _open_bracket(text)
        if bracket != -1:
            hold = min(hold, bracket)
        self.pending = text[hold:]
        return clean_text(text[:hold], self.allowed, self.count)

    def flush(self) -> str:
        rest, self.pending = self.pending, ""
        return clean_text(rest, self.allowed, self.count)


ATTRIBUTION_WORD = re.compile(r"[a-z0-9][a-z0-9_-]{3,}")
ENDINGS = ".!?"
TIE = 0.1  # overlaps this close to the best count as a tie


def _words(text: str) -> set[str]:
    return set(ATTRIBUTION_WORD.findall(text.lower()))


class Attributor:
    """Appends [n] to a finished sentence that cites nothing, naming the source that shares the most
    of its words (at least `min_overlap` of them, near-ties to the better-ranked source); code blocks
    are left alone."""

    def __init__(self, sources: list[SourceRef], min_overlap: float) -> None:
        self.sources = [(s.n, _words(" ".join([s.title, *s.heading_path, s.text]))) for s in sources]
        self.min_overlap = min_overlap
        self.sentence, self.held, self.code = "", "", False

    def feed(self, text: str) -> str:
        out: list[str] = []
        for char in text:
            if self.held and (char.isspace() or char in ENDINGS):
                if char in ENDINGS:
                    self.held += char
                    continue
                out.append(self._cite() + self.held + char)
                self.sentence, self.held = "", ""
                continue
            if self.held:
                out.append(self.held)
                self.sentence += self.held
                self.held = ""
            if char in ENDINGS and not self.code:
                self.held = char
            elif char == "\n":
                out.append(self._line_end() + char)
            else:
                self.sentence += char
                out.append(char)
        return "".join(out)

    def flush(self) -> str:
        ending = (self._cite() + self.held) if self.held or not self.code else self.held
        self.held, self.sentence = "", ""
        return ending

    def _line_end(self) -> str:
        line = self.sentence.strip()
        if line.startswith("```"):
            self.code = not self.code
            self.sentence = ""
            return ""
        ending = "" if self.code else self._cite()
        self.sentence = ""
        return ending

    def _cite(self) -> str:
        if self.code or CITATION.search(self.sentence):
            return ""
        words = _words(self.sentence)
        if len(words) < 3 or not self.sources:
            return ""
        overlaps = [(len(words & known) / len(words), n) for n, known in self.sources]
        best = max(overlap for overlap, _ in overlaps)
        if best < self.min_overlap:
            return ""
        # near-ties go to the better-ranked source: the first hit is the question's page most often
        return f" [{min(n for overlap, n in overlaps if overlap >= best - TIE)}]"


def cited(text: str, count: int) -> list[int]:
    """Source numbers the text cites, in order of first appearance."""
    seen: list[int] = []
    for match in CITATION.finditer(text):
        number = int(match.group(1))
        if 1 <= number <= count and number not in seen:
            seen.append(number)
    return seen


def footer(sources: list[SourceRef]) -> str:
    """The numbered source list appended to an answer for clients that show only text."""
    if not sources:
        return ""
    lines = [f"[{s.n}] {' > '.join(s.heading_path) or s.title}: {s.url}" for s in sources]
    return "\n\nSources:\n" + "\n".join(lines)
