"""URL identity and crawl scope: one normalised form per page, and why a URL is out of bounds."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from shared.settings import CrawlSettings

DEFAULT_PORTS = {"http": 80, "https": 443}
LOCALE = re.compile(r"^/([a-z]{2}-[a-z]{2,4})(?:/|$)", re.IGNORECASE)


def netloc_of(host: str, port: int | None, scheme: str) -> str:
    """host[:port] in lower case, without the scheme's default port."""
    host = host.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return host if port in (None, DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"


def _keep_param(name: str, strip: Iterable[str]) -> bool:
    name = name.lower()
    for pattern in strip:
        pattern = pattern.lower()
        if name == pattern or (pattern.endswith("*") and name.startswith(pattern[:-1])):
            return False
    return True


def normalise(url: str, base: str | None = None,
              strip_params: Iterable[str] = ("view",)) -> str | None:
    """The one form of a URL that identifies a page, or None when it is not a web URL.

    Drops the fragment, the listed query parameters and a trailing slash; lowercases scheme and
    host; sorts what is left of the query so `page`, `page#x`, `page/` and `page?view=x` are one.
    """
    try:
        parts = urlsplit(urljoin(base, url.strip()) if base else url.strip())
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            return None
        netloc = netloc_of(parts.hostname, parts.port, scheme)
    except ValueError:  # bad port or bracket in a scraped href
        return None
    path = re.sub(r"/{2,}", "/", parts.path or "/")
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    strip = list(strip_params)
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                   if _keep_param(k, strip))
    return urlunsplit((scheme, netloc, path, urlencode(query), ""))


def page_id(url: str) -> str:
    """The page's id and raw-file name: a hash, so nothing from the URL becomes a path."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]


def locale_of(path: str) -> str | None:
    match = LOCALE.match(path)
    return match.group(1).lower() if match else None


@dataclass(frozen=True)
class Scope:
    """Which normalised URLs a crawl may visit; `reason` says why one may not."""

    domain: str
    prefix: str
    language: str | None
    same_language_only: bool
    exclude: tuple[str, ...]

    @classmethod
    def from_settings(cls, crawl: CrawlSettings) -> "Scope":
        base = urlsplit(crawl.base_url)
        domain = crawl.allowed_domain.lower()
        if "://" in domain:  # tolerate a URL where a host was meant
            domain = urlsplit(domain).netloc
        host, _, port = domain.partition(":")
        domain = netloc_of(host, int(port) if port.isdigit() else None, base.scheme or "https")
        prefix = "/" + crawl.allowed_path_prefix.strip("/") + "/"
        return cls(domain, prefix.replace("//", "/"), locale_of(base.path or "/"),
                   crawl.same_language_only, tuple(p for p in crawl.exclude_url_patterns if p))

    def reason(self, url: str) -> str | None:
        """None when the normalised URL is in scope, else a short reason."""
        parts = urlsplit(url)
        if parts.netloc != self.domain:
            return "other_host"
        path = parts.path
        if self.same_language_only and self.language:
            locale = locale_of(path)
            if locale and locale != self.language:
                return "other_language"
        if not (path + "/").startswith(self.prefix):
            return "outside_prefix"
        if any(pattern in url for pattern in self.exclude):
            return "excluded_pattern"
        return None


class QueryBudget:
    """At most `limit` query-string variants per path, so an endless pager stops."""

    def __init__(self, limit: int, known: Iterable[str] = ()) -> None:
        self.limit = limit
        self.variants: Counter[str] = Counter()
        for url in known:
            self.admit(url)

    def admit(self, url: str) -> bool:
        parts = urlsplit(url)
        if not parts.query:
            return True
        key = parts.netloc + parts.path
        if self.variants[key] >= self.limit:
            return False
        self.variants[key] += 1
        return True
