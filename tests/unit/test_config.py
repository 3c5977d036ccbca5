"""Tests for reading configuration from the environment and a secrets mapping."""

from __future__ import annotations

import re
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

import mimio_core
from mimio_core.catalogue import MODELS
from mimio_core.config import SETTINGS, ConfigError, Settings, load_settings
from mimio_core.runtime import offered_models
from mimio_core.supabase_project import SupabaseProject
from tests.supabase.tokens import mint_jwt


def test_defaults_without_environment_or_secrets():
    settings = load_settings(environ={})
    assert settings == Settings(
        provider="local",
        api_url=None,
        openai_base_url=None,
        openai_api_key=None,
        catalogue_file=None,
        data_dir=Path("data"),
        poll_interval=3.0,
        timeout=600.0,
        concurrency=3,
        lease_seconds=30.0,
        http_timeout=30.0,
        max_reference_bytes=25 * 1024 * 1024,
        local_latency=0.0,
        local_render_slots=1,
        log_level="INFO",
    )
    assert isinstance(settings.concurrency, int)
    assert isinstance(settings.poll_interval, float)


def test_environment_overrides_every_default():
    settings = load_settings(
        environ={
            "MIMIO_API_URL": "https://videos.example.com/",
            "MIMIO_DATA_DIR": "/srv/mimio",
            "MIMIO_POLL_INTERVAL": "0.5",
            "MIMIO_TIMEOUT": "120",
            "MIMIO_CONCURRENCY": " 7 ",
            "MIMIO_LEASE_SECONDS": "12",
            "MIMIO_HTTP_TIMEOUT": "4.5",
            "MIMIO_MAX_REFERENCE_MB": "0.5",
            "MIMIO_LOCAL_LATENCY": "0",
            "MIMIO_LOCAL_RENDER_SLOTS": "2",
            "MIMIO_LOG_LEVEL": " debug ",
            "MIMIO_CATALOGUE_FILE": "/srv/models.jsonl",
        }
    )
    assert settings == Settings(
        provider="mimio",
        api_url="https://videos.example.com",
        openai_base_url=None,
        openai_api_key=None,
        catalogue_file=Path("/srv/models.jsonl"),
        data_dir=Path("/srv/mimio"),
        poll_interval=0.5,
        timeout=120.0,
        concurrency=7,
        lease_seconds=12.0,
        http_timeout=4.5,
        max_reference_bytes=524288,
        local_latency=0.0,
        local_render_slots=2,
        log_level="DEBUG",
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        ("https://x.example/api///", "https://x.example/api"),
        ("  https://x.example/  ", "https://x.example"),
        ("", None),
        ("   ", None),
    ],
)
def test_api_url_is_normalised(raw, expected):
    assert load_settings(environ={"MIMIO_API_URL": raw}).api_url == expected


def test_data_dir_expands_home(monkeypatch):
    monkeypatch.setenv("HOME", "/home/tester")
    assert load_settings(environ={"MIMIO_DATA_DIR": "~/mimio"}).data_dir == Path("/home/tester/mimio")


def test_secrets_are_used_when_environment_lacks_the_key():
    settings = load_settings(
        environ={}, secrets={"MIMIO_API_URL": "https://secret.example/", "MIMIO_CONCURRENCY": 5}
    )
    assert (settings.api_url, settings.concurrency) == ("https://secret.example", 5)


def test_environment_wins_over_secrets():
    settings = load_settings(
        environ={"MIMIO_API_URL": "http://env.example", "MIMIO_CONCURRENCY": "2"},
        secrets={"MIMIO_API_URL": "https://secret.example", "MIMIO_CONCURRENCY": 9, "MIMIO_TIMEOUT": 60},
    )
    assert (settings.api_url, settings.concurrency, settings.timeout) == ("http://env.example", 2, 60.0)


def test_empty_environment_value_still_wins_over_a_secret_url():
    settings = load_settings(
        environ={"MIMIO_API_URL": ""}, secrets={"MIMIO_API_URL": "https://secret.example"}
    )
    assert settings.api_url is None


def test_process_environment_is_read_when_no_mapping_given(monkeypatch):
    monkeypatch.setenv("MIMIO_CONCURRENCY", "11")
    monkeypatch.delenv("MIMIO_API_URL", raising=False)
    assert load_settings().concurrency == 11


