"""Restart wrapper for one Procfile process: `python -m ops.supervise NAME -- CMD ...`.

honcho stops every process as soon as one exits and restarts nothing; this wrapper restarts its
child when it dies (a crash, a SIGKILL from a test) with a growing back-off, forwards SIGTERM/SIGINT
so `honcho` stops cleanly, and gives up (exits, so honcho stops the stack with a visible error)
when the child keeps failing right after start, e.g. a missing model.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from types import FrameType

log = logging.getLogger("ops.supervise")

QUICK_FAILURE_SEC = 10.0  # a child that dies sooner than this counts as a failed start
MAX_QUICK_FAILURES = 5
MAX_BACKOFF_SEC = 30.0


def _prepare_child() -> None:
    """Own process group, so honcho's group-wide SIGTERM reaches the child only through us (in
    order, after stop_delay); on Linux the child gets SIGTERM if this wrapper is SIGKILLed."""
    os.setsid()
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Supervisor:
    def __init__(self, name: str, command: list[str], stop_delay: float = 0.0) -> None:
        self.name, self.command, self.stop_delay = name, command, stop_delay
        self.child: subprocess.Popen[bytes] | None = None
        self.stopping = False

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
        if self.child and self.child.poll() is None:
            if self.stop_delay:
                time.sleep(self.stop_delay)  # e.g. Redis outlives the workers' last writes
            try:
                os.killpg(self.child.pid, signum)  # the child and anything it forked
            except ProcessLookupError:
                pass

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        quick_failures, backoff = 0, 1.0
        while True:
            started = time.monotonic()
            self.child = subprocess.Popen(self.command, preexec_fn=_prepare_child)
            code = self.child.wait()
            if self.stopping:
                return 0 if code in (0, -signal.SIGTERM, -signal.SIGINT) else code
            lived = time.monotonic() - started
            quick_failures = quick_failures + 1 if lived < QUICK_FAILURE_SEC else 0
            if quick_failures >= MAX_QUICK_FAILURES:
                log.error("%s failed %d times right after start (exit %s); giving up",
                          self.name, quick_failures, code)
                return code or 1
            backoff = 1.0 if lived >= QUICK_FAILURE_SEC else min(backoff * 2, MAX_BACKOFF_SEC)
            log.warning("%s exited with %s after %.1fs; restarting in %.0fs",
                        self.name, code, lived, backoff)
            self._sleep(backoff)
            if self.stopping:
                return 0

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(0.1)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if "--" not in sys.argv:
        sys.exit("usage: python -m ops.supervise NAME [--stop-delay S] -- CMD [ARGS...]")
    split = sys.argv.index("--")
    parser = argparse.ArgumentParser(usage="python -m ops.supervise NAME [--stop-delay S] -- CMD ...")
    parser.add_argument("name")
    parser.add_argument("--stop-delay", type=float, default=0.0,
                        help="seconds to wait before passing a stop signal on")
    args = parser.parse_args(sys.argv[1:split])
    command = sys.argv[split + 1:]
    if not command:
        parser.error("no command after --")
    sys.exit(Supervisor(args.name, command, args.stop_delay).run())


if __name__ == "__main__":
    main()
