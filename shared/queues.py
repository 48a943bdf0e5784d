"""Queue names and the Redis connection every process shares."""

from __future__ import annotations

from redis import Redis

from shared.settings import Settings, get_settings

CRAWL, INDEX, TRAIN = "crawl", "index", "train"
QUEUES = (CRAWL, INDEX, TRAIN)


def redis_connection(settings: Settings | None = None) -> Redis:
    """A Redis client from settings, with short timeouts so a dead Redis is noticed quickly."""
    settings = settings or get_settings()
    return Redis.from_url(
        settings.redis_dsn,
        socket_connect_timeout=2,
        socket_timeout=10,
        health_check_interval=15,
        retry_on_timeout=True,
    )


def redis_ping(settings: Settings | None = None) -> tuple[bool, str]:
    """(reachable, detail) without raising: for /ready, doctor and start-up messages."""
    settings = settings or get_settings()
    try:
        redis_connection(settings).ping()
        return True, "ok"
    except Exception as error:  # noqa: BLE001 - any failure means "not reachable"
        return False, f"{type(error).__name__}: {error}"
