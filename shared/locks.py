"""Redis lock scripts: compare-and-delete and compare-and-expire run as one step in Redis, so a
lock that expired and changed hands between a read and a write is never extended or removed."""

from __future__ import annotations

# KEYS[1] the lock, ARGV[1] this holder's token
RELEASE = ("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
           "end return 0")
# ... ARGV[2] the TTL in milliseconds
REFRESH = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
           "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0")
# REFRESH, or take the lock back when it expired meanwhile and nobody else took it
REFRESH_OR_TAKE = ("local holder = redis.call('get', KEYS[1]) "
                   "if holder == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end "
                   "if not holder then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) "
                   "return 1 end return 0")
