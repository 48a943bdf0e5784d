"""Update records and the update lock, kept in Redis so every gateway and worker sees the same state.

Keys: `mde:update:lock` (the running update's id, with a TTL renewed by a heartbeat),
`mde:update:record:<id>` (the record, JSON), `mde:updates` (recent ids, newest first),
`mde:update:last_finished`. Records have their own prefix and ids are 12 hex digits, so no id
can name the lock or the marker (`GET /update/lock` used to read the lock as a record: a 500).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from redis import Redis

from shared.errors import NotFound
from shared.locks import REFRESH_OR_TAKE, RELEASE
from shared.schemas import UPDATE_ID_PATTERN
from shared.settings_sections import STAGES

LOCK_KEY = "mde:update:lock"
RECORD_PREFIX = "mde:update:record:"
LEGACY_PREFIX = "mde:update:"  # records written before the prefix above; read, never written
LIST_KEY = "mde:updates"
LAST_FINISHED_KEY = "mde:update:last_finished"
SCHEDULER_KEY = "mde:scheduler"
KEEP_RECORDS = 50
STAGE_QUEUES = {"crawl": "crawl", "index": "index", "prepare_dataset": "train", "finetune": "train",
                "merge": "train"}
TERMINAL = ("finished", "failed")


@dataclass
class UpdateRecord:
    id: str
    stages: list[str]
    full: bool = False
    trigger: str = "api"
    status: str = "queued"  # queued | running | finished | failed
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    error: str | None = None
    snapshot: list[dict[str, Any]] = field(default_factory=list)  # stage views, kept when jobs expire

    def job_id(self, stage: str) -> str:
        return f"update-{self.id}-{stage}"

    def next_stage(self, stage: str) -> str | None:
        position = self.stages.index(stage)
        return self.stages[position + 1] if position + 1 < len(self.stages) else None


def new_update(stages: list[str], full: bool, trigger: str) -> UpdateRecord:
    return UpdateRecord(id=uuid.uuid4().hex[:12], stages=stages, full=full, trigger=trigger)


def save(redis: Redis, record: UpdateRecord) -> None:
    redis.set(RECORD_PREFIX + record.id, json.dumps(asdict(record)))


def load(redis: Redis, update_id: str) -> UpdateRecord:
    if not re.fullmatch(UPDATE_ID_PATTERN, update_id):
        raise NotFound(f"no update with id {update_id!r}")
    raw = redis.get(RECORD_PREFIX + update_id) or redis.get(LEGACY_PREFIX + update_id)
    if raw is None:
        raise NotFound(f"no update with id {update_id!r}")
    return UpdateRecord(**json.loads(raw))


def register(redis: Redis, record: UpdateRecord) -> None:
    """Save a record and put it at the head of the recent list (a retried one moves there: the
    monitor settles only the most recent updates)."""
    save(redis, record)
    redis.lrem(LIST_KEY, 0, record.id)
    redis.lpush(LIST_KEY, record.id)
    redis.ltrim(LIST_KEY, 0, KEEP_RECORDS - 1)


def recent(redis: Redis, limit: int = 20) -> list[UpdateRecord]:
    ids = [raw.decode() for raw in redis.lrange(LIST_KEY, 0, limit - 1)]
    records = []
    for update_id in ids:
        try:
            records.append(load(redis, update_id))
        except NotFound:
            continue
    return records


def acquire_lock(redis: Redis, update_id: str, ttl: int) -> bool:
    """True when this update now holds the lock (SET NX: exactly one concurrent caller wins)."""
    return bool(redis.set(LOCK_KEY, update_id, nx=True, ex=ttl))


def renew_lock(redis: Redis, update_id: str, ttl: int) -> bool:
    """Extend the lock if this update holds it (or take it back if it expired meanwhile and nobody
    took it): one script, so a lock that changed hands is never extended for its new holder."""
    return bool(redis.eval(REFRESH_OR_TAKE, 1, LOCK_KEY, update_id, int(ttl * 1000)))


def release_lock(redis: Redis, update_id: str) -> None:
    """Remove the lock if this update still holds it (compare-and-delete in one script)."""
    redis.eval(RELEASE, 1, LOCK_KEY, update_id)


def lock_holder(redis: Redis) -> tuple[str | None, int]:
    """(update id holding the lock, seconds left on it)."""
    holder = redis.get(LOCK_KEY)
    return (holder.decode() if holder else None, max(int(redis.ttl(LOCK_KEY)), 0))


def last_finished(redis: Redis) -> float | None:
    raw = redis.get(LAST_FINISHED_KEY)
    return float(raw) if raw else None
