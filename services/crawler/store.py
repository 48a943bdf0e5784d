"""The page store: raw HTML under DATA_DIR/raw and page metadata in DATA_DIR/pages.sqlite.

The indexer reads it (here or through the crawler API). Raw files are named by the page id (a
hash of the normalised URL) and replaced atomically; a page whose body hash is unchanged is not
rewritten.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from shared.names import child_path
from shared.schemas import PageInfo, PageList, PageOutcome
from shared.settings import Settings

log = logging.getLogger(__name__)

PAGE_FIELDS = ("id", "url", "canonical_url", "final_url", "status", "title", "state",
               "content_hash", "etag", "last_modified", "fetched_at", "crawl_id", "error")
SCHEMA = """
CREATE TABLE IF NOT EXISTS pages (
    id TEXT PRIMARY KEY, url TEXT NOT NULL UNIQUE, canonical_url TEXT, final_url TEXT,
    status INTEGER, title TEXT, state TEXT NOT NULL, content_hash TEXT, etag TEXT,
    last_modified TEXT, fetched_at REAL, crawl_id TEXT, error TEXT,
    checked_at REAL, links TEXT);
CREATE INDEX IF NOT EXISTS pages_state ON pages(state);
CREATE TABLE IF NOT EXISTS history (
    page_id TEXT NOT NULL, crawl_id TEXT NOT NULL, state TEXT NOT NULL, status INTEGER,
    error TEXT, detail TEXT, at REAL NOT NULL, PRIMARY KEY (page_id, crawl_id));
CREATE INDEX IF NOT EXISTS history_crawl ON history(crawl_id, state);
"""


def connect(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode, so API readers never block the crawl that writes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def write_atomic(path: Path, data: bytes) -> None:
    """Write by temp file + fsync + rename: readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class StoredPage:
    """A page row with what only the crawler needs: when it was last confirmed, and its links."""

    info: PageInfo
    checked_at: float | None
    links: list[str] | None


class PageStore:
    """Pages, their per-crawl outcomes and raw HTML; safe to share between threads."""

    def __init__(self, settings: Settings) -> None:
        self.root = settings.data_dir
        self.raw_dir = self.root / "raw"
        self.db_path = self.root / "pages.sqlite"
        self.lock = threading.RLock()
        self.db = connect(self.db_path)
        with self.lock:
            self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def query(self, sql: str, params: tuple | list = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.db.execute(sql, params).fetchall()

    # --- reads ---

    def raw_path(self, page_id: str) -> Path:
        return child_path(self.raw_dir, f"{page_id}.html", "page id")

    def get(self, page_id: str) -> PageInfo | None:
        rows = self.query("SELECT * FROM pages WHERE id = ?", (page_id,))
        return _info(rows[0]) if rows else None

    def by_url(self, url: str) -> StoredPage | None:
        rows = self.query("SELECT * FROM pages WHERE url = ?", (url,))
        if not rows:
            return None
        row = rows[0]
        links = json.loads(row["links"]) if row["links"] else None
        return StoredPage(_info(row), row["checked_at"], links)

    def list_pages(self, state: str | None = None, q: str | None = None, limit: int = 50,
                   offset: int = 0) -> PageList:
        """Pages by URL, filtered by state and by a text in the URL or title."""
        where, params = ["1=1"], []
        if state:
            where.append("state = ?")
            params.append(state)
        if q:
            where.append("(url LIKE ? ESCAPE '\\' OR title LIKE ? ESCAPE '\\')")
            pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            params += [pattern, pattern]
        clause = " AND ".join(where)
        total = self.query(f"SELECT COUNT(*) FROM pages WHERE {clause}", params)[0][0]
        rows = self.query(f"SELECT * FROM pages WHERE {clause} ORDER BY url LIMIT ? OFFSET ?",
                          [*params, limit, offset])
        return PageList(total=total, items=[_info(row) for row in rows])

    def history(self, page_id: str) -> list[PageOutcome]:
        rows = self.query("SELECT * FROM history WHERE page_id = ? ORDER BY at DESC", (page_id,))
        return [PageOutcome(crawl_id=r["crawl_id"], state=r["state"], status=r["status"],
                            error=r["error"], detail=r["detail"], at=r["at"]) for r in rows]

    def read_html(self, page_id: str) -> bytes | None:
        """The stored HTML (UTF-8), or None when the page has none."""
        try:
            return self.raw_path(page_id).read_bytes()
        except FileNotFoundError:
            return None

    # --- writes ---

    def save(self, info: PageInfo, *, checked_at: float | None, links: list[str] | None = None,
             html: bytes | None = None, detail: str | None = None) -> None:
        """Record a page's outcome in its crawl; `html` (new content) is written first, atomically.

        `links=None` keeps the stored links, so a page skipped by lastmod still leads on.
        """
        if html is not None:
            write_atomic(self.raw_path(info.id), html)
        values = info.model_dump(include=set(PAGE_FIELDS))
        row = [values[name] for name in PAGE_FIELDS]
        links_json = json.dumps(links) if links is not None else None
        with self.transaction() as db:
            db.execute(
                f"INSERT INTO pages ({', '.join(PAGE_FIELDS)}, checked_at, links) "
                f"VALUES ({', '.join('?' * (len(PAGE_FIELDS) + 2))}) ON CONFLICT(id) DO UPDATE SET "
                + ", ".join(f"{n} = excluded.{n}" for n in PAGE_FIELDS[1:])
                + ", checked_at = COALESCE(excluded.checked_at, checked_at)"
                + ", links = COALESCE(excluded.links, links)",
                [*row, checked_at, links_json])
            if info.crawl_id:
                db.execute("INSERT OR REPLACE INTO history VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (info.id, info.crawl_id, info.state, info.status, info.error, detail,
                            time.time()))

    def mark_unreached(self, crawl_id: str) -> int:
        """Pages with content that this (complete) crawl never reached are `deleted`."""
        rows = self.query("SELECT id FROM pages WHERE content_hash IS NOT NULL AND state != "
                          "'deleted' AND (crawl_id IS NULL OR crawl_id != ?)", (crawl_id,))
        now = time.time()
        with self.transaction() as db:
            for row in rows:
                db.execute("UPDATE pages SET state = 'deleted', crawl_id = ?, error = ? "
                           "WHERE id = ?", (crawl_id, "no longer reachable", row["id"]))
                db.execute("INSERT OR REPLACE INTO history VALUES (?, ?, 'deleted', NULL, ?, ?, ?)",
                           (row["id"], crawl_id, "no longer reachable", "unreached", now))
        return len(rows)

    def write_manifest(self) -> Path:
        """DATA_DIR/urls.json, the original project's manifest: one entry per page with content."""
        rows = self.query("SELECT id, url, canonical_url, title, state FROM pages "
                          "WHERE content_hash IS NOT NULL AND state != 'deleted' ORDER BY url")
        manifest = [{"url": r["url"], "canonical_url": r["canonical_url"], "title": r["title"],
                     "id": r["id"], "state": r["state"],
                     "path": str(self.raw_path(r["id"]).relative_to(self.root))} for r in rows]
        path = self.root / "urls.json"
        write_atomic(path, json.dumps(manifest, indent=1, ensure_ascii=False).encode("utf-8"))
        return path


def _info(row: sqlite3.Row) -> PageInfo:
    return PageInfo(**{name: row[name] for name in PAGE_FIELDS})
