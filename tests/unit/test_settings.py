"""Settings: defaults, env overrides with `__` nesting, YAML, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.settings import PROJECT_ROOT, Settings, SettingsError, load_settings


def test_defaults_work_on_a_fresh_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("DATA_DIR", "MODELS_DIR", "REDIS_PORT"):
        monkeypatch.delenv(key, raising=False)
    settings = load_settings()
    assert settings.data_dir == PROJECT_ROOT / "data"
    assert settings.model.base_id == str(PROJECT_ROOT / "models" / "SmolLM2-135M-Instruct-mlx")
    assert settings.finetune.out_dir == str(PROJECT_ROOT / "data" / "models" / "adapters")
    assert settings.bind_host == "127.0.0.1"
    assert settings.app.mode == "rag"
    assert settings.crawl.exclude_url_patterns == ["?view="]
    assert settings.gateway_url == f"http://127.0.0.1:{settings.gateway_port}"


def test_env_overrides_nested_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CRAWL__BASE_URL", "http://127.0.0.1:8600/en-us/defender-endpoint/")
    monkeypatch.setenv("CRAWL__ALLOWED_DOMAIN", "127.0.0.1:8600")
    monkeypatch.setenv("CRAWL__EXCLUDE_URL_PATTERNS", '["?view=", "/search/"]')
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("INFER__MAX_NEW_TOKENS", "64")
    settings = load_settings()
    assert settings.crawl.allowed_domain == "127.0.0.1:8600"
    assert settings.crawl.exclude_url_patterns == ["?view=", "/search/"]
    assert settings.infer.max_new_tokens == 64
    assert settings.data_dir == tmp_path
    assert settings.finetune.out_dir == str(tmp_path / "models" / "adapters")


def test_yaml_file_is_read_and_env_beats_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("crawl:\n  max_pages: 42\n  max_depth: 2\napp:\n  mode: ft\n")
    monkeypatch.setenv("MDE_CONFIG", str(config))
    monkeypatch.setenv("CRAWL__MAX_DEPTH", "3")
    settings = load_settings()
    assert settings.crawl.max_pages == 42
    assert settings.crawl.max_depth == 3
    assert settings.app.mode == "ft"


def test_example_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MDE_CONFIG", str(PROJECT_ROOT / "configs" / "example.yaml"))
    assert load_settings().crawl.allowed_domain == "127.0.0.1:8600"


@pytest.mark.parametrize(("env", "value", "key"), [
    ("CRAWL__MAX_PAGES", "abc", "crawl.max_pages"),
    ("APP__MODE", "chatty", "app.mode"),
    ("INFER__TEMPERATURE", "9", "infer.temperature"),
    ("REDIS_PORT", "70000", "redis_port"),
])
def test_bad_values_name_the_key_and_value(monkeypatch: pytest.MonkeyPatch, env: str, value: str,
                                           key: str) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert key in str(caught.value)
    assert value in str(caught.value)


def test_missing_yaml_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MDE_CONFIG", "/nonexistent/mde.yaml")
    with pytest.raises(SettingsError, match="/nonexistent/mde.yaml"):
        load_settings()


def test_secrets_file_is_read_but_env_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.env"
    secrets.write_text("REDIS_PASSWORD=from-file\nINTERNAL_TOKEN=tok\n")
    monkeypatch.setenv("MDE_SECRETS_FILE", str(secrets))
    settings = load_settings()
    assert settings.redis_password == "from-file"
    assert "from-file@" in settings.redis_dsn
    monkeypatch.setenv("REDIS_PASSWORD", "from-env")
    assert load_settings().redis_password == "from-env"


def test_keyword_arguments_for_tests() -> None:
    settings = Settings(redis_port=7000, crawl={"max_pages": 5})
    assert settings.redis_dsn.endswith(":7000/0")
    assert settings.crawl.max_pages == 5


@pytest.mark.parametrize(("source", "key", "named"), [
    ("env", "CRAWL__MAX_PAGE", "crawl.max_page"),                       # fault: a typo, one letter
    ("env", "INFER__TEMPRATURE", "infer.temprature"),
    ("yaml", "crawl:\n  max_page: 3\n", "crawl.max_page"),
    ("yaml", "crawler:\n  max_pages: 3\n", "crawler"),                  # fault: a section typo
    ("yaml", "redis_pasword: x\n", "redis_pasword"),
    ("secrets", "INTERNAL_TOKN=abc\n", "internal_tokn"),
])
def test_unknown_keys_are_errors_naming_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                             source: str, key: str, named: str) -> None:
    """Fault: a setting nobody reads (before: `extra="ignore"` dropped it without a word)."""
    if source == "env":
        monkeypatch.setenv(key, "3")
    else:
        path = tmp_path / ("config.yaml" if source == "yaml" else "secrets.env")
        path.write_text(key)
        monkeypatch.setenv("MDE_CONFIG" if source == "yaml" else "MDE_SECRETS_FILE", str(path))
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert f"{named}: no such setting" in str(caught.value)


def test_an_ordinary_environment_is_not_an_error(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    """What a shell, honcho and the test kits put in the environment must never be refused: only
    `SECTION__KEY` variables of our own sections are checked."""
    for line in (PROJECT_ROOT / "honcho.env").read_text().splitlines():
        if line and not line.startswith("#"):
            monkeypatch.setenv(*line.split("=", 1))
    for name, value in {"PATH": "/usr/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8",
                        "MDE_PYTHON": "python", "MDE_TEST_STACK": "x", "PYTEST__X": "1",
                        "FOO__BAR": "1", "DOCKER__HOST": "x", "VIRTUAL_ENV": "/v"}.items():
        monkeypatch.setenv(name, value)
    assert load_settings().gateway_port == 8680


@pytest.mark.parametrize("config", sorted((PROJECT_ROOT / "configs").glob("*.yaml")),
                         ids=lambda path: path.name)
def test_every_shipped_config_is_valid(monkeypatch: pytest.MonkeyPatch, config: Path) -> None:
    monkeypatch.setenv("MDE_CONFIG", str(config))
    load_settings()


def test_stage_functions_are_checked_and_merged(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault: a misspelt stage module (before: the stage was `skipped ... not installed` and the
    update finished) and an unknown stage name."""
    monkeypatch.setenv("UPDATE__STAGE_FUNCTIONS", '{"crawl": "services.crawlr.jobs.crawl_site"}')
    with pytest.raises(SettingsError, match="update.stage_functions.*services.crawlr.jobs"):
        load_settings()
    monkeypatch.setenv("UPDATE__STAGE_FUNCTIONS", '{"crawling": "tests.unit.test_settings.x"}')
    with pytest.raises(SettingsError, match="unknown stage crawling"):
        load_settings()
    monkeypatch.setenv("UPDATE__STAGE_TIMEOUTS_SEC", '{"fine_tune": 60}')
    monkeypatch.delenv("UPDATE__STAGE_FUNCTIONS")
    with pytest.raises(SettingsError, match="unknown stage fine_tune"):
        load_settings()
    monkeypatch.setenv("UPDATE__STAGE_TIMEOUTS_SEC", '{"finetune": 60}')
    monkeypatch.setenv("UPDATE__STAGE_FUNCTIONS", '{"merge": "tests.unit.test_settings.x"}')
    update = load_settings().update
    assert update.stage_timeouts_sec["finetune"] == 60 and update.stage_timeouts_sec["crawl"] > 60
    assert update.stage_functions["merge"] == "tests.unit.test_settings.x"
    assert update.stage_functions["crawl"] == "services.crawler.jobs.crawl_site"  # kept


def test_required_token_without_a_token_says_which_variable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUIRE_INTERNAL_TOKEN", "true")
    monkeypatch.setenv("REDIS_PASSWORD", "do-not-print-me")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "set INTERNAL_TOKEN" in str(caught.value)
    assert "do-not-print-me" not in str(caught.value)  # a rule across keys never echoes them all


def test_redis_password_is_quoted_in_the_url() -> None:
    """Fault: a password with URL characters (before: `@` ended the password, `#` began a
    fragment)."""
    from redis import Redis

    password = "p@ss/w#rd%41:x?"
    settings = Settings(redis_password=password, redis_port=7000)
    kwargs = Redis.from_url(settings.redis_dsn).connection_pool.connection_kwargs
    assert (kwargs["password"], kwargs["host"], kwargs["port"], kwargs["db"]) == (
        password, "127.0.0.1", 7000, 0)

