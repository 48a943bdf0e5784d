"""A missing Redis or model gives a one-line error with the fix, not a traceback."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from shared.settings import PROJECT_ROOT
from tests.conftest import free_port


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DATA_DIR": str(tmp_path), **env}
    return subprocess.run([sys.executable, *args], cwd=PROJECT_ROOT, env=environment,
                          capture_output=True, text=True, timeout=60)


def test_worker_without_redis_says_how_to_start_it(tmp_path: Path) -> None:
    """Fault: nothing listens on the configured Redis port."""
    result = run(["-m", "shared.worker", "crawl"], tmp_path, REDIS_PORT=str(free_port()))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if "mde worker" in line]
    assert "not reachable" in line and "make run" in line
    # the way to start Redis alone that it names exists (it named ops/redis.sh, which does not)
    module = line.split("python -m ", 1)[1].split("`")[0]
    assert importlib.util.find_spec(module) is not None, line


def test_generation_without_model_says_how_to_get_it(tmp_path: Path) -> None:
    """Fault: the configured model folder does not exist."""
    result = run(["-m", "shared.serve", "generation"], tmp_path,
                 MODEL__BASE_ID=str(tmp_path / "no-model"), GENERATION_PORT=str(free_port()))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "make setup" in result.stderr and "no-model" in result.stderr


def test_cli_with_a_bad_setting_names_it(tmp_path: Path) -> None:
    result = run(["-m", "shared.cli", "status"], tmp_path, CRAWL__MAX_PAGES="lots")
    assert result.returncode == 2
    assert "crawl.max_pages" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_status_without_a_stack_is_plain(tmp_path: Path) -> None:
    result = run(["-m", "shared.cli", "status"], tmp_path, REDIS_PORT=str(free_port()),
                 GATEWAY_PORT=str(free_port()))
    assert "Traceback" not in result.stdout + result.stderr
    assert "make run" in result.stdout
