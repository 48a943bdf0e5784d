"""One crawl at a time: a Redis lock (any host) plus a file lock under DATA_DIR (same store).

The Redis lock has a TTL kept alive by a heartbeat thread, so a crashed holder frees it; a holder
on this host whose process is gone is taken over at once, so a killed crawl can resume right away.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
from typing import Any

import psutil
from filelock import FileLock, Timeout
from redis import Redis
from redis.exceptions import RedisError

from shared.errors import Conflict
from shared.locks import REFRESH, RELEASE
from shared.settings import Settings

log = logging.getLogger(__name__)

LOCK_KEY = "mde:crawl:lock"


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _stale(holder: dict[str, Any]) -> bool:
    """A holder on this host whose process has died (a SIGKILLed worker)."""
    return holder.get("host") == socket.gethostname() and not _alive(int(holder.get("pid", 0)))


def describe(holder: dict[str, Any]) -> str:
    """`process 123 on host, since 2025-01-01 10:00:00` or the lock file's path."""
    if "pid" not in holder:
        return f"lock file {holder.get('lock')} is held"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("since", 0)))
    return f"process {holder['pid']} on {holder.get('host')}, since {since}"


def reachable_redis(settings: Settings) -> Redis | None:
    """A Redis client when Redis answers, else None (an in-process run without Redis)."""
    from shared.queues import redis_connection

    connection = redis_connection(settings)
    try:
        connection.ping()
        return connection
    except (RedisError, OSError) as error:
        log.warning("Redis unreachable (%s): the crawl lock is the file lock only", error)
        return None


class CrawlLock:
    """Use as a context manager; raises Conflict naming the holder when a crawl is running."""

    def __init__(self, settings: Settings, redis: Redis | None) -> None:
        self.redis = redis
        self.ttl_ms = int(settings.crawl.lock_ttl_sec * 1000)
        self.path = settings.data_dir / "locks" / "crawl.lock"
        self.file = FileLock(self.path, timeout=0)
        self.token = json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                                 "since": time.time(), "nonce": secrets.token_hex(8)})
        self.stop = threading.Event()
        self.heart: threading.Thread | None = None

    def __enter__(self) -> "CrawlLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def holder(self) -> dict[str, Any] | None:
        """Who holds the lock (host, pid, since), or None when it is free."""
        if self.redis is not None:
            value = self.redis.get(LOCK_KEY)
            if value and not _stale(json.loads(value)):
                return json.loads(value)
        if not self.path.parent.exists():
            return None
        try:
            self.file.acquire(timeout=0)
        except Timeout:
            return {"host": socket.gethostname(), "lock": str(self.path)}
        self.file.release()
        return None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.file.acquire(timeout=0)
        except Timeout:
            raise Conflict(f"a crawl is already running on this data folder ({self.path} "
                           "is locked); try again when it has finished") from None
        try:
            if self.redis is not None:
                self._acquire_redis()
        except BaseException:
            self.file.release()
            raise
        self.heart = threading.Thread(target=self._beat, name="crawl-lock", daemon=True)
        self.heart.start()

    def _acquire_redis(self) -> None:
        assert self.redis is not None
        if self.redis.set(LOCK_KEY, self.token, nx=True, px=self.ttl_ms):
            return
        raw = self.redis.get(LOCK_KEY)
        holder = json.loads(raw) if raw else {}
        if raw and _stale(holder):
            log.warning("taking over the crawl lock of dead process %s", holder["pid"])
            self.redis.eval(RELEASE, 1, LOCK_KEY, raw)
            if self.redis.set(LOCK_KEY, self.token, nx=True, px=self.ttl_ms):
                return
        raise Conflict(f"a crawl is already running ({describe(holder)}); "
                       "try again when it has finished")

    def _beat(self) -> None:
        while not self.stop.wait(self.ttl_ms / 3000):
            if self.redis is None:
                continue
            try:
                if not self.redis.eval(REFRESH, 1, LOCK_KEY, self.token, self.ttl_ms):
                    log.error("the crawl lock was lost (expired or taken over)")
            except RedisError as error:
                log.warning("could not refresh the crawl lock: %s", error)

    def release(self) -> None:
        self.stop.set()
        if self.heart is not None:
            self.heart.join(timeout=5)
        if self.redis is not None:
            try:
                self.redis.eval(RELEASE, 1, LOCK_KEY, self.token)
            except RedisError as error:
                log.warning("could not release the crawl lock (it will expire): %s", error)
        if self.file.is_locked:
            self.file.release()
