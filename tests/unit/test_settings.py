"""Settings read from the environment, and the signing secret kept under ``HARMONIA_HOME``."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor

from config.settings import Settings, load_or_create_secret


def test_security_settings_are_read_from_the_environment():
    settings = Settings.from_env(
        {
            "HARMONIA_ADMIN_API_KEY": "k",
            "HARMONIA_TOKEN_TTL": "60",
            "HARMONIA_RATE_LIMIT": "",
            "HARMONIA_CORS_ORIGINS": "https://a.example, https://b.example,",
            "HARMONIA_PUBLIC_DOCS": "true",
            "HARMONIA_PUBLIC_READY": "false",
        }
    )
    assert settings.admin_api_key == "k" and settings.token_ttl == 60
    assert settings.rate_limit == ""  # set but empty: limits off
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.public_docs and not settings.public_ready
    defaults = Settings.from_env({})
    assert defaults.rate_limit == "6000 per minute" and defaults.cors_origins == ()
    assert defaults.secret_key == "" and not defaults.public_docs and defaults.public_ready


def test_the_secret_is_created_once_private_and_shared_by_racing_processes(tmp_path):
    home = tmp_path / "home"
    with ThreadPoolExecutor(8) as pool:
        secrets = set(pool.map(lambda _: load_or_create_secret(home), range(16)))
    assert len(secrets) == 1 and len(secrets.pop()) >= 48
    assert stat.S_IMODE((home / "secret_key").stat().st_mode) == 0o600
    assert sorted(p.name for p in home.iterdir()) == ["secret_key"]  # no drafts left behind
