"""One fine-tuning attempt end to end: skip check, base eval, LoRA training, eval, publish or reject.

The same function runs in the RQ worker (`jobs.finetune`) and in the CLI (`mde finetune`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from services.trainer import checkpoint, evaluation, lora, publish
from services.trainer.attempts import AttemptLog
from services.trainer.dataset import DatasetInfo, current_dataset, read_split
from shared.errors import Conflict, NotFound
from shared.pointer import current_version_dir
from shared.progress import Progress, null_progress
from shared.settings import Settings

log = logging.getLogger(__name__)

# settings that change what is trained; evaluation and publishing settings are not part of it
TRAINING_KEYS = ("lora_rank", "lora_alpha", "lora_dropout", "learning_rate", "warmup_iters", "iters",
                 "batch_size", "grad_accumulation", "num_layers", "max_seq_length", "mask_prompt",
                 "seed")


def run_key(dataset_hash: str, settings: Settings) -> str:
    """Identifies a training run: the dataset, the base model and the training settings."""
    config = {k: getattr(settings.finetune, k) for k in TRAINING_KEYS}
    body = json.dumps([dataset_hash, settings.model.base_id, config], sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def skip_reason(info: DatasetInfo, key: str, settings: Settings, attempts: AttemptLog) -> str | None:
    """Why this dataset need not be trained again, or None."""
    current = current_version_dir(settings.finetune.out_dir)
    if current and publish.read_metrics(current).get("run_key") == key:
        return f"dataset {info.hash[:12]} is the one published adapter {current.name} was trained on"
    previous = attempts.finished(key)
    if previous:
        return (f"dataset {info.hash[:12]} with these settings was already {previous['status']} "
                f"as {previous.get('version')} ({previous.get('reason')})")
    return None


def eval_samples(info: DatasetInfo, tokenizer: Any, settings: Settings) -> dict[str, evaluation.Sample]:
    ft = settings.finetune
    heldout = [r["text"] for r in read_split(Path(info.path), "text", "test")]
    if not heldout:
        raise NotFound("the dataset has no held-out test pages: add pages or raise test_ratio")
    general = evaluation.general_texts(ft.general_text_files, ft.general_text_package)
    return {"heldout": evaluation.windows(heldout, tokenizer, ft.max_seq_length, ft.eval_max_tokens,
                                          "heldout"),
            "general": evaluation.windows(general, tokenizer, ft.max_seq_length,
                                          ft.general_max_tokens, "general")}


def base_scores(model: Any, samples: dict[str, evaluation.Sample], settings: Settings,
                progress: Progress) -> dict[str, float]:
    cache = evaluation.EvalCache(Path(settings.finetune.out_dir) / ".eval-cache.json")
    scores = {}
    for number, (name, sample) in enumerate(samples.items()):
        progress("evaluate", number, 4, f"base model on {name} ({sample.tokens} tokens)")
        scores[f"base_{name}_ppl"] = evaluation.cached_perplexity(
            cache, settings.model.base_id, model, sample, settings.finetune.batch_size)
    return scores


def current_score(sample: evaluation.Sample, settings: Settings) -> dict[str, Any]:
    """The published adapter's held-out perplexity on today's test split (reused when equal)."""
    folder = current_version_dir(settings.finetune.out_dir)
    if folder is None or not publish.is_adapter(folder):
        return {}
    metrics = publish.read_metrics(folder)
    if metrics.get("heldout_sample") == sample.fingerprint and "heldout_ppl" in metrics:
        value = metrics["heldout_ppl"]
    else:
        from mlx_lm import load

        model = load(settings.model.base_id, adapter_path=str(folder))[0]
        value = evaluation.perplexity(model, sample, settings.finetune.batch_size)
    return {"current_version": folder.name, "current_heldout_ppl": value}


def training_sets(info: DatasetInfo, tokenizer: Any, settings: Settings) -> dict[str, list[tuple]]:
    """The tokenized train and valid splits (text records, then chat pairs)."""
    ft, folder = settings.finetune, Path(info.path)
    return {split: lora.tokenize(read_split(folder, "text", split), tokenizer, False,
                                 ft.max_seq_length)
            + lora.tokenize(read_split(folder, "chat", split), tokenizer, ft.mask_prompt,
                            ft.max_seq_length)
            for split in ("train", "valid")}


def train(model: Any, tokenizer: Any, info: DatasetInfo, run_dir: Path, settings: Settings,
          progress: Progress) -> lora.TrainResult:
    ft = settings.finetune
    sets = training_sets(info, tokenizer, settings)
    lora.attach_lora(model, ft)
    valid = sets["valid"] if ft.val_batches and len(sets["valid"]) >= ft.batch_size else []
    return lora.train_adapter(model, sets["train"], valid, ft, run_dir, progress)


def finetune(settings: Settings, progress: Progress = null_progress, dataset: DatasetInfo | None = None,
             force: bool = False, attempts: AttemptLog | None = None) -> dict[str, Any]:
    """Train, evaluate and publish (or reject) an adapter for the dataset; skip an unchanged one."""
    info = dataset or current_dataset(settings)
    if info is None:
        raise NotFound("no dataset yet: run `mde prepare-dataset` (or the prepare_dataset job)")
    out_dir = Path(settings.finetune.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    attempts = attempts or AttemptLog(settings)
    key = run_key(info.hash, settings)
    try:
        with FileLock(out_dir / ".train.lock", timeout=0):
            reason = None if force else skip_reason(info, key, settings, attempts)
            if reason:
                return record(attempts, {"status": "skipped", "reason": reason}, info, key)
            return record(attempts, attempt(settings, info, key, progress), info, key)
    except Timeout:
        raise Conflict("another training run holds the trainer lock", retry_after=60) from None


def attempt(settings: Settings, info: DatasetInfo, key: str, progress: Progress) -> dict[str, Any]:
    """Load the base, score it, train LoRA, score the adapter, then publish or reject it."""
    ft = settings.finetune
    progress("load", 0, 1, f"loading {settings.model.base_id}")
    model, tokenizer = lora.load_base(settings.model.base_id, settings.model.blas_library)
    samples = eval_samples(info, tokenizer, settings)
    metrics: dict[str, Any] = base_scores(model, samples, settings, progress)
    run_dir = Path(ft.out_dir) / ".runs" / key
    result = train(model, tokenizer, info, run_dir, settings, progress)
    for number, (name, sample) in enumerate(samples.items(), start=2):
        progress("evaluate", number, 4, f"adapter on {name}")
        # diverged weights are NaN: scoring them would only spend minutes to get infinity
        metrics[f"{name}_ppl"] = (math.inf if result.diverged else
                                  evaluation.perplexity(model, sample, ft.batch_size))
    metrics.update(current_score(samples["heldout"], settings))
    version = publish.new_version(info.hash)
    metrics.update(train_summary(result), run_key=key, dataset_hash=info.hash, version=version,
                   base_model=settings.model.base_id, created_at=time.time(),
                   heldout_sample=samples["heldout"].fingerprint,
                   heldout_tokens=samples["heldout"].tokens, general_tokens=samples["general"].tokens,
                   settings=ft.model_dump(), dataset=info.to_dict())
    staging = Path(ft.out_dir) / f".staging-{version}"
    lora.save_adapter(model, staging, lora.adapter_config(ft, settings.model.base_id))
    outcome = settle(staging, metrics, settings, progress)
    checkpoint.remove(run_dir)
    return outcome


def settle(staging: Path, metrics: dict[str, Any], settings: Settings,
           progress: Progress) -> dict[str, Any]:
    """Apply the publish rule to a staged adapter: publish it (and reload generation) or reject it."""
    ft, version = settings.finetune, metrics["version"]
    decision = publish.decide(metrics, ft)
    metrics["status"] = "published" if decision.publish else "rejected"
    publish.write_metrics(staging, metrics)
    progress("publish", 0, 1, decision.reason)
    if decision.publish:
        path = publish.publish(staging, Path(ft.out_dir), version, ft.keep_versions)
    else:
        path = publish.reject(staging, Path(ft.out_dir), version, decision.reason, ft.keep_versions)
    progress("publish", 1, 1, decision.reason)
    reloaded = publish.reload_generation(settings) if decision.publish else False
    return {"status": metrics["status"], "reason": decision.reason, "version": version,
            "path": str(path), "reloaded": reloaded, "metrics": summary(metrics)}


def train_summary(result: lora.TrainResult) -> dict[str, Any]:
    return {"steps": result.steps, "resumed_from_step": result.resumed_from,
            "train_seconds": round(result.seconds, 1), "trained_tokens": result.trained_tokens,
            "tokens_per_sec": round(result.tokens_per_sec, 1), "losses": result.losses,
            "val_losses": result.val_losses, "diverged": result.diverged}


def summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics a job result carries (no settings dump, last losses only)."""
    keys = ("heldout_ppl", "base_heldout_ppl", "general_ppl", "base_general_ppl", "current_version",
            "current_heldout_ppl", "steps", "resumed_from_step", "train_seconds", "trained_tokens",
            "tokens_per_sec", "diverged", "heldout_tokens", "general_tokens")
    out = {k: metrics.get(k) for k in keys if k in metrics}
    out["losses"] = metrics.get("losses", [])[-5:]
    out["val_losses"] = metrics.get("val_losses", [])[-3:]
    return out


def record(attempts: AttemptLog, result: dict[str, Any], info: DatasetInfo, key: str) -> dict[str, Any]:
    result.update(dataset_hash=info.hash, run_key=key, finished_at=time.time())
    result["recorded_in"] = attempts.record(dict(result))
    log.info("training attempt %s: %s", result["status"], result["reason"])
    return result