@pytest.mark.parametrize(
    ("key", "raw", "message"),
    [
        ("MIMIO_CONCURRENCY", "0", "MIMIO_CONCURRENCY must be greater than 0, got '0'"),
        ("MIMIO_CONCURRENCY", "2.5", "MIMIO_CONCURRENCY must be a number, got '2.5'"),
        ("MIMIO_POLL_INTERVAL", "abc", "MIMIO_POLL_INTERVAL must be a number, got 'abc'"),
        ("MIMIO_POLL_INTERVAL", "", "MIMIO_POLL_INTERVAL must be a number, got ''"),
        ("MIMIO_TIMEOUT", "-1", "MIMIO_TIMEOUT must be greater than 0, got '-1'"),
        ("MIMIO_LEASE_SECONDS", "0", "MIMIO_LEASE_SECONDS must be greater than 0, got '0'"),
        ("MIMIO_HTTP_TIMEOUT", "fast", "MIMIO_HTTP_TIMEOUT must be a number, got 'fast'"),
        ("MIMIO_MAX_REFERENCE_MB", "0", "MIMIO_MAX_REFERENCE_MB must be greater than 0, got '0'"),
        ("MIMIO_LOCAL_LATENCY", "-0.1", "MIMIO_LOCAL_LATENCY must be 0 or more, got '-0.1'"),
        ("MIMIO_LOCAL_LATENCY", "x", "MIMIO_LOCAL_LATENCY must be a number, got 'x'"),
        ("MIMIO_LOCAL_RENDER_SLOTS", "0", "MIMIO_LOCAL_RENDER_SLOTS must be greater than 0, got '0'"),
        ("MIMIO_API_URL", "ftp://x", "MIMIO_API_URL must start with http:// or https://, got 'ftp://x'"),
        (
            "MIMIO_API_URL",
            "localhost:8000",
            "MIMIO_API_URL must start with http:// or https://, got 'localhost:8000'",
        ),
        (
            "MIMIO_LOG_LEVEL",
            "verbose",
            "MIMIO_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got 'verbose'",
        ),
    ],
)
def test_bad_values_raise_config_error_naming_the_key(key, raw, message):
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={key: raw})
    assert str(caught.value) == message


def test_bad_secret_is_reported_like_a_bad_environment_value():
    with pytest.raises(ConfigError, match=r"^MIMIO_CONCURRENCY must be greater than 0, got '-4'$"):
        load_settings(environ={}, secrets={"MIMIO_CONCURRENCY": -4})


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_nan_is_refused():
    with pytest.raises(ConfigError):
        load_settings(environ={"MIMIO_POLL_INTERVAL": "nan"})


def test_replace_returns_a_changed_copy():
    settings = load_settings(environ={})
    changed = settings.replace(concurrency=9, api_url="http://x")
    assert (changed.concurrency, changed.api_url, changed.timeout) == (9, "http://x", 600.0)
    assert (settings.concurrency, settings.api_url) == (3, None)


def test_every_setting_is_documented_with_a_unique_key():
    keys = [s.key for s in SETTINGS]
    assert len(keys) == len(set(keys))
    assert all(
        # FAL_KEY and REPLICATE_API_TOKEN keep the names the platforms' own clients read
        (k.startswith(("MIMIO_", "SUPABASE_")) or k in ("FAL_KEY", "REPLICATE_API_TOKEN")) and s.description
        for k, s in zip(keys, SETTINGS, strict=True)
    )
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert [key for key in keys if f"| `{key}` |" not in readme] == []  # the README table lists them all


def test_the_provider_follows_the_configuration():
    assert load_settings(environ={}).provider == "local"
    assert load_settings(environ={"MIMIO_API_URL": "https://api.example.com"}).provider == "mimio"
    openai = load_settings(
        environ={
            "MIMIO_PROVIDER": "OpenAI",
            "MIMIO_OPENAI_BASE_URL": "https://gateway.example.com/v1/",
            "MIMIO_OPENAI_API_KEY": " sk-test ",
        }
    )
    assert (openai.provider, openai.openai_base_url, openai.openai_api_key) == (
        "openai",
        "https://gateway.example.com/v1",
        "sk-test",
    )
    assert "sk-test" not in repr(openai)  # a key never reaches a log through the settings
    with pytest.raises(
        ConfigError, match=r"^MIMIO_PROVIDER must be one of local, mimio, openai, fal, replicate, got 'veo'$"
    ):
        load_settings(environ={"MIMIO_PROVIDER": "veo"})
    with pytest.raises(ConfigError, match=r"^MIMIO_PROVIDER=mimio needs MIMIO_API_URL"):
        load_settings(environ={"MIMIO_PROVIDER": "mimio"})
    with pytest.raises(ConfigError, match=r"^MIMIO_PROVIDER=fal needs FAL_KEY, a fal.ai API key$"):
        load_settings(environ={"MIMIO_PROVIDER": "fal", "REPLICATE_API_TOKEN": "r8_x"})


