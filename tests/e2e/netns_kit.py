"""Extra worker "hosts" for the scale-out scenario: Linux network namespaces, each joined to the
machine by its own veth pair on a private 10.213.<n>.0/24 link (traffic never leaves the machine).

A worker in a namespace cannot reach the host's 127.0.0.1, so it reaches Redis and the APIs only
through the host-side veth address; it gets its own empty DATA_DIR.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from shared.settings import PROJECT_ROOT
from tests.stack import Stack


class NetnsUnavailable(RuntimeError):
    """`ip netns`/veth setup is not permitted here (the message names the failing command)."""


def ip(*args: str) -> None:
    command = ["ip", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise NetnsUnavailable(f"`{' '.join(command)}` failed: {error}") from error
    if done.returncode != 0:
        raise NetnsUnavailable(f"`{' '.join(command)}` failed: {done.stderr.strip()}")


@dataclass
class WorkerHost:
    """One namespace `mde<tag><n>` with veth `vh<tag><n>` (host side) / `vn<tag><n>` (inside)."""

    tag: str
    number: int
    data_dir: Path
    worker: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    made: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"mde{self.tag}{self.number}"

    @property
    def host_address(self) -> str:
        return f"10.213.{self.number}.1"

    @property
    def address(self) -> str:
        return f"10.213.{self.number}.2"

    def create(self) -> None:
        outside, inside = f"vh{self.tag}{self.number}", f"vn{self.tag}{self.number}"
        ip("netns", "add", self.name)
        self.made.append("netns")
        ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        self.made.append(outside)
        ip("link", "set", inside, "netns", self.name)
        ip("addr", "add", f"{self.host_address}/24", "dev", outside)
        ip("link", "set", outside, "up")
        for args in (("addr", "add", f"{self.address}/24", "dev", inside),
                     ("link", "set", inside, "up"), ("link", "set", "lo", "up")):
            ip("netns", "exec", self.name, "ip", *args)

    def worker_env(self, stack: Stack) -> dict[str, str]:
        """The host's Redis and APIs by the host-side veth address; nothing of its DATA_DIR."""
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_URL", "_PORT"))}
        # the stack's own settings too (INDEX__BATCH_PAGES): whichever worker plans the run must
        # fan it out the same way (a host on defaults indexed all 20 pages in one job, no batches)
        env.update(stack.extra_env)
        base = f"http://{self.host_address}"
        env.update({f"{name.upper()}_URL": f"{base}:{port}" for name, port in stack.ports.items()
                    if name not in ("redis", "ui")})
        env.update({"DATA_DIR": str(self.data_dir), "REDIS_HOST": self.host_address,
                    "REDIS_PORT": str(stack.ports["redis"]),
                    "REDIS_PASSWORD": stack.environment()["REDIS_PASSWORD"],
                    "INTERNAL_TOKEN": stack.extra_env["INTERNAL_TOKEN"],
                    "MDE_SECRETS_FILE": str(self.data_dir / "no-secrets"),
                    "WORKER__HEARTBEAT_INTERVAL_SEC": "5", "WORKER__MAINTENANCE_INTERVAL_SEC": "5"})
        return env

    def start_worker(self, stack: Stack, queue: str = "index") -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log = self.data_dir.parent / f"{self.name}-worker.log"
        self.worker = subprocess.Popen(
            ["ip", "netns", "exec", self.name, sys.executable, "-m", "shared.worker", queue],
            cwd=PROJECT_ROOT, env=self.worker_env(stack), stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT, start_new_session=True)

    def batches(self) -> tuple[int, int]:
        """(index_batch jobs this host's worker started, jobs it finished OK), from its RQ log."""
        text = self.log_text()  # RQ logs "index: <description> (<job id>)" when a job starts
        started = re.findall(r"index: index \w+: batch \d+ \(([-\w]+)\)", text)
        done = re.findall(r"Job OK \(([-\w]+)\)", text)
        return len(started), len([job for job in done if job in started])

    def kill(self) -> None:
        """SIGKILL the worker and its horse: the host is gone."""
        if not self.worker:
            return
        try:
            procs = [psutil.Process(self.worker.pid)]
            procs += procs[0].children(recursive=True)
        except psutil.NoSuchProcess:
            procs = []
        for proc in procs:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                continue
        self.worker.wait(10)

    def remove(self) -> None:
        self.kill()
        if len(self.made) > 1:
            subprocess.run(["ip", "link", "del", self.made[1]], capture_output=True, timeout=20, check=False)
        if self.made:
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=20, check=False)
        self.made.clear()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log and self.log.exists() else ""
