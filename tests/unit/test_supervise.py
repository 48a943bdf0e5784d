"""The restart wrapper: restarts a dying child, gives up on one that cannot start, stops cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from ops import supervise


def test_gives_up_on_a_child_that_fails_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault: the command exits with 3 at once, every time (e.g. a missing model)."""
    monkeypatch.setattr(supervise.Supervisor, "_sleep", lambda self, seconds: None)
    code = supervise.Supervisor("broken", [sys.executable, "-c", "raise SystemExit(3)"]).run()
    assert code == 3


def test_restarts_a_child_that_dies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault: the child dies twice (exit 1), then succeeds; each death is followed by a restart."""
    counter = tmp_path / "starts"
    script = ("import pathlib, sys; p = pathlib.Path(sys.argv[1]); n = len(p.read_text()) "
              "if p.exists() else 0; p.write_text('x' * (n + 1)); sys.exit(1 if n < 2 else 0)")
    monkeypatch.setattr(supervise, "MAX_QUICK_FAILURES", 10)
    monkeypatch.setattr(supervise.Supervisor, "_sleep", lambda self, seconds: None)
    runner = supervise.Supervisor("flaky", [sys.executable, "-c", script, str(counter)])
    original_run = runner.run

    def run_until_three_starts() -> int:
        # stop once the third start has happened, as a SIGTERM from honcho would
        def stop_after_third(*_: object) -> None:
            if len(counter.read_text()) >= 3:
                runner.stopping = True

        monkeypatch.setattr(runner, "_sleep", stop_after_third)
        return original_run()

    run_until_three_starts()
    assert len(counter.read_text()) == 3


def test_sigterm_stops_child_and_wrapper(tmp_path: Path) -> None:
    wrapper = subprocess.Popen(
        [sys.executable, "-m", "ops.supervise", "sleeper", "--", sys.executable, "-c",
         "import time; time.sleep(60)"], cwd=Path(supervise.__file__).parents[1])
    time.sleep(1.0)
    [child] = psutil.Process(wrapper.pid).children()
    wrapper.send_signal(signal.SIGTERM)
    assert wrapper.wait(10) == 0
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
