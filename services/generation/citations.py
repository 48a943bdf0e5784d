"""Citations and URLs in an answer: a URL survives only when it is a source's page or stands in a
source's text (connectivity endpoints and proxy examples are documented facts); `[n]` must name a
shown source. The final answer's text and its numbered source list are composed here.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from shared.schemas import EvidenceItem, SourceRef

URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'`)\]]+", re.IGNORECASE)
MD_LINK = re.compile(r"\[([^\[\]]*)\]\(\s*((?:https?://|www\.)[^\s)]*)\s*\)", re.IGNORECASE)
CITATION = re.compile(r"\[(\d{1,3})\]")
PAREN_URL = re.compile(r"\(\s*((?:https?://|www\.)[^\s)]*)\s*\)", re.IGNORECASE)
TRAILING = ".,;:!?"


def _key(url: str) -> str:
    """A URL compared without scheme, fragment, query, trailing slash or case."""
    if url.lower().startswith("www."):
        url = "http://" + url
    parts = urlsplit(url.rstrip(TRAILING))
    return (parts.netloc.lower().removeprefix("www.") + parts.path.rstrip("/")).lower()


def allowed_urls(sources: list[SourceRef]) -> set[str]:
    """The sources' pages and every URL written in their passages."""
    allowed = {_key(source.url) for source in sources}
    for source in sources:
        allowed.update(_key(url) for url in URL.findall(source.text))
    return allowed


def clean_text(text: str, allowed: set[str], count: int) -> str:
    """Drop links and URLs the sources do not hold, and citations past the last source."""

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


def cited(text: str, count: int) -> list[int]:
    """Source numbers the text cites, in order of first appearance."""
    seen: list[int] = []
    for match in CITATION.finditer(text):
        number = int(match.group(1))
        if 1 <= number <= count and number not in seen:
            seen.append(number)
    return seen


def footer(sources: list[SourceRef]) -> str:
    """The numbered source list at the end of an answer, for clients that show only text."""
    if not sources:
        return ""
    lines = [f"[{s.n}] {' > '.join(s.heading_path) or s.title}: {s.url}" for s in sources]
    return "\n\nSources:\n" + "\n".join(lines)


EVIDENCE_MARK = "From the documentation:"


def evidence_blocks(items: list[EvidenceItem]) -> list[str]:
    """Evidence as Markdown, one block per run of the same source: prose quoted, tables as they
    are, code fenced; each block ends with its [n]."""
    blocks: list[str] = []
    run: list[EvidenceItem] = []
    for item in [*items, None]:
        if run and (item is None or item.n != run[-1].n or item.kind in ("code", "row")
                    or run[-1].kind in ("code", "row")):
            blocks.append(_block(run))
            run = []
        if item is not None:
            run.append(item)
    return blocks


def _block(run: list[EvidenceItem]) -> str:
    first = run[0]
    if first.kind == "code":
        return f"```{first.language}\n{first.text}\n```\n[{first.n}]"
    if first.kind == "row":
        return f"{first.text}\n\n[{first.n}]"
    lines = [line for item in run for line in item.text.strip().splitlines()]
    return "\n".join(f"> {line}" for line in lines) + f" [{first.n}]"


def compose(lead: str, evidence: list[EvidenceItem], sources: list[SourceRef]) -> str:
    """The final answer: the lead, the documented evidence with its [n], the numbered sources."""
    parts = [lead.strip()] if lead.strip() else []
    if evidence:
        parts.append(EVIDENCE_MARK + "\n\n" + "\n\n".join(evidence_blocks(evidence)))
    return ("\n\n".join(parts) + footer(sources)).lstrip("\n")
