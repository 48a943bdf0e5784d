"""Start the stack's Redis in the foreground: loopback, its own port, password, AOF under DATA_DIR.

`python -m ops.redis` (the Procfile's redis line). The config file is written with mode 600 so the
password never shows in `ps`.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from shared.security import redis_refusal
from shared.settings import Settings, get_settings

INSTALL_HINT = ("redis-server not found: run `make setup` (apt-get install redis-server on "
                "Debian/Ubuntu, brew install redis on macOS)")


def redis_config(settings: Settings) -> str:
    data = settings.data_dir / "redis"
    lines = [
        f"port {settings.redis_port}",
        f"bind {settings.redis_host}",
        "protected-mode yes",
        f"dir {data}",
        "appendonly yes",  # queued work survives a restart
        "appendfsync everysec",
        'save ""',
        "daemonize no",
        "loglevel notice",
    ]
    if settings.redis_password:
        lines.append(f"requirepass {settings.redis_password}")
    return "\n".join(lines) + "\n"


def main() -> None:
    settings = get_settings()
    if refusal := redis_refusal(settings):
        sys.exit(refusal)  # anyone who can write to Redis can make the workers run code
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        sys.exit(f"mde: {INSTALL_HINT}")
    data = settings.data_dir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    conf = data / "redis.conf"
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(redis_config(settings))
    os.execv(binary, [binary, str(conf)])


if __name__ == "__main__":
    main()
