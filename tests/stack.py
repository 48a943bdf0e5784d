"""Boot the whole Procfile with honcho the way a user does, on free ports and a temp DATA_DIR.

Every process gets a marker in its environment, so the test can find (and count) exactly the
processes this stack started, and prove that none is left after shutdown.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psutil

from shared.settings import PROJECT_ROOT, SERVICES
from tests.conftest import free_port

MARKER = "MDE_TEST_STACK"


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class Stack:
    def __init__(self, root: Path, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.id = uuid.uuid4().hex[:12]
        self.ports = {name: free_port() for name in (*SERVICES, "redis", "ui")}
        self.env_file = root / "stack.env"
        self.log_path = root / "honcho.log"
        self.extra_env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def write_env_file(self) -> None:
        """Ports and URLs only, like honcho.env."""
        lines = [f"{name.upper()}_PORT={port}" for name, port in self.ports.items()]
        lines += [f"{name.upper()}_URL={self.url(name)}" for name in SERVICES]
        self.env_file.write_text("\n".join(lines) + "\n")

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({MARKER: self.id, "MDE_PYTHON": sys.executable,
                    "DATA_DIR": str(self.root / "data"), "REDIS_PASSWORD": f"pw-{self.id}",
                    "MDE_SECRETS_FILE": str(self.root / "no-secrets"), "UPDATE__BOOTSTRAP": "false"})
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 180.0) -> None:
        self.write_env_file()
        honcho = Path(sys.executable).with_name("honcho")
        self.process = subprocess.Popen(
            [str(honcho), "-e", str(self.env_file), "-f", str(PROJECT_ROOT / "Procfile"), "start"],
            cwd=PROJECT_ROOT, env=self.environment(), stdout=self.log_path.open("wb"),
            stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self.process and self.process.poll() is not None:
                raise RuntimeError(f"honcho exited early:\n{self.log()[-3000:]}")
            try:
                response = httpx.get(f"{self.url('gateway')}/ready", timeout=5)
                last = response.json()
                if response.status_code == 200:
                    return last
            except httpx.HTTPError as error:
                last = error
            time.sleep(1)
        raise TimeoutError(f"stack not ready after {timeout}s: {last}\n{self.log()[-3000:]}")

    def processes(self) -> list[psutil.Process]:
        """Every live process of this stack: honcho's descendants, plus any process carrying the
        marker (an orphan whose parent died; redis-server rewrites its environ, hence both)."""
        found: dict[int, psutil.Process] = {}
        try:
            if self.process and self.process.poll() is None:
                root = psutil.Process(self.process.pid)
                found.update({p.pid: p for p in root.children(recursive=True)})
        except psutil.NoSuchProcess:
            pass
        for proc in psutil.process_iter(["pid"]):
            try:
                if proc.environ().get(MARKER) == self.id:
                    found[proc.pid] = proc
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return [p for p in found.values() if _alive(p)]

    def find(self, fragment: str) -> list[psutil.Process]:
        """Live processes of this stack whose command line contains fragment."""
        found = []
        for proc in self.processes():
            try:  # a process that exits between the listing and this read (a killed work horse)
                if fragment in " ".join(proc.cmdline()):
                    found.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found

    def stop(self, timeout: float = 30.0) -> list[psutil.Process]:
        """SIGTERM honcho (what Ctrl-C does); returns whatever is still alive after timeout."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        deadline = time.monotonic() + timeout
        while (left := self.processes()) and time.monotonic() < deadline:
            time.sleep(0.2)
        for proc in left:
            proc.kill()
        return left

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
