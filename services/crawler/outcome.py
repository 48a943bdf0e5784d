"""What a crawl does with one URL and what it makes of the answer: pure rules, no I/O.

Each page ends a crawl as new | changed | unchanged | deleted | failed; `detail` says how that was
decided (lastmod, not_modified, same_hash, fetched, gone, known_gone, error ...).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from urllib.parse import urljoin

from services.crawler.document import parse
from services.crawler.fetch import Answer
from services.crawler.store import StoredPage
from services.crawler.urls import normalise, page_id
from shared.schemas import PageInfo

DAY = 86400.0
GONE = (404, 410)


@dataclass
class Plan:
    """`skip` (decided without a request, with the state to record) or fetch with these headers."""

    skip: str | None = None  # detail of a skip: "lastmod" or "known_gone"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    info: PageInfo
    detail: str
    checked_at: float | None = None  # set when the site gave a definite answer
    html: bytes | None = None  # the body as UTF-8, when one was fetched
    links: list[str] | None = None  # None keeps the stored links


def has_content(stored: StoredPage | None) -> bool:
    return bool(stored and stored.info.content_hash and stored.info.state != "deleted")


def plan(stored: StoredPage | None, changed_by: float | None, in_sitemap: bool, now: float,
         revalidate_days: int, full: bool) -> Plan:
    """Skip, ask conditionally, or fetch outright.

    `changed_by` is the sitemap's proof of freshness (see sitemap.changed_before): a page checked
    after it needs no request, unless the last check is older than `revalidate_days`.
    """
    if full or stored is None:
        return Plan()
    recent = stored.checked_at is not None and now - stored.checked_at < revalidate_days * DAY
    if has_content(stored) and recent and changed_by is not None:
        if stored.checked_at is not None and stored.checked_at >= changed_by:
            return Plan(skip="lastmod")
    if recent and stored.info.status in GONE and not in_sitemap:
        return Plan(skip="known_gone")  # a dead link is rechecked every revalidate_days
    headers = {}
    if has_content(stored):
        if stored.info.etag:
            headers["If-None-Match"] = stored.info.etag
        if stored.info.last_modified:
            headers["If-Modified-Since"] = stored.info.last_modified
    return Plan(headers=headers)


def skipped(stored: StoredPage, detail: str, crawl_id: str) -> Outcome:
    """The outcome of a page decided without a request: it stays as it was."""
    state = "unchanged" if detail == "lastmod" else stored.info.state
    info = stored.info.model_copy(update={"state": state, "crawl_id": crawl_id})
    return Outcome(info, detail)


def crashed(url: str, stored: StoredPage | None, crawl_id: str, error: Exception) -> Outcome:
    """A page whose handling raised: failed, keeping what was stored, so the crawl goes on."""
    base = stored.info if stored else PageInfo(id=page_id(url), url=url, state="failed")
    message = f"internal error: {type(error).__name__}: {error}"
    return Outcome(base.model_copy(update={"state": "failed", "crawl_id": crawl_id,
                                           "error": message}), "error")


def resolve_links(hrefs: list[str], base: str, strip: list[str]) -> list[str]:
    """Absolute normalised links, in page order, without repeats."""
    found = (normalise(href, base, strip) for href in hrefs)
    return list(dict.fromkeys(url for url in found if url))


def classify(url: str, stored: StoredPage | None, answer: Answer, crawl_id: str, now: float,
             strip: list[str]) -> Outcome:
    """Turn an answer into the page's state for this crawl."""
    base = stored.info if stored else PageInfo(id=page_id(url), url=url, state="new")
    info = base.model_copy(update={"crawl_id": crawl_id, "final_url": answer.final_url,
                                   "status": answer.status, "error": answer.error})
    if answer.status == 304 and has_content(stored):
        info = _refresh_validators(info, answer)
        return Outcome(info.model_copy(update={"state": "unchanged"}), "not_modified", now)
    if answer.status in GONE:
        state = "deleted" if stored and stored.info.content_hash else "failed"
        return Outcome(info.model_copy(update={"state": state}), "gone", now)
    if answer.error or answer.status != 200:
        error = answer.error or f"unexpected HTTP {answer.status}"
        return Outcome(info.model_copy(update={"state": "failed", "error": error}), "error")
    return _fetched(info, stored, answer, now, strip)


def _refresh_validators(info: PageInfo, answer: Answer) -> PageInfo:
    return info.model_copy(update={
        "etag": answer.headers.get("etag") or info.etag,
        "last_modified": answer.headers.get("last-modified") or info.last_modified})


def _fetched(info: PageInfo, stored: StoredPage | None, answer: Answer, now: float,
             strip: list[str]) -> Outcome:
    """A 200 with a body: new, changed, or unchanged by content hash."""
    doc = parse(answer.body, answer.content_type)
    if not doc.text.strip():
        return Outcome(info.model_copy(update={"state": "failed", "error": "empty body"}),
                       "empty", now)
    html = doc.text.encode("utf-8")
    digest = hashlib.sha256(html).hexdigest()
    base = urljoin(answer.final_url, doc.base) if doc.base else answer.final_url
    links = resolve_links(doc.links, base, strip)
    info = _refresh_validators(info, answer).model_copy(update={
        "title": doc.title, "content_hash": digest, "fetched_at": now, "error": None,
        "canonical_url": urljoin(answer.final_url, doc.canonical).split("#")[0]
        if doc.canonical else None})
    if has_content(stored) and stored is not None and stored.info.content_hash == digest:
        return Outcome(info.model_copy(update={"state": "unchanged"}), "same_hash", now,
                       html=html, links=links)
    state = "changed" if has_content(stored) else "new"
    return Outcome(info.model_copy(update={"state": state}), "fetched", now, html=html,
                   links=links)