def test_the_openai_key_can_come_from_secrets():
    settings = load_settings(environ={}, secrets={"MIMIO_OPENAI_API_KEY": "sk-from-secrets"})
    assert settings.openai_api_key == "sk-from-secrets"


def test_every_configured_provider_is_active_at_once_the_default_first():
    assert load_settings(environ={}).active_providers == ("local",)
    assert load_settings(environ={"MIMIO_OPENAI_BASE_URL": "https://gw.example.com/v1"}).provider == "openai"
    everything = {
        "MIMIO_API_URL": "https://api.example.com",
        "MIMIO_OPENAI_BASE_URL": "https://gw.example.com/v1",
        "FAL_KEY": " fal-secret ",
        "REPLICATE_API_TOKEN": "r8_secret",
    }
    settings = load_settings(environ=everything)
    assert settings.active_providers == ("mimio", "openai", "fal", "replicate", "local")
    chosen = load_settings(environ={**everything, "MIMIO_PROVIDER": "replicate", "MIMIO_LOCAL": "off"})
    assert chosen.active_providers == ("replicate", "mimio", "openai", "fal")
    assert settings.fal is not None and settings.replicate is not None
    assert (settings.fal.key, settings.fal.base_url, settings.fal.storage_url) == (
        "fal-secret",
        "https://queue.fal.run",
        "https://rest.alpha.fal.ai",
    )
    assert (settings.replicate.key, settings.replicate.base_url) == (
        "r8_secret",
        "https://api.replicate.com/v1",
    )
    assert "fal-secret" not in repr(settings) and "r8_secret" not in repr(settings)
    fal_only = load_settings(environ={"FAL_KEY": "k", "MIMIO_FAL_QUEUE_URL": "http://127.0.0.1:9/"})
    assert (fal_only.provider, fal_only.active_providers) == ("fal", ("fal", "local"))
    assert fal_only.fal is not None and fal_only.fal.base_url == "http://127.0.0.1:9"


def test_a_configuration_without_any_provider_is_refused():
    with pytest.raises(ConfigError, match=r"^MIMIO_LOCAL=off but no other provider is set: set FAL_KEY"):
        load_settings(environ={"MIMIO_LOCAL": "off"})
    with pytest.raises(ConfigError, match=r"^MIMIO_PROVIDER=local but MIMIO_LOCAL=off$"):
        load_settings(environ={"MIMIO_LOCAL": "off", "MIMIO_PROVIDER": "local", "FAL_KEY": "k"})
    with pytest.raises(ConfigError, match=r"^MIMIO_FAL_QUEUE_URL must start with http"):
        load_settings(environ={"FAL_KEY": "k", "MIMIO_FAL_QUEUE_URL": "queue.fal.run"})


SUPABASE = {
    "SUPABASE_URL": "https://abcd.supabase.co/",
    "SUPABASE_ANON_KEY": mint_jwt("anon"),
    "SUPABASE_SERVICE_ROLE_KEY": mint_jwt("service_role"),
}


def test_supabase_is_off_unless_configured_and_keys_stay_out_of_repr():
    assert load_settings(environ={}).supabase is None
    settings = load_settings(environ={**SUPABASE, "SUPABASE_SIGNED_URL_SECONDS": "600"})
    assert settings.supabase is not None
    assert (settings.supabase.url, settings.supabase.signed_url_seconds) == ("https://abcd.supabase.co", 600)
    assert settings.supabase.service_role_key == SUPABASE["SUPABASE_SERVICE_ROLE_KEY"]
    shown = repr(settings)
    assert SUPABASE["SUPABASE_SERVICE_ROLE_KEY"] not in shown and SUPABASE["SUPABASE_ANON_KEY"] not in shown
    assert load_settings(environ={}, secrets=SUPABASE).supabase == replace(
        settings.supabase, signed_url_seconds=3600
    )


