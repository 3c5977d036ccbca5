"""The deployment files say only what this version reads: every key they set is a setting, and the
worker unit runs the worker and stops it the way it hands its videos over."""

from __future__ import annotations

import configparser
import tomllib
from pathlib import Path

from mimio_core.config import SETTINGS

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
KNOWN = {setting.key for setting in SETTINGS}


def env_keys(path: Path) -> list[str]:
    lines = [line.strip() for line in path.read_text().splitlines()]
    return [line.split("=", 1)[0] for line in lines if line and not line.startswith("#")]


def test_the_worker_env_sets_known_settings_and_holds_the_secrets_the_web_tier_does_not():
    keys = env_keys(DEPLOY / "worker.env.example")
    assert set(keys) <= KNOWN, set(keys) - KNOWN
    web = tomllib.loads((DEPLOY / "streamlit-secrets.toml.example").read_text())
    assert set(web) <= KNOWN, set(web) - KNOWN
    assert web["MIMIO_ENGINE"] == "off"
    assert "SUPABASE_SERVICE_ROLE_KEY" in keys and "SUPABASE_SERVICE_ROLE_KEY" not in web
    assert not {"FAL_KEY", "REPLICATE_API_TOKEN"} & set(web)  # provider keys stay with the workers


def test_the_unit_runs_the_worker_and_stops_it_with_sigterm():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  (systemd keys are case-sensitive)
    unit.read(DEPLOY / "mimio-worker@.service")
    service = unit["Service"]
    assert service["ExecStart"].endswith("python -m mimio_core worker")
    assert (service["KillSignal"], service["Restart"]) == ("SIGTERM", "always")
    assert service["Environment"].startswith("MIMIO_DATA_DIR=") and "%i" in service["Environment"]
