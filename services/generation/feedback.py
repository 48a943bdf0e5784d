"""Answers and what users thought of them, in SQLite under DATA_DIR (`feedback.sqlite`).

Every answer is recorded when it is done (question, mode, answer, sources), so a vote names an
answer by its id; `mde feedback` lists the votes, which tell where answers fail.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from shared.errors import NotFound

SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id TEXT PRIMARY KEY, at REAL NOT NULL, question TEXT NOT NULL, mode TEXT NOT NULL,
    answer TEXT NOT NULL, sources TEXT NOT NULL, refused INTEGER NOT NULL,
    vote TEXT, comment TEXT, voted_at REAL
);
CREATE INDEX IF NOT EXISTS answers_voted ON answers (voted_at);
"""


class FeedbackStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def record(self, question: str, done: dict[str, Any]) -> None:
        """Keep an answer so it can be voted on."""
        sources = [{"n": s.get("n"), "title": s.get("title"), "url": s.get("url")}
                   for s in done.get("sources", [])]
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO answers (id, at, question, mode, answer, sources, refused)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (done["answer_id"], time.time(), question, done.get("mode", ""),
                 done.get("text", ""), json.dumps(sources), int(bool(done.get("refused")))))

    def vote(self, answer_id: str, vote: str, comment: str) -> dict[str, Any]:
        """Store a vote (the last one counts); 404 for an answer id never recorded."""
        with self._lock:
            changed = self._db.execute(
                "UPDATE answers SET vote = ?, comment = ?, voted_at = ? WHERE id = ?",
                (vote, comment, time.time(), answer_id)).rowcount
        if not changed:
            raise NotFound(f"answer_id: no answer {answer_id!r} was recorded here")
        return self.get(answer_id)

    def get(self, answer_id: str) -> dict[str, Any]:
        rows = self._rows("WHERE id = ?", (answer_id,), 1)
        if not rows:
            raise NotFound(f"answer_id: no answer {answer_id!r} was recorded here")
        return rows[0]

    def votes(self, limit: int, vote: str | None = None) -> list[dict[str, Any]]:
        """The most recent votes first (optionally only `up` or `down`)."""
        where, args = ("WHERE vote = ?", (vote,)) if vote else ("WHERE vote IS NOT NULL", ())
        return self._rows(where + " ORDER BY voted_at DESC", args, limit)

    def _rows(self, where: str, args: tuple[Any, ...], limit: int) -> list[dict[str, Any]]:
        columns = ("id", "at", "question", "mode", "answer", "sources", "refused", "vote",
                   "comment", "voted_at")
        with self._lock:
            rows = self._db.execute(f"SELECT {', '.join(columns)} FROM answers {where} LIMIT ?",
                                    (*args, limit)).fetchall()
        found = [dict(zip(columns, row)) for row in rows]
        for row in found:
            row["sources"], row["refused"] = json.loads(row["sources"]), bool(row["refused"])
        return found

    def close(self) -> None:
        with self._lock:
            self._db.close()
