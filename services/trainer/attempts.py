"""The record of every training attempt (published, rejected, skipped) with its dataset hash.

Kept in Redis when it is reachable (the gateway reads it to avoid retraining an unchanged dataset in
a loop) and in `<out_dir>/attempts.jsonl` when it is not; reads merge both.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from shared.settings import Settings

log = logging.getLogger(__name__)

REDIS_KEY = "mde:trainer:attempts"
MAX_KEPT = 500


class AttemptLog:
    def __init__(self, settings: Settings, redis: Any = None) -> None:
        self.settings = settings
        self.file = Path(settings.finetune.out_dir) / "attempts.jsonl"
        self._redis = redis

    def _client(self) -> Any:
        if self._redis is None:
            from shared.queues import redis_connection

            self._redis = redis_connection(self.settings)
        return self._redis

    def record(self, attempt: dict[str, Any]) -> str:
        """Append one attempt; returns where it went ("redis" or the file path)."""
        line = json.dumps(attempt, sort_keys=True, default=str)
        try:
            client = self._client()
            client.rpush(REDIS_KEY, line)
            client.ltrim(REDIS_KEY, -MAX_KEPT, -1)
            return "redis"
        except Exception as error:  # noqa: BLE001 - Redis down: the file keeps the record
            log.warning("Redis unreachable (%s): attempt recorded in %s", error, self.file)
            self.file.parent.mkdir(parents=True, exist_ok=True)
            with self.file.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
            return str(self.file)

    def all(self) -> list[dict[str, Any]]:
        """Every recorded attempt, oldest first."""
        lines: list[str] = []
        try:
            lines += [raw.decode() if isinstance(raw, bytes) else raw
                      for raw in self._client().lrange(REDIS_KEY, 0, -1)]
        except Exception as error:  # noqa: BLE001 - read what the file has
            log.info("Redis unreachable (%s): reading attempts from %s only", error, self.file)
        if self.file.exists():
            lines += self.file.read_text(encoding="utf-8").splitlines()
        attempts = [json.loads(line) for line in lines if line.strip()]
        return sorted(attempts, key=lambda a: a.get("finished_at", 0))

    def finished(self, run_key: str) -> dict[str, Any] | None:
        """The last published or rejected attempt for this dataset + training config, if any."""
        done = [a for a in self.all() if a.get("run_key") == run_key
                and a.get("status") in ("published", "rejected")]
        return done[-1] if done else None