def test_newer_supabase_api_keys_are_told_apart_by_their_prefix():
    keys = {"SUPABASE_ANON_KEY": "sb_publishable_abc", "SUPABASE_SERVICE_ROLE_KEY": "sb_secret_xyz"}
    assert load_settings(environ={**SUPABASE, **keys}).supabase is not None
    with pytest.raises(ConfigError, match=r"^SUPABASE_SERVICE_ROLE_KEY is not a service-role key"):
        load_settings(environ={**SUPABASE, **keys, "SUPABASE_SERVICE_ROLE_KEY": "sb_publishable_abc"})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"SUPABASE_URL": ""}, "SUPABASE_ANON_KEY or SUPABASE_SERVICE_ROLE_KEY is set without SUPABASE_URL"),
        ({"SUPABASE_URL": "abcd.supabase.co"}, "SUPABASE_URL must start with http:// or https://"),
        ({"SUPABASE_ANON_KEY": " "}, "SUPABASE_URL is set but SUPABASE_ANON_KEY is not"),
        (
            {"SUPABASE_SERVICE_ROLE_KEY": ""},
            "SUPABASE_URL is set but SUPABASE_SERVICE_ROLE_KEY is not. The engine",
        ),
        ({"SUPABASE_ANON_KEY": mint_jwt("service_role")}, "SUPABASE_ANON_KEY holds a service-role key"),
        ({"SUPABASE_ANON_KEY": "sb_secret_xyz"}, "SUPABASE_ANON_KEY holds a service-role key"),
        (
            {"SUPABASE_SERVICE_ROLE_KEY": mint_jwt("anon")},
            "SUPABASE_SERVICE_ROLE_KEY is not a service-role key",
        ),
        ({"SUPABASE_SERVICE_ROLE_KEY": "not-a-key"}, "SUPABASE_SERVICE_ROLE_KEY is not a service-role key"),
        ({"SUPABASE_SIGNED_URL_SECONDS": "0"}, "SUPABASE_SIGNED_URL_SECONDS must be greater than 0"),
    ],
)
def test_a_half_or_wrong_supabase_configuration_is_refused_naming_the_key_not_its_value(changes, message):
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}") as refused:
        load_settings(environ={**SUPABASE, **changes})
    for secret in (SUPABASE["SUPABASE_SERVICE_ROLE_KEY"], SUPABASE["SUPABASE_ANON_KEY"], "sb_secret_xyz"):
        assert secret not in str(refused.value)


def test_a_web_tier_without_an_engine_needs_no_service_role_key_but_an_engine_does(tmp_path):
    without_key = {**SUPABASE, "SUPABASE_SERVICE_ROLE_KEY": ""}
    web = load_settings(environ={**without_key, "MIMIO_ENGINE": "off"})
    assert web.engine is False and web.supabase is not None and web.supabase.service_role_key is None
    assert load_settings(environ={}).engine is True  # embedded by default
    with pytest.raises(ConfigError, match=r"^MIMIO_ENGINE must be embedded or off, got 'worker'$"):
        load_settings(environ={"MIMIO_ENGINE": "worker"})
    project = SupabaseProject(web.supabase, 5)
    try:  # a worker started with the web tier's settings says what it lacks
        with pytest.raises(ConfigError, match=r"^SUPABASE_SERVICE_ROLE_KEY is not set: an engine"):
            project.engine_storage()
    finally:
        project.close()


def test_the_version_is_the_projects() -> None:
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert mimio_core.__version__ == pyproject["project"]["version"]


def test_the_dashboard_shows_no_tracebacks_in_the_browser() -> None:
    """A traceback on the page shows server paths and code to every user; the log keeps it."""
    import tomllib

    config = tomllib.loads((Path(__file__).parents[2] / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"


@pytest.mark.parametrize(("raw", "allowed"), [(None, False), ("off", False), ("on", True), (" ON ", True)])
def test_private_redirects_switch(raw: str | None, allowed: bool) -> None:
    environ = {} if raw is None else {"MIMIO_PRIVATE_REDIRECTS": raw}
    assert load_settings(environ=environ).private_redirects is allowed


def test_private_redirects_takes_only_on_or_off() -> None:
    with pytest.raises(ConfigError, match=r"^MIMIO_PRIVATE_REDIRECTS must be on or off, got 'yes'$"):
        load_settings(environ={"MIMIO_PRIVATE_REDIRECTS": "yes"})


def test_a_dashboard_without_an_engine_offers_the_workers_providers_without_their_keys():
    settings = load_settings(environ={"MIMIO_ENGINE": "off", "MIMIO_WORKER_PROVIDERS": "fal, Replicate"})
    assert (settings.fal, settings.replicate) == (None, None)  # no key in the web tier
    assert settings.active_providers == ("fal", "replicate")
    offered = offered_models(settings, MODELS)
    assert "fal-kling-3-turbo-pro" in offered and "mimio-local" not in offered
    assert offered["fal-kling-3-turbo-pro"].label.endswith("· fal.ai")


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MIMIO_WORKER_PROVIDERS": "fal"}, "set MIMIO_ENGINE=off too, or leave it unset"),
        (
            {"MIMIO_ENGINE": "off", "MIMIO_WORKER_PROVIDERS": "fal,runway"},
            "MIMIO_WORKER_PROVIDERS takes provider names (local, mimio, openai, fal, replicate), "
            "not 'runway'",
        ),
    ],
)
def test_worker_providers_that_cannot_be_used_are_refused(environ, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(environ=environ)
