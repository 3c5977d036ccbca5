"""The one place that reads configuration.

Values come from environment variables, and from a secrets mapping (Streamlit's `st.secrets`)
when the caller passes one; the environment wins so a deployment can override a pasted secret.
Everything else receives a `Settings` object and never looks at the environment itself.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_args

from mimio_core.catalogue import ProviderKind
from mimio_core.errors import ConfigurationError
from mimio_core.tokens import unverified_claims

ORIGIN = re.compile(r"https?://(\[[0-9a-fA-F:.]+\]|[^\s/:?#@\[\]]+)(:\d{1,5})?")


class ConfigError(ConfigurationError):
    """A configuration value is present but unusable; the message names the key."""


@dataclass(frozen=True)
class Setting:
    """One documented configuration key (the README table is generated from these)."""

    key: str
    default: str | None
    description: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "MIMIO_PROVIDER",
        None,
        "Whose models come first in the form and serve a model two providers offer: `local`, `mimio`, "
        "`openai`, `fal` or `replicate` (it must be active). Unset: the first active of mimio, openai, "
        "fal, replicate, else `local`.",
    ),
    Setting(
        "MIMIO_LOCAL",
        "on",
        "`off`: no embedded video server and no Local preview model (it is on beside the others).",
    ),
    Setting(
        "MIMIO_ENGINE",
        "embedded",
        "`embedded`: the app's process runs the engine. `off`: it runs none, calls no provider and needs "
        "no SUPABASE_SERVICE_ROLE_KEY; `python -m mimio_core worker` (one or several) makes the videos.",
    ),
    Setting(
        "MIMIO_WORKER_PROVIDERS",
        None,
        "With MIMIO_ENGINE=off: the providers the workers make videos with, comma-separated (e.g. "
        "`fal,replicate`), so the form offers their models while their keys stay with the workers.",
    ),
    Setting("MIMIO_API_URL", None, "Base URL of a Mimio video API server: activates provider `mimio`."),
    Setting(
        "MIMIO_API_KEY",
        None,
        "Bearer key for that server when it asks for one (a `serve-local` with MIMIO_LOCAL_API_KEY; "
        "a secret: environment or st.secrets).",
    ),
    Setting(
        "MIMIO_OPENAI_BASE_URL",
        None,
        "Base URL of an OpenAI-compatible Videos API (a gateway such as LiteLLM), ending in /v1: "
        "activates provider `openai`.",
    ),
    Setting(
        "MIMIO_OPENAI_API_KEY", None, "Bearer key for that gateway (a secret: environment or st.secrets)."
    ),
    Setting(
        "FAL_KEY", None, "A fal.ai API key: activates provider `fal` (a secret: environment or st.secrets)."
    ),
    Setting(
        "MIMIO_FAL_QUEUE_URL", "https://queue.fal.run", "fal's queue API (change it for a proxy or tests)."
    ),
    Setting(
        "MIMIO_FAL_STORAGE_URL",
        "https://rest.alpha.fal.ai",
        "fal's file storage, where references too big for a data URI are uploaded.",
    ),
    Setting(
        "MIMIO_FAL_API_URL",
        "https://api.fal.ai/v1",
        "fal's platform API, where a create whose answer was lost is looked up among past requests.",
    ),
    Setting(
        "REPLICATE_API_TOKEN",
        None,
        "A Replicate API token: activates provider `replicate` (a secret: environment or st.secrets).",
    ),
    Setting(
        "MIMIO_REPLICATE_BASE_URL",
        "https://api.replicate.com/v1",
        "Replicate's HTTP API (change it for a proxy or tests).",
    ),
    Setting(
        "MIMIO_STATUS_RATE",
        "5",
        "Status requests per second at most, per provider (fal and Replicate ask one request per job).",
    ),
    Setting(
        "MIMIO_CATALOGUE_FILE",
        None,
        "A JSON Lines file of extra models (format: mimio_core/catalogue.jsonl).",
    ),
    Setting("MIMIO_DATA_DIR", "data", "Folder for the SQLite database and stored video files."),
    Setting("MIMIO_POLL_INTERVAL", "3", "Seconds between status polls of in-flight videos."),
    Setting("MIMIO_TIMEOUT", "600", "Seconds a video may stay in processing before it is marked failed."),
    Setting(
        "MIMIO_CONCURRENCY",
        "3",
        "Jobs active at once per provider (fal, Replicate, the local preview each have their own); further "
        "videos wait as queued.",
    ),
    Setting("MIMIO_LEASE_SECONDS", "30", "How long an engine's claim on a video lasts without renewal."),
    Setting("MIMIO_HTTP_TIMEOUT", "30", "Seconds to wait for a provider to connect or send data."),
    Setting("MIMIO_MAX_REFERENCE_MB", "25", "Largest reference image or video accepted, in megabytes."),
    Setting(
        "MIMIO_LOCAL_LATENCY", "0", "Embedded server: extra seconds each job takes, like a remote provider."
    ),
    Setting("MIMIO_LOCAL_RENDER_SLOTS", "1", "Embedded server: renders that may run at once."),
    Setting(
        "MIMIO_LOCAL_API_KEY",
        None,
        "Embedded server: a key every request but /health must send as `Authorization: Bearer <key>`; "
        "`serve-local` needs one to listen beyond loopback (a secret: environment or st.secrets).",
    ),
    Setting(
        "MIMIO_CORS_ORIGINS",
        None,
        "Embedded server: comma-separated origins of the web pages that may call it, e.g. "
        "`https://app.example.com,http://localhost:3000`; requests from other pages are refused. "
        "Unset: http://localhost, http://127.0.0.1 and http://[::1] on any port.",
    ),
    Setting("MIMIO_LOG_LEVEL", "INFO", "Logging level (DEBUG, INFO, WARNING, ERROR)."),
    Setting(
        "MIMIO_PRIVATE_REDIRECTS",
        "off",
        "`on`: a download may follow a provider's redirect to another host at a private, loopback or "
        "link-local address (local setups only). Other calls never follow redirects.",
    ),
    Setting(
        "SUPABASE_URL",
        None,
        "A Supabase project's URL: records, files and sign-in move to Supabase (set the two keys too).",
    ),
    Setting("SUPABASE_ANON_KEY", None, "The project's anon (publishable) key: what users' sessions use."),
    Setting(
        "SUPABASE_SERVICE_ROLE_KEY",
        None,
        "The project's service-role (secret) key, for the engine only (a secret: environment or "
        "st.secrets). Without it the app refuses to start, unless MIMIO_ENGINE=off (workers need it).",
    ),
    Setting(
        "SUPABASE_SIGNED_URL_SECONDS", "3600", "Lifetime of the signed links that play and download videos."
    ),
)


@dataclass(frozen=True)
class SupabaseSettings:
    """Where the Supabase project is and how to reach it; keys stay out of repr (logs, tracebacks)."""

    url: str
    anon_key: str = field(repr=False)  # what a signed-in user's client sends, with their token
    service_role_key: str | None = field(repr=False)  # the engine's alone: bypasses Row Level Security
    signed_url_seconds: int = 3600


# what each provider is called where people read it (the form's "Veo 3.1 · fal.ai", the sidebar)
PROVIDER_LABELS: dict[ProviderKind, str] = {
    "local": "Embedded renderer",
    "mimio": "Mimio video API",
    "openai": "OpenAI-compatible Videos API",
    "fal": "fal.ai",
    "replicate": "Replicate",
}
# the setting that activates each remote provider
PROVIDER_KEYS: dict[ProviderKind, str] = {
    "local": "MIMIO_LOCAL=on (the embedded renderer)",
    "mimio": "MIMIO_API_URL, the Mimio video API server's address",
    "openai": "MIMIO_OPENAI_BASE_URL, the gateway's address ending in /v1",
    "fal": "FAL_KEY, a fal.ai API key",
    "replicate": "REPLICATE_API_TOKEN, a Replicate API token",
}


@dataclass(frozen=True)
class HostedSettings:
    """Where a hosting platform (fal, Replicate) is reached; the key stays out of repr."""

    key: str = field(repr=False)
    base_url: str = ""
    storage_url: str = ""  # fal: where uploads go; Replicate uploads through its API
    api_url: str = ""  # fal: its platform API, which lists past requests; Replicate lists through its API


@dataclass(frozen=True)
class Settings:
    """Validated configuration; build it with `load_settings`. `provider` is the default provider:
    its models come first, and it serves a model that two active providers offer."""

    provider: ProviderKind
    api_url: str | None
    openai_base_url: str | None
    openai_api_key: str | None = field(repr=False)  # never in logs or tracebacks
    catalogue_file: Path | None
    data_dir: Path
    poll_interval: float
    timeout: float
    concurrency: int
    lease_seconds: float
    http_timeout: float
    max_reference_bytes: int
    local_latency: float
    local_render_slots: int
    log_level: str
    private_redirects: bool = False
    supabase: SupabaseSettings | None = None  # None: SQLite, local files and the one local user
    local: bool = True  # the embedded server and its Local preview model
    fal: HostedSettings | None = None
    replicate: HostedSettings | None = None
    status_rate: float = 5.0
    engine: bool = True  # MIMIO_ENGINE=embedded: this process runs the engine
    local_api_key: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)  # MIMIO_API_KEY, for MIMIO_API_URL
    worker_providers: tuple[ProviderKind, ...] | None = None  # MIMIO_WORKER_PROVIDERS (engine off)
    cors_origins: tuple[str, ...] | None = None  # None: the embedded server's localhost origins

    @property
    def active_providers(self) -> tuple[ProviderKind, ...]:
        """Every provider whose settings are present (a dashboard without an engine: the workers'),
        the default first."""
        present = {**_remote_present(self.api_url, self.openai_base_url, self.fal, self.replicate)}
        present["local"] = self.local
        if self.worker_providers is not None:
            present = {kind: kind in self.worker_providers for kind in present}
        others = tuple(kind for kind, on in present.items() if on and kind != self.provider)
        return (self.provider, *others)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some values changed (tests and the CLI use this)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Settings(**values)


def _remote_present(
    api_url: str | None,
    openai_base_url: str | None,
    fal: HostedSettings | None,
    replicate: HostedSettings | None,
) -> dict[ProviderKind, bool]:
    """Which remote providers have their settings, in the order the default is chosen from."""
    return {
        "mimio": api_url is not None,
        "openai": openai_base_url is not None,
        "fal": fal is not None,
        "replicate": replicate is not None,
    }


def _engine(key: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("embedded", "off"):
        raise ConfigError(f"{key} must be embedded or off, got {raw!r}")
    return value == "embedded"


def _switch(key: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("on", "off"):
        raise ConfigError(f"{key} must be on or off, got {raw!r}")
    return value == "on"


def _positive(convert: Callable[[str], float | int]) -> Callable[[str, str], Any]:
    def parse(key: str, raw: str) -> Any:
        try:
            value = convert(raw)
        except ValueError:
            raise ConfigError(f"{key} must be a number, got {raw!r}") from None
        if not 0 < value < math.inf:  # also refuses nan and inf
            raise ConfigError(f"{key} must be greater than 0, got {raw!r}")
        return value

    return parse


def _non_negative_float(key: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{key} must be a number, got {raw!r}") from None
    if not 0 <= value < math.inf:
        raise ConfigError(f"{key} must be 0 or more, got {raw!r}")
    return value


def _url(key: str, raw: str) -> str | None:
    raw = raw.strip()
    if not raw:
        return None
    if not raw.startswith(("http://", "https://")):
        raise ConfigError(f"{key} must start with http:// or https://, got {raw!r}")
    return raw.rstrip("/")


def _origins(key: str, raw: str) -> tuple[str, ...] | None:
    """Browser origins as a browser sends them (`scheme://host[:port]`, lower case, no path), or None
    when blank."""
    origins = tuple(part.strip().rstrip("/").lower() for part in raw.split(",") if part.strip())
    for origin in origins:
        if not ORIGIN.fullmatch(origin):
            raise ConfigError(
                f"{key} must list origins such as https://app.example.com or http://localhost:3000 "
                f"(scheme, host and optional port; no path), got {origin!r}"
            )
    return origins or None


def _provider(key: str, raw: str) -> ProviderKind | None:
    word = raw.strip().lower()
    if not word:
        return None
    if word not in get_args(ProviderKind):
        raise ConfigError(f"{key} must be one of {', '.join(get_args(ProviderKind))}, got {raw!r}")
    return word  # type: ignore[return-value]


def _providers(key: str, raw: str) -> tuple[ProviderKind, ...] | None:
    """Provider names, comma-separated (None when blank)."""
    names = [part for part in (part.strip().lower() for part in raw.split(",")) if part]
    known = get_args(ProviderKind)
    if unknown := [name for name in names if name not in known]:
        raise ConfigError(
            f"{key} takes provider names ({', '.join(known)}), not {', '.join(map(repr, unknown))}"
        )
    return tuple(dict.fromkeys(names)) or None  # type: ignore[arg-type]


def _log_level(key: str, raw: str) -> str:
    level = raw.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"{key} must be DEBUG, INFO, WARNING or ERROR, got {raw!r}")
    return level


def _key_role(key: str) -> str:
    """What kind of Supabase API key this is: a legacy JWT key names its role; newer keys a prefix."""
    if key.startswith("sb_secret_"):
        return "service_role"
    if key.startswith("sb_publishable_"):
        return "anon"
    return str(unverified_claims(key).get("role", "unknown"))


def _supabase(raw: Callable[[str], str | None], engine: bool) -> SupabaseSettings | None:
    """The Supabase settings, or None when none are set. Refuses a half configuration (the service
    key may be left out where this process runs no engine), and keys of the wrong kind (an anon key
    holding the service role would let every user past Row Level Security). Messages name the key,
    never its value."""
    url = _url("SUPABASE_URL", raw("SUPABASE_URL") or "")
    anon_key = (raw("SUPABASE_ANON_KEY") or "").strip()
    service_key = (raw("SUPABASE_SERVICE_ROLE_KEY") or "").strip()
    if not (url or anon_key or service_key):
        return None
    if not url:
        raise ConfigError("SUPABASE_ANON_KEY or SUPABASE_SERVICE_ROLE_KEY is set without SUPABASE_URL")
    if not anon_key:
        raise ConfigError("SUPABASE_URL is set but SUPABASE_ANON_KEY is not: copy the project's anon key")
    if not service_key and engine:
        raise ConfigError(
            "SUPABASE_URL is set but SUPABASE_SERVICE_ROLE_KEY is not. The engine needs it to finish "
            "videos after their user's tab has closed; put it in the server's secrets (it never "
            "reaches a browser), or set MIMIO_ENGINE=off and give it to the workers only."
        )
    if _key_role(anon_key) == "service_role":
        raise ConfigError(
            "SUPABASE_ANON_KEY holds a service-role key: every user would bypass Row Level Security. "
            "Use the project's anon (publishable) key."
        )
    if service_key and _key_role(service_key) != "service_role":
        raise ConfigError("SUPABASE_SERVICE_ROLE_KEY is not a service-role key (is it the anon key?)")
    seconds = _positive(int)("SUPABASE_SIGNED_URL_SECONDS", raw("SUPABASE_SIGNED_URL_SECONDS") or "3600")
    return SupabaseSettings(url, anon_key, service_key or None, seconds)


def _hosted(raw: Callable[[str], str | None], key_name: str, *url_names: str) -> HostedSettings | None:
    """A hosting platform's settings when its key is set; its URLs (base, storage, platform API, in
    that order) have defaults."""
    key = (raw(key_name) or "").strip()
    if not key:
        return None
    urls = [_url(name, raw(name) or "") for name in url_names]
    for name, url in zip(url_names, urls, strict=True):
        if url is None:
            raise ConfigError(f"{name} is empty: leave it unset for the default")
    return HostedSettings(key, *(url or "" for url in urls))


def load_settings(
    environ: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None
) -> Settings:
    """Read every key once, from the environment first and then the secrets mapping."""
    env = os.environ if environ is None else environ

    def raw(key: str) -> str | None:
        if key in env:
            return env[key]
        if secrets is not None and key in secrets:
            return str(secrets[key])
        return next(s.default for s in SETTINGS if s.key == key)

    def get(key: str, parse: Callable[[str, str], Any]) -> Any:
        value = raw(key)
        return None if value is None else parse(key, value)

    api_url = get("MIMIO_API_URL", _url)
    openai_base_url = get("MIMIO_OPENAI_BASE_URL", _url)
    fal = _hosted(raw, "FAL_KEY", "MIMIO_FAL_QUEUE_URL", "MIMIO_FAL_STORAGE_URL", "MIMIO_FAL_API_URL")
    replicate = _hosted(raw, "REPLICATE_API_TOKEN", "MIMIO_REPLICATE_BASE_URL")
    local = get("MIMIO_LOCAL", _switch)
    present = _remote_present(api_url, openai_base_url, fal, replicate)
    engine = get("MIMIO_ENGINE", _engine)
    workers = get("MIMIO_WORKER_PROVIDERS", _providers)
    if workers is not None:  # the workers' providers, whatever keys this process holds
        if engine:
            raise ConfigError(
                "MIMIO_WORKER_PROVIDERS names the workers' providers for a dashboard that runs no engine: "
                "set MIMIO_ENGINE=off too, or leave it unset"
            )
        present, local = {kind: kind in workers for kind in present}, "local" in workers
    chosen: ProviderKind | None = get("MIMIO_PROVIDER", _provider)
    first_remote = [kind for kind, on in present.items() if on]
    provider: ProviderKind = chosen if chosen is not None else (first_remote or ["local"])[0]
    if provider == "local" and not local:
        raise ConfigError(
            "MIMIO_LOCAL=off but no other provider is set: set FAL_KEY, REPLICATE_API_TOKEN, "
            "MIMIO_API_URL or MIMIO_OPENAI_BASE_URL"
            if not any(present.values())
            else "MIMIO_PROVIDER=local but MIMIO_LOCAL=off"
        )
    if provider != "local" and not present[provider]:
        raise ConfigError(f"MIMIO_PROVIDER={provider} needs {PROVIDER_KEYS[provider]}")
    catalogue_file = raw("MIMIO_CATALOGUE_FILE")
    return Settings(
        provider=provider,
        api_url=api_url,
        openai_base_url=openai_base_url,
        openai_api_key=(raw("MIMIO_OPENAI_API_KEY") or "").strip() or None,
        api_key=(raw("MIMIO_API_KEY") or "").strip() or None,
        worker_providers=workers,
        catalogue_file=Path(catalogue_file).expanduser()
        if catalogue_file and catalogue_file.strip()
        else None,
        data_dir=Path(raw("MIMIO_DATA_DIR") or "data").expanduser(),
        poll_interval=get("MIMIO_POLL_INTERVAL", _positive(float)),
        timeout=get("MIMIO_TIMEOUT", _positive(float)),
        concurrency=get("MIMIO_CONCURRENCY", _positive(int)),
        lease_seconds=get("MIMIO_LEASE_SECONDS", _positive(float)),
        http_timeout=get("MIMIO_HTTP_TIMEOUT", _positive(float)),
        max_reference_bytes=int(get("MIMIO_MAX_REFERENCE_MB", _positive(float)) * 1024 * 1024),
        local_latency=get("MIMIO_LOCAL_LATENCY", _non_negative_float),
        local_render_slots=get("MIMIO_LOCAL_RENDER_SLOTS", _positive(int)),
        log_level=get("MIMIO_LOG_LEVEL", _log_level),
        private_redirects=get("MIMIO_PRIVATE_REDIRECTS", _switch),
        supabase=_supabase(raw, engine),
        local=local,
        fal=fal,
        replicate=replicate,
        status_rate=get("MIMIO_STATUS_RATE", _positive(float)),
        engine=engine,
        local_api_key=(raw("MIMIO_LOCAL_API_KEY") or "").strip() or None,
        cors_origins=get("MIMIO_CORS_ORIGINS", _origins),
    )
