"""The llama.cpp backend (llama-cpp-python's low-level API): the GGUF the model ships in, one
context per loaded weights (the base; the base + the published adapter as a GGUF LoRA), continuous
batching in services.generation.llama_slots. The tokenizer stays the Hugging Face one from the MLX
model folder, so prompts and token counts are the same on both engines (load checks the vocabularies
agree).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from services.generation import gguf_check, lora_gguf
from services.generation.batching import Job
from services.generation.engine import step_groups
from services.generation.llama_slots import Slots
from services.generation.weights import MODEL_HINT, LoadedWeights, Published, read_metrics
from shared.errors import NotReady
from shared.schemas import WeightsInfo
from shared.settings import Settings

log = logging.getLogger(__name__)

PROBE = "Set-MpPreference -EnableControlledFolderAccess AuditMode <|im_start|> naïve 日本 🙂"
WHEEL_HINT = "run `make setup` (it builds llama-cpp-python once per machine)"


class GgufError(NotReady):
    """The GGUF file is missing or not a model llama.cpp can load (one line, naming the file)."""


def check_gguf(path: str | Path) -> str | None:
    """Why the file is not a loadable GGUF (missing, not GGUF, truncated), else None."""
    return gguf_check.check_gguf(path, MODEL_HINT)


def load_tokenizer(folder: str) -> Any:
    """The Hugging Face tokenizer (mlx-lm's wrapper) of the model folder the answer path uses."""
    from mlx_lm.tokenizer_utils import load

    if Path(folder).is_absolute() and not Path(folder).exists():
        raise NotReady(f"model folder {folder} does not exist: {MODEL_HINT}")
    return load(Path(folder))


class LlamaBackend:
    name = "llama_cpp"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.model: Any = None
        self.tokenizer: Any = None
        self.active: dict[tuple[Any, ...], Slots] = {}
        self.threads = settings.model.threads or os.cpu_count() or 1

    def prepare(self) -> None:
        if problem := check_gguf(self.settings.model.gguf):
            raise GgufError(problem)
        # unbounded spinning starves other processes on a busy machine (6.6 vs 49.7 tok/s passive
        # at load 10), passive waiting costs a sleep per op; read once, when libgomp loads
        os.environ.setdefault("GOMP_SPINCOUNT", str(self.settings.model.llama_spin_count))
        try:
            import llama_cpp
        except ImportError as error:
            raise NotReady(f"llama-cpp-python is not installed ({error}): {WHEEL_HINT}") from None
        from llama_cpp._logger import set_verbose

        set_verbose(False)  # llama.cpp's load and graph chatter: errors only
        llama_cpp.llama_backend_init()

    def load_base(self) -> LoadedWeights:
        from llama_cpp._internals import LlamaModel

        path = self.settings.model.gguf
        self.tokenizer = load_tokenizer(self.settings.model.base_id)
        params = LlamaModel.default_params()
        try:
            self.model = LlamaModel(path_model=path, params=params, verbose=False)
        except ValueError as error:
            raise GgufError(f"GGUF {path} could not be loaded by llama.cpp ({error})") from None
        self._check_vocabulary()
        return self._weights("base", None, Path(path), None)

    def load_published(self, found: Published) -> LoadedWeights:
        """The base model with the published adapter as a GGUF LoRA (converted once, kept with it)."""
        if found.kind != "adapter":
            raise NotReady(f"{found.path}: merged weights are served by the MLX engine only; "
                           "publish an adapter (the default) or set MODEL__ENGINE=mlx")
        import llama_cpp

        gguf = lora_gguf.convert(found.path)
        adapter = llama_cpp.llama_adapter_lora_init(self.model.model, str(gguf).encode())
        if not adapter:
            raise GgufError(f"GGUF adapter {gguf} could not be loaded by llama.cpp")
        return self._weights("adapter", found.version, found.path, adapter)

    def _weights(self, kind: str, version: str | None, source: Path, adapter: Any) -> LoadedWeights:
        slots = self._slots(adapter)
        info = WeightsInfo(kind=kind, version=version, path=str(source),  # type: ignore[arg-type]
                           loaded_at=time.time(), metrics=read_metrics(source) if version else {})
        log.info("loaded %s weights from %s on llama.cpp (%d threads)", kind, info.path,
                 self.threads)
        return LoadedWeights(slots, self.tokenizer, info)

    def _slots(self, adapter: Any) -> Slots:
        import ctypes

        import llama_cpp
        from llama_cpp._internals import LlamaContext

        model, infer = self.settings.model, self.settings.infer
        params = LlamaContext.default_params()
        params.n_seq_max = infer.batch_size
        params.n_ctx = model.llama_context * infer.batch_size
        params.n_batch = params.n_ubatch = model.llama_batch + infer.batch_size
        params.n_threads = params.n_threads_batch = self.threads
        params.flash_attn_type = 1 if model.flash_attn else 0
        params.kv_unified = False  # a stream per request: attention reads only its own cells
        params.no_perf = True
        context = LlamaContext(model=self.model, params=params, verbose=False)
        if adapter:
            adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(adapter)
            llama_cpp.llama_set_adapters_lora(context.ctx, adapters, 1, (ctypes.c_float * 1)(1.0))
        return Slots(context, self.model, infer.batch_size, model.llama_context,
                     model.llama_batch, infer.prefix_cache, infer.prefix_cache_entries)

    def _check_vocabulary(self) -> None:
        """Prompts arrive as the Hugging Face tokenizer's ids: llama.cpp must read them the same."""
        ours = list(self.tokenizer.encode(PROBE, add_special_tokens=False))
        theirs = self.model.tokenize(PROBE.encode(), add_bos=False, special=True)
        if ours != theirs or self.model.n_vocab() < len(self.tokenizer.vocab):
            raise GgufError(f"GGUF {self.settings.model.gguf} and the tokenizer in "
                            f"{self.settings.model.base_id} disagree on token ids")

    def admit(self, job: Job) -> None:
        slots: Slots = job.weights.model
        try:
            slots.add(job)
        except Exception as error:
            log.exception("could not start a generation")
            job.emit(error)
            return
        self.active[job.weights.key] = slots

    def step(self) -> None:
        step_groups(self.active)

    def rows(self) -> int:
        return sum(len(slots) for slots in self.active.values())

    def describe(self) -> dict[str, Any]:
        import llama_cpp

        info = llama_cpp.llama_print_system_info().decode(errors="replace")
        flags = sorted({part.split(" = ")[0].strip() for part in info.split("|")
                        if part.strip().endswith("= 1")})
        return {"engine": self.name, "version": f"llama-cpp-python {llama_cpp.__version__}",
                "threads": self.threads, "gguf": self.settings.model.gguf,
                "batch_size": self.settings.infer.batch_size,
                "flash_attn": self.settings.model.flash_attn,
                "spin_count": os.environ.get("GOMP_SPINCOUNT"), "cpu_features": flags}
