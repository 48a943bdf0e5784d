"""Answer types: a question that asks for a price, a duration or a version is answered only by text
that states one. When none of the evidence does, the documentation does not answer it, however close
its topic ("how long does troubleshooting mode stay on" over pages that state no duration for it).
"""

from __future__ import annotations

import re

NUMBER = r"(?:\d+(?:[.,]\d+)*|an?|one|two|three|four|five|six|seven|eight|nine|ten|twelve|thirty)"
# (what is asked, how a question asks for it, how a text states one)
TYPES = (
    ("a price",
     re.compile(r"[$€£]|\b(euros?|dollars?|usd|eur|gbp)\b|\bhow much\b[^?.]*\b(cost|pay|charge)",
                re.IGNORECASE),
     re.compile(r"[$€£]\s?\d|\b\d[\d.,]*\s?(usd|eur|euros?|dollars?|gbp)\b", re.IGNORECASE)),
    ("a duration",
     re.compile(r"\bhow (long|often|soon|frequently)\b", re.IGNORECASE),
     re.compile(rf"\b{NUMBER}[\s-]?(ms|milliseconds?|sec|seconds?|min|minutes?|hrs?|hours?|days?|"
                r"weeks?|months?|years?)\b|"
                # the docs also say "it can take a few minutes", "within seconds"
                r"\b(a few|few|several|many|a couple of|within|in) "
                r"(seconds|minutes|hours|days|weeks|months)\b|"
                r"\b(hourly|daily|weekly|monthly|yearly|annually|immediately|instantly|"
                r"real[ -]time|(once |twice )?(a|per|every) (second|minute|hour|day|week|month))\b",
                re.IGNORECASE)),
    ("a version",
     re.compile(r"\b(which|what|oldest|earliest|latest|minimum|lowest)\b[^?.]{0,30}\bversions?\b",
                re.IGNORECASE),
     re.compile(r"\b\d+(\.\d+)+\b|\bversion \d+|\b(windows|server|ios|ipados|android|macos|"
                r"kernel|rhel|ubuntu|debian)\s?\d+|"
                # macOS by name, and "the three most recent major releases"
                r"\b(big sur|monterey|ventura|sonoma|sequoia|tahoe)\b|"
                r"\b(two|three|four|\d) most recent (major )?(releases|versions)\b",
                re.IGNORECASE)),
)


def asked(question: str) -> list[tuple[str, re.Pattern[str]]]:
    """What the question asks for, each with the pattern of text that states one."""
    return [(name, states) for name, asks, states in TYPES if asks.search(question)]


def unstated(question: str, texts: list[str]) -> str | None:
    """What the question asks for that none of the texts states ("a duration"), or None."""
    joined = "\n".join(texts)
    return next((name for name, states in asked(question) if not states.search(joined)), None)
