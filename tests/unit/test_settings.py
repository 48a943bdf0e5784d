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
