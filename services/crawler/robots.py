"""robots.txt rules for one host, read with Protego (it understands `*` and `$` wildcards)."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

from protego import Protego

from shared.errors import UpstreamError

log = logging.getLogger(__name__)


class RobotsUnavailableError(UpstreamError):
    """robots.txt could not be read (5xx or network): RFC 9309 says assume all is disallowed."""


def robots_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", ""))


class RobotsRules:
    """Answers `allowed(url)` for the configured User-Agent; `respect=False` allows everything."""

    def __init__(self, text: str | None, user_agent: str, respect: bool = True) -> None:
        self.user_agent = user_agent
        self.respect = respect
        self.parser = Protego.parse(text) if text else None

    @classmethod
    def from_response(cls, status: int | None, text: str, user_agent: str,
                      respect: bool = True) -> "RobotsRules":
        """Rules from a robots.txt answer: 2xx parsed, 4xx means no rules, anything else refuses."""
        if status is not None and 200 <= status < 300:
            return cls(text, user_agent, respect)
        if not respect or (status is not None and 400 <= status < 500):
            log.info("robots.txt answered %s: no rules", status)
            return cls(None, user_agent, respect)
        raise RobotsUnavailableError(f"robots.txt unreachable (status {status}): refusing to crawl")

    def allowed(self, url: str) -> bool:
        """True when the URL may be requested.

        A normalised URL has no trailing slash, so the slashed form is checked too: a rule
        `Disallow: /private/` must also keep us off `/private`.
        """
        if not self.respect or self.parser is None:
            return True
        if not self.parser.can_fetch(url, self.user_agent):
            return False
        parts = urlsplit(url)
        if not parts.query and not parts.path.endswith("/"):
            slashed = urlunsplit((parts.scheme, parts.netloc, parts.path + "/", "", ""))
            return bool(self.parser.can_fetch(slashed, self.user_agent))
        return True

    @property
    def sitemaps(self) -> list[str]:
        return list(self.parser.sitemaps) if self.parser else []

    @property
    def crawl_delay(self) -> float:
        """The host's Crawl-delay for us, 0 when none is given (or robots are not respected)."""
        if not self.respect or self.parser is None:
            return 0.0
        return float(self.parser.crawl_delay(self.user_agent) or 0.0)
