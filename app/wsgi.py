"""WSGI entry point for gunicorn: ``gunicorn app.wsgi:app``."""

from app import create_app
from config.logging import configure_logging
from config.settings import Settings

_settings = Settings.from_env()
configure_logging(_settings.log_level)
app = create_app(_settings)
