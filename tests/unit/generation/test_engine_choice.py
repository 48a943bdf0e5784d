"""`model.engine: auto` picks MLX on Apple Silicon and llama.cpp elsewhere (platforms simulated)."""

from __future__ import annotations

import platform
import sys

import pytest

from services.generation import engine
from shared.settings import Settings


@pytest.mark.parametrize(("system", "machine", "expected"), [
    ("darwin", "arm64", "mlx"),          # Apple Silicon: Metal
    ("darwin", "x86_64", "llama_cpp"),   # Intel Mac: no Metal for MLX
    ("linux", "x86_64", "llama_cpp"),
    ("linux", "aarch64", "llama_cpp"),
    ("win32", "AMD64", "llama_cpp"),
])
def test_auto_picks_the_engine_for_the_platform(system: str, machine: str, expected: str) -> None:
    assert engine.choose_engine("auto", system, machine) == expected


@pytest.mark.parametrize("configured", ["mlx", "llama_cpp"])
def test_a_configured_engine_wins_on_any_platform(configured: str) -> None:
    assert engine.choose_engine(configured, "darwin", "arm64") == configured
    assert engine.choose_engine(configured, "linux", "x86_64") == configured


@pytest.mark.parametrize(("system", "machine", "backend"), [
    ("darwin", "arm64", "MlxBackend"), ("linux", "x86_64", "LlamaBackend")])
def test_the_service_builds_the_chosen_backend(monkeypatch: pytest.MonkeyPatch, system: str,
                                               machine: str, backend: str) -> None:
    """Fault injected: the platform the process believes it runs on."""
    monkeypatch.setattr(sys, "platform", system)
    monkeypatch.setattr(platform, "machine", lambda: machine)
    built = engine.make_backend(Settings(model={"engine": "auto"}))
    assert type(built).__name__ == backend


def test_doctor_names_the_engine_its_version_and_threads() -> None:
    from shared import doctor

    llama = doctor.engine(Settings(model={"engine": "llama_cpp", "threads": 3}))
    assert llama[0].name == "engine" and "llama-cpp-python" in llama[0].detail
    assert "3 threads" in llama[0].detail and llama[1].name == "gguf"
    assert doctor.engine(Settings(model={"engine": "mlx"}))[0].detail.startswith("mlx")


def test_doctor_flags_a_missing_gguf() -> None:
    """Fault injected: model.gguf names no file."""
    from shared import doctor

    checks = doctor.engine(Settings(model={"engine": "llama_cpp", "gguf": "/nonexistent/x.gguf"}))
    assert checks[1].ok is False and "/nonexistent/x.gguf" in checks[1].detail


@pytest.mark.parametrize(("flags", "expected"), [
    ("fpu sse avx2 avx512f avx512_bf16 f16c", "bf16"),  # llama.cpp's fast BF16 dot products
    ("fpu sse avx2 avx512f f16c", "f16"),               # BF16 would be emulated, slowly
])
def test_set_up_writes_the_gguf_type_the_cpu_is_fast_at(tmp_path, flags: str,
                                                         expected: str) -> None:
    """Fault injected: the CPU flags the set-up reads (a simulated /proc/cpuinfo)."""
    from ops.prepare_model import default_gguf_type

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    assert default_gguf_type(cpuinfo) == expected
    assert default_gguf_type(tmp_path / "missing") == "f16"
