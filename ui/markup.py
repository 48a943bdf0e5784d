"""Make service text safe for Streamlit's Markdown: nothing from a crawled page renders as HTML,
as a remote image, as LaTeX or as Markdown structure it did not mean."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

# CommonMark lets any ASCII punctuation be backslash-escaped; these mean something mid-line
INLINE_SPECIALS = re.compile(r"([\\`*_\[\]<>$~|!#&])")
BLOCK_START = re.compile(r"^([-+]|\d+(?=[.)]))")  # a line read as a list item
# outside code in an answer: HTML, remote images and LaTeX (links stay: they cite the sources)
ANSWER_SPECIALS = {"<": "&lt;", ">": "&gt;", "$": "\\$", "!": "\\!", "&": "&amp;"}


def escape_md(text: str | None) -> str:
    """Plain text for an inline Markdown context: every special character escaped, one line."""
    if not text:
        return ""
    escaped = INLINE_SPECIALS.sub(r"\\\1", " ".join(str(text).split()))
    return BLOCK_START.sub(lambda match: match.group(0) + "\\" if match.group(0)[0].isdigit()
                           else "\\" + match.group(0), escaped, count=1)


def safe_url(url: str | None) -> str | None:
    """An http(s) URL fit for a Markdown link target, or None."""
    if not url:
        return None
    parts = urlsplit(str(url).strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return quote(parts.geturl(), safe=":/?#[]@!$&'*+,;=%~")


def md_link(label: str | None, url: str | None) -> str:
    """`[label](url)` with the label escaped, or the escaped label alone when the URL is unsafe."""
    target = safe_url(url)
    text = escape_md(label) or escape_md(url) or "link"
    if target is None:
        return text
    return f"[{text}]({target.replace('(', '%28').replace(')', '%29')})"


class AnswerEscaper:
    """Escapes a streamed Markdown answer chunk by chunk, leaving code spans and fences alone."""

    def __init__(self) -> None:
        self.fence = 0  # length of the backtick run that opened the current code, 0 outside code
        self.ticks = 0  # backticks seen but not emitted yet (a run may continue in the next chunk)

    def feed(self, chunk: str) -> str:
        """The escaped text of this chunk (a trailing run of backticks waits for the next one)."""
        out: list[str] = []
        for char in chunk:
            if char == "`":
                self.ticks += 1
                continue
            out.append(self._close_run())
            out.append(char if self.fence else ANSWER_SPECIALS.get(char, char))
        return "".join(out)

    def flush(self) -> str:
        """Whatever is held back at the end of the stream."""
        return self._close_run()

    def _close_run(self) -> str:
        if not self.ticks:
            return ""
        run, self.ticks = self.ticks, 0
        if not self.fence:
            self.fence = run
        elif run == self.fence:
            self.fence = 0
        return "`" * run


def escape_answer(text: str) -> str:
    """A whole answer escaped as AnswerEscaper would stream it."""
    escaper = AnswerEscaper()
    return escaper.feed(text) + escaper.flush()
