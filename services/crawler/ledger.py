"""Crawl runs and their frontier, kept in the page store's SQLite file.

The frontier is written as URLs are discovered, and a URL counts as done once its page has an
outcome for the crawl, so a crawl killed mid-way resumes without re-fetching what it stored.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time

from services.crawler.store import PageStore
from shared.schemas import CrawlInfo, CrawlList

SCHEMA = """
CREATE TABLE IF NOT EXISTS crawls (
    id TEXT PRIMARY KEY, status TEXT NOT NULL, full INTEGER NOT NULL, started_at REAL NOT NULL,
    finished_at REAL, skipped TEXT, requests INTEGER DEFAULT 0, complete INTEGER DEFAULT 0,
    message TEXT);
CREATE TABLE IF NOT EXISTS frontier (
    crawl_id TEXT NOT NULL, url TEXT NOT NULL, depth INTEGER NOT NULL,
    PRIMARY KEY (crawl_id, url));
"""
MAX_ERRORS_SHOWN = 200


def new_crawl_id() -> str:
    """Sortable by start time, unique across hosts."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


class CrawlLedger:
    """Crawl rows (status, counts, skips) and the frontier of each running crawl."""

    def __init__(self, store: PageStore) -> None:
        self.store = store
        with store.lock:
            store.db.executescript(SCHEMA)

    def interrupted(self) -> tuple[str, bool] | None:
        """(id, full) of a crawl left `running` by a dead process; call only holding the lock."""
        rows = self.store.query("SELECT id, full FROM crawls WHERE status = 'running' "
                                "ORDER BY started_at DESC LIMIT 1")
        return (rows[0]["id"], bool(rows[0]["full"])) if rows else None

    def start(self, full: bool) -> str:
        crawl_id = new_crawl_id()
        with self.store.transaction() as db:
            db.execute("INSERT INTO crawls (id, status, full, started_at) "
                       "VALUES (?, 'running', ?, ?)", (crawl_id, int(full), time.time()))
        return crawl_id

    def abandon(self, crawl_id: str, message: str) -> None:
        self.finish(crawl_id, "abandoned", complete=False, message=message)

    def push(self, crawl_id: str, items: list[tuple[str, int]]) -> None:
        """Add discovered URLs (url, depth); ones already known to this crawl are ignored."""
        if not items:
            return
        with self.store.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO frontier VALUES (?, ?, ?)",
                           [(crawl_id, url, depth) for url, depth in items])

    def pending(self, crawl_id: str) -> list[tuple[str, int]]:
        """Frontier URLs without an outcome in this crawl, breadth-first."""
        rows = self.store.query(
            "SELECT f.url, f.depth FROM frontier f LEFT JOIN pages p ON p.url = f.url "
            "LEFT JOIN history h ON h.page_id = p.id AND h.crawl_id = f.crawl_id "
            "WHERE f.crawl_id = ? AND h.page_id IS NULL ORDER BY f.depth, f.rowid", (crawl_id,))
        return [(row["url"], row["depth"]) for row in rows]

    def known(self, crawl_id: str) -> list[str]:
        rows = self.store.query("SELECT url FROM frontier WHERE crawl_id = ?", (crawl_id,))
        return [row["url"] for row in rows]

    def counts(self, crawl_id: str) -> dict[str, int]:
        rows = self.store.query("SELECT state, COUNT(*) FROM history WHERE crawl_id = ? "
                                "GROUP BY state", (crawl_id,))
        return {row[0]: row[1] for row in rows}

    def details(self, crawl_id: str) -> dict[str, int]:
        """How outcomes were decided: lastmod skips, 304s, same hash, fetched, ..."""
        rows = self.store.query("SELECT detail, COUNT(*) FROM history WHERE crawl_id = ? "
                                "GROUP BY detail", (crawl_id,))
        return {row[0] or "": row[1] for row in rows}

    def stats(self, crawl_id: str) -> tuple[dict[str, int], int]:
        """(skipped by reason, requests) saved by the last checkpoint, for a resumed crawl."""
        rows = self.store.query("SELECT skipped, requests FROM crawls WHERE id = ?", (crawl_id,))
        if not rows:
            return {}, 0
        return json.loads(rows[0]["skipped"] or "{}"), rows[0]["requests"] or 0

    def checkpoint(self, crawl_id: str, skipped: dict[str, int], requests: int) -> None:
        with self.store.transaction() as db:
            db.execute("UPDATE crawls SET skipped = ?, requests = ? WHERE id = ?",
                       (json.dumps(skipped), requests, crawl_id))

    def finish(self, crawl_id: str, status: str, complete: bool, message: str | None = None,
               skipped: dict[str, int] | None = None, requests: int | None = None) -> None:
        """Close the crawl row and drop its frontier (it is only needed to resume)."""
        with self.store.transaction() as db:
            db.execute("UPDATE crawls SET status = ?, finished_at = ?, complete = ?, message = ?, "
                       "skipped = COALESCE(?, skipped), requests = COALESCE(?, requests) "
                       "WHERE id = ?",
                       (status, time.time(), int(complete), message,
                        json.dumps(skipped) if skipped is not None else None, requests, crawl_id))
            db.execute("DELETE FROM frontier WHERE crawl_id = ?", (crawl_id,))

    def get(self, crawl_id: str) -> CrawlInfo | None:
        rows = self.store.query("SELECT * FROM crawls WHERE id = ?", (crawl_id,))
        return self._info(rows[0]) if rows else None

    def list_crawls(self, limit: int = 20, offset: int = 0) -> CrawlList:
        total = self.store.query("SELECT COUNT(*) FROM crawls")[0][0]
        rows = self.store.query("SELECT * FROM crawls ORDER BY started_at DESC LIMIT ? OFFSET ?",
                                (limit, offset))
        return CrawlList(total=total, items=[self._info(row) for row in rows])

    def _info(self, row: sqlite3.Row) -> CrawlInfo:
        errors = self.store.query(
            "SELECT p.url, h.error FROM history h JOIN pages p ON p.id = h.page_id "
            "WHERE h.crawl_id = ? AND h.state = 'failed' ORDER BY p.url LIMIT ?",
            (row["id"], MAX_ERRORS_SHOWN))
        finished = row["finished_at"]
        return CrawlInfo(
            id=row["id"], status=row["status"], full=bool(row["full"]),
            started_at=row["started_at"], finished_at=finished,
            duration_sec=round((finished or time.time()) - row["started_at"], 3),
            counts=self.counts(row["id"]), details=self.details(row["id"]),
            skipped=json.loads(row["skipped"] or "{}"),
            requests=row["requests"] or 0, complete=bool(row["complete"]), message=row["message"],
            errors=[{"url": e["url"], "error": e["error"] or ""} for e in errors])
