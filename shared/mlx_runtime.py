"""Load MLX with a fast BLAS. mlx[cpu] links a slow reference BLAS; Debian's OpenBLAS is ~30x faster.

`use_fast_blas()` must run before the first `import mlx` in a process; every process that runs MLX
imports mlx through `import_mlx()`.
"""

from __future__ import annotations

import ctypes
import logging
import platform
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

OPENBLAS_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
    "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
    "/usr/lib64/libopenblas.so.0",
)
_loaded: str | None = None


def find_openblas(setting: str = "auto") -> str | None:
    """The OpenBLAS library to force into MLX, or None (macOS uses Accelerate/Metal already)."""
    if setting == "none" or sys.platform != "linux":
        return None
    if setting != "auto":
        return setting
    return next((path for path in OPENBLAS_CANDIDATES if Path(path).exists()), None)


def use_fast_blas(setting: str | None = None) -> str | None:
    """Load OpenBLAS with RTLD_GLOBAL so MLX's cblas calls bind to it. Returns the path used."""
    global _loaded
    if _loaded is not None:
        return _loaded or None
    if setting is None:
        from shared.settings import get_settings

        setting = get_settings().model.blas_library
    path = find_openblas(setting)
    if path and "mlx" in sys.modules:
        log.warning("mlx was imported before OpenBLAS could be loaded: it keeps its slow BLAS")
    if path:
        ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        log.info("MLX uses OpenBLAS from %s", path)
    elif sys.platform == "linux":
        log.warning("OpenBLAS not found: MLX uses its bundled reference BLAS (run `make setup`)")
    _loaded = path or ""
    return path


def import_mlx(setting: str | None = None) -> Any:
    """`mlx.core`, imported after the fast BLAS is in place."""
    use_fast_blas(setting)
    import mlx.core as mx

    return mx


def blas_in_use() -> str:
    """Which BLAS library the process has mapped (read from /proc on Linux)."""
    if sys.platform == "darwin":
        return "Accelerate (macOS)"
    maps = Path("/proc/self/maps")
    libs = {line.split()[-1] for line in maps.read_text().splitlines() if "blas" in line.lower()}
    if any("openblas" in lib for lib in libs):
        return "OpenBLAS: " + ", ".join(sorted(lib for lib in libs if "openblas" in lib))
    return "reference BLAS bundled with mlx: " + ", ".join(sorted(libs)) if libs else "unknown"


def gemm_gflops(size: int = 1024, repeats: int = 8) -> float:
    """Measured float32 matrix-multiply rate of MLX's default device."""
    mx = import_mlx()
    a = mx.random.normal((size, size))
    mx.eval(a @ a)  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        mx.eval(a @ a)
    return repeats * 2 * size**3 / (time.perf_counter() - started) / 1e9


def device_summary() -> str:
    mx = import_mlx()
    return f"mlx {mx.__version__} on {mx.default_device()} ({platform.machine()})"
