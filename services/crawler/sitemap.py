"""Sitemaps: urlsets and sitemap indexes (gzipped or not), and what a `<lastmod>` proves."""

from __future__ import annotations

import logging
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from lxml import etree

log = logging.getLogger(__name__)

FetchBytes = Callable[[str], Awaitable[bytes | None]]


@dataclass
class Sitemap:
    """One parsed sitemap file: child sitemaps (an index) or page entries (a urlset)."""

    children: list[str] = field(default_factory=list)
    entries: dict[str, str | None] = field(default_factory=dict)  # loc -> lastmod text


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _gunzip(body: bytes, max_bytes: int) -> bytes:
    """Inflate at most max_bytes, so a small gzip bomb cannot fill memory."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    data = inflater.decompress(body, max_bytes)
    if inflater.unconsumed_tail:
        raise ValueError(f"sitemap inflates past {max_bytes} bytes")
    return data


def parse_sitemap(body: bytes, max_bytes: int = 50_000_000) -> Sitemap:
    """Parse a sitemap or sitemap index; broken XML gives what could be recovered."""
    if body[:2] == b"\x1f\x8b":
        body = _gunzip(body, max_bytes)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True,
                             huge_tree=False)
    try:
        root = etree.fromstring(body, parser)
    except (etree.XMLSyntaxError, ValueError):
        root = None
    sitemap = Sitemap()
    if root is None:
        return sitemap
    for node in root:
        values = {_local(child.tag): (child.text or "").strip() for child in node}
        loc = values.get("loc")
        if not loc:
            continue
        if _local(node.tag) == "sitemap":
            sitemap.children.append(loc)
        elif _local(node.tag) == "url":
            sitemap.entries[loc] = values.get("lastmod") or None
    return sitemap


def changed_before(lastmod: str | None) -> float | None:
    """The time by which a page with this `<lastmod>` had certainly changed, as a Unix time.

    A date alone has day granularity: a change at any moment that day is possible, so a page is
    proven current only by a fetch at or after the end of that day (UTC). None when unparsable.
    """
    if not lastmod:
        return None
    text = lastmod.strip().replace("Z", "+00:00")
    try:
        if len(text) == 10:  # YYYY-MM-DD
            day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
            return (day + timedelta(days=1)).timestamp()
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _prefer(children: list[str], locale: str | None) -> list[str]:
    """Child sitemaps naming our locale first: the live index lists every language."""
    if not locale:
        return children
    return sorted(children, key=lambda url: locale not in url.lower())


async def collect(fetch: FetchBytes, roots: list[str], max_sitemaps: int,
                  locale: str | None = None, max_bytes: int = 50_000_000) -> dict[str, str | None]:
    """Every page entry reachable from the root sitemaps, following indexes breadth-first."""
    queue, seen = list(dict.fromkeys(roots)), set[str]()
    entries: dict[str, str | None] = {}
    while queue and len(seen) < max_sitemaps:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        body = await fetch(url)
        if not body:
            continue
        try:
            sitemap = parse_sitemap(body, max_bytes)
        except (ValueError, zlib.error) as error:
            log.warning("sitemap %s unreadable: %s", url, error)
            continue
        entries.update(sitemap.entries)
        queue.extend(_prefer([c for c in sitemap.children if c not in seen], locale))
    if queue:
        log.info("sitemap limit of %d reached; %d not read", max_sitemaps, len(queue))
    return entries
