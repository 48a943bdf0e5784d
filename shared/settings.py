"""The one place that reads configuration: defaults < YAML (MDE_CONFIG) < secrets file < environment.

Nested sections mirror the original project's config keys; env vars use `__` for nesting
(`CRAWL__BASE_URL=...`). Tests build `Settings(...)` with keyword arguments.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from shared.settings_sections import (
    LOOPBACK,
    PROJECT_ROOT,
    AppSettings,
    CrawlSettings,
    FinetuneSettings,
    IndexSettings,
    InferSettings,
    MergeSettings,
    ModelSettings,
    ProcessingSettings,
    UpdateSettings,
    WorkerSettings,
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_nested_delimiter="__",
        env_file=None,
        extra="forbid",  # a YAML key, .secrets.env line or SECTION__KEY variable we do not know
        case_sensitive=False,
    )

    data_dir: Path = PROJECT_ROOT / "data"
    models_dir: Path = PROJECT_ROOT / "models"
    log_level: str = "INFO"
    bind_host: str = LOOPBACK

    redis_host: str = LOOPBACK
    redis_port: int = Field(6390, ge=1, le=65535)
    redis_password: str = ""
    redis_url: str = ""  # overrides host/port/password when set
    internal_token: str = ""  # required on mutating routes once anything binds beyond loopback
    require_internal_token: bool = False  # require it even on loopback
    update_token: str = ""

    gateway_port: int = 8680
    crawler_port: int = 8681
    indexer_port: int = 8682
    embedding_port: int = 8683
    retrieval_port: int = 8684
    generation_port: int = 8685
    trainer_port: int = 8686
    ui_port: int = 8501
    gateway_url: str = ""
    crawler_url: str = ""
    indexer_url: str = ""
    embedding_url: str = ""
    retrieval_url: str = ""
    generation_url: str = ""
    trainer_url: str = ""
    generation_urls: str = ""  # comma-separated replicas for the gateway (else generation_url)

    max_body_bytes: int = Field(2_000_000, ge=1024)

    crawl: CrawlSettings = CrawlSettings()
    processing: ProcessingSettings = ProcessingSettings()
    index: IndexSettings = IndexSettings()
    model: ModelSettings = ModelSettings()
    finetune: FinetuneSettings = FinetuneSettings()
    merge: MergeSettings = MergeSettings()
    infer: InferSettings = InferSettings()
    app: AppSettings = AppSettings()
    update: UpdateSettings = UpdateSettings()
    worker: WorkerSettings = WorkerSettings()

    @model_validator(mode="after")
    def _token_when_required(self) -> Settings:
        if self.require_internal_token and not self.internal_token:
            raise ValueError("require_internal_token is true but there is no token: set "
                             "INTERNAL_TOKEN (make setup writes one to .secrets.env)")
        return self

    @model_validator(mode="after")
    def _fill_derived(self) -> Settings:
        self.data_dir = Path(self.data_dir).expanduser().resolve()
        self.models_dir = Path(self.models_dir).expanduser().resolve()
        if not self.model.base_id:
            self.model.base_id = str(self.models_dir / "SmolLM2-135M-Instruct-mlx")
        if not self.model.gguf:
            self.model.gguf = self.model.base_id.rstrip("/") + ".gguf"
        if not self.finetune.out_dir:
            self.finetune.out_dir = str(self.data_dir / "models" / "adapters")
        if not self.merge.out_dir:
            self.merge.out_dir = str(self.data_dir / "models" / "merged")
        for name in SERVICES:
            if not getattr(self, f"{name}_url"):
                port = getattr(self, f"{name}_port")
                setattr(self, f"{name}_url", f"http://{LOOPBACK}:{port}")
        return self

    @property
    def redis_dsn(self) -> str:
        """The Redis URL every process connects with."""
        if self.redis_url:
            return self.redis_url
        # quoted: a password with @ / # % would otherwise be read as part of the host or path
        auth = f":{quote(self.redis_password, safe='')}@" if self.redis_password else ""
        return f"redis://{auth}{self.redis_host}:{self.redis_port}/0"

    @property
    def generation_replicas(self) -> list[str]:
        """The generation services the gateway spreads answers over."""
        urls = [url.strip().rstrip("/") for url in self.generation_urls.split(",") if url.strip()]
        return urls or [self.generation_url]

    def service_url(self, name: str) -> str:
        return getattr(self, f"{name}_url")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        from pydantic_settings import DotEnvSettingsSource

        secrets = DotEnvSettingsSource(settings_cls, env_file=secrets_path())
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, secrets]
        config_file = os.environ.get("MDE_CONFIG")
        if config_file:
            if not Path(config_file).is_file():
                raise SettingsError(f"MDE_CONFIG={config_file}: no such file")
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)


SERVICES = ("gateway", "crawler", "indexer", "embedding", "retrieval", "generation", "trainer")


class SettingsError(ValueError):
    """Configuration that cannot be used; the message names the key and the value."""


def secrets_path() -> Path:
    """The git-ignored file holding the Redis password and internal token (made by set-up)."""
    return Path(os.environ.get("MDE_SECRETS_FILE", PROJECT_ROOT / ".secrets.env"))


def describe_errors(error: ValidationError) -> str:
    """One line per bad key: `crawl.max_pages = 'abc': Input should be a valid integer`."""
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        if item["type"] == "extra_forbidden":
            env = key.upper().replace(".", "__")
            lines.append(f"{key}: no such setting (YAML key {key} or variable {env}): check the "
                         "spelling against shared/settings_sections.py")
        elif not key:  # a rule across keys: its message names them (the input would be everything)
            lines.append(item["msg"].removeprefix("Value error, "))
        else:
            lines.append(f"{key} = {item.get('input')!r}: {item['msg']}")
    return "invalid configuration: " + "; ".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning validation errors into a SettingsError naming each key."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise SettingsError(describe_errors(error)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; exits with a one-line message when they are invalid."""
    try:
        return load_settings()
    except SettingsError as error:
        sys.exit(f"mde: {error}")
