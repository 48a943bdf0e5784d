"""Attempt records: in Redis when reachable, in a file under DATA_DIR when not; reads merge both."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from redis import Redis

from services.trainer.attempts import REDIS_KEY, AttemptLog
from shared.settings import Settings


def test_attempts_go_to_redis(stack_settings: Settings, redis_client: Redis) -> None:
    log = AttemptLog(stack_settings)
    assert log.record({"run_key": "k", "status": "rejected", "finished_at": 1.0}) == "redis"
    assert redis_client.llen(REDIS_KEY) == 1
    assert log.finished("k")["status"] == "rejected"  # type: ignore[index]
    assert log.finished("other") is None


def test_without_redis_attempts_go_to_a_file(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(redis_port=1)
    log = AttemptLog(settings)
    where = log.record({"run_key": "k", "status": "published", "finished_at": 2.0})
    assert Path(where) == Path(settings.finetune.out_dir) / "attempts.jsonl"
    log.record({"run_key": "k", "status": "skipped", "finished_at": 3.0})
    assert [a["status"] for a in log.all()] == ["published", "skipped"]
    assert log.finished("k")["status"] == "published"  # type: ignore[index]
