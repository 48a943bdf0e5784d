"""The update lock and update records on a real Redis: renew and release are one step each, and
record ids never reach the lock's or the marker's keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from redis import Redis

from services.gateway import updates
from shared.errors import NotFound
from tests.conftest import RedisServer


class HandOver(Redis):
    """A client that runs `between()` right after the first command of the next call: on a
    GET-then-write lock, the lock changes hands between the read and the write."""

    between: Callable[[], None] | None = None

    def execute_command(self, *args: Any, **options: Any) -> Any:
        result = super().execute_command(*args, **options)
        hook, self.between = self.between, None
        if hook is not None:
            hook()
        return result


@pytest.fixture
def clients(redis_server: RedisServer, redis_client: Redis) -> tuple[HandOver, Redis]:
    return HandOver.from_url(redis_server.url), redis_client


def expire_and_take(other: Redis, holder: str, ttl: int) -> Callable[[], None]:
    """The first holder's lock expires and another update takes it."""
    def run() -> None:
        other.delete(updates.LOCK_KEY)
        assert updates.acquire_lock(other, holder, ttl)
    return run


def test_release_never_removes_a_lock_that_changed_hands(clients: tuple[HandOver, Redis]) -> None:
    """Fault: A's lock expires and B takes it between A's GET and DEL (before: A deleted B's lock
    and a third update could start beside B)."""
    client, other = clients
    assert updates.acquire_lock(client, "aaaaaaaaaaaa", 60)
    client.between = expire_and_take(other, "bbbbbbbbbbbb", 60)
    updates.release_lock(client, "aaaaaaaaaaaa")
    assert updates.lock_holder(other)[0] == "bbbbbbbbbbbb"
    updates.release_lock(client, "aaaaaaaaaaaa")  # A releasing again changes nothing either
    assert updates.lock_holder(other)[0] == "bbbbbbbbbbbb"


def test_renew_never_extends_a_lock_that_changed_hands(clients: tuple[HandOver, Redis]) -> None:
    """Fault: the same hand-over between the GET and the EXPIRE of a renewal (before: A's 600 s TTL
    was put on B's lock, so a crashed B would block updates ten minutes instead of five seconds)."""
    client, other = clients
    assert updates.acquire_lock(client, "aaaaaaaaaaaa", 600)
    client.between = expire_and_take(other, "bbbbbbbbbbbb", 5)
    updates.renew_lock(client, "aaaaaaaaaaaa", 600)
    holder, ttl = updates.lock_holder(other)
    assert holder == "bbbbbbbbbbbb" and ttl <= 5
    assert updates.renew_lock(client, "aaaaaaaaaaaa", 600) is False  # B holds it: A may not


def test_renew_takes_back_an_expired_lock_and_release_frees_it(redis_client: Redis) -> None:
    assert updates.renew_lock(redis_client, "aaaaaaaaaaaa", 30) is True  # free: taken
    assert updates.lock_holder(redis_client)[0] == "aaaaaaaaaaaa"
    assert updates.renew_lock(redis_client, "aaaaaaaaaaaa", 30) is True
    updates.release_lock(redis_client, "aaaaaaaaaaaa")
    assert updates.lock_holder(redis_client) == (None, 0)


@pytest.mark.parametrize("update_id", ["lock", "last_finished", "record:x", "../x", ""])
def test_ids_never_name_the_lock_or_the_marker(redis_client: Redis, update_id: str) -> None:
    """Fault: `GET /update/lock` while an update runs and `GET /update/last_finished` after one:
    the lock and the marker were read as records (a plain-text 500)."""
    assert updates.acquire_lock(redis_client, "aaaaaaaaaaaa", 60)
    redis_client.set(updates.LAST_FINISHED_KEY, 1.0)
    with pytest.raises(NotFound):
        updates.load(redis_client, update_id)


def test_records_of_the_old_layout_are_still_read(redis_client: Redis) -> None:
    """An update saved before records had their own prefix (a running one during an upgrade)."""
    record = updates.new_update(["crawl"], False, "api")
    updates.save(redis_client, record)
    redis_client.rename(updates.RECORD_PREFIX + record.id, f"mde:update:{record.id}")
    assert updates.load(redis_client, record.id).stages == ["crawl"]
