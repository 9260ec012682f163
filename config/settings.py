"""Harmonia's settings: read once from the environment (``HARMONIA_*``), passed in everywhere else.

Nothing outside ``config/`` reads ``os.environ``. ``Settings.from_env()`` is the one door; tests
build ``Settings`` directly or through ``from_env`` with an explicit mapping.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_COMPONENT_ALIASES = {"ergon": "cli"}


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(value: str | None, default: int) -> int:
    return default if value in (None, "") else int(value)


def _float(value: str | None, default: float) -> float:
    return default if value in (None, "") else float(value)


def _choice(name: str, value: str | None, choices: tuple[str, ...], default: str) -> str:
    chosen = default if value in (None, "") else value.strip().lower()
    if chosen not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return chosen


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


def parse_aliases(text: str | None) -> dict[str, str]:
    """``"ergon=cli,hermes=api"`` → ``{"ergon": "cli", "hermes": "api"}``."""
    aliases = dict(DEFAULT_COMPONENT_ALIASES)
    for item in (text or "").split(","):
        if "=" in item:
            name, target = item.split("=", 1)
            if name.strip() and target.strip():
                aliases[name.strip()] = target.strip()
    return aliases


@dataclass(frozen=True)
class Settings:
    home: Path = Path(".harmonia")
    database_url: str = ""
    redis_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8002
    # Signs login tokens (JWT). Unset, a random one is kept in ``home/secret_key`` (see
    # ``load_or_create_secret``); every API process must share it.
    secret_key: str = ""
    # Security (README "Security"): the bootstrap admin key, login token lifetime, rate limits
    # per identity ("N per second|minute|hour", empty = off), CORS origins (none = off) and which
    # routes answer without credentials.
    admin_api_key: str = ""
    token_ttl: int = 3600
    # The dashboard's session cookie: how long a sign-in lasts (s), and whether the cookie is
    # sent over HTTPS only (set it true behind TLS).
    session_ttl: int = 8 * 3600
    session_cookie_secure: bool = False
    rate_limit: str = "6000 per minute"
    login_rate_limit: str = "20 per minute"
    cors_origins: tuple[str, ...] = ()
    public_docs: bool = False
    public_ready: bool = True
    enable_shell: bool = True
    # Broker visibility timeout (s): must exceed the longest task plus its retry backoff, or
    # Redis redelivers a message that is still running (the atomic claim keeps that harmless).
    visibility_timeout: int = 3600
    component_aliases: dict[str, str] = field(
        default_factory=lambda: dict(DEFAULT_COMPONENT_ALIASES)
    )
    worker_concurrency: int = 2
    default_queue: str = "harmonia"
    # Canvas bound: at most this many task signatures in one submitted segment (DESIGN §4).
    segment_size: int = 200
    default_task_timeout: float = 3600.0
    max_output_bytes: int = 1_000_000
    max_log_bytes: int = 1_000_000
    # A run's custom state, as JSON: larger writes get 413 (API) or fail the task (workers).
    max_state_bytes: int = 256 * 1024
    max_request_bytes: int = 10 * 1024 * 1024
    max_tasks: int = 20_000
    max_expression_length: int = 4096
    max_json_depth: int = 64
    log_level: str = "INFO"
    # Recovery sweep (Celery beat): how often, when a never-sent run is resent, and how long a
    # run may make no progress, with nothing running on a live worker, before it is recovered.
    sweep_interval: float = 30.0
    unsent_grace: float = 30.0
    stall_seconds: float = 600.0
    record_message_sizes: bool = False
    # How long a worker keeps retrying a write while the database is unreachable before it gives
    # the message up to the recovery sweep.
    db_retry_seconds: float = 120.0
    # Webhooks (README "Webhooks"): the request timeout, attempts per delivery and the base of
    # their exponential backoff (8 attempts at 30 s * 2^n, jittered, span about an hour), how many
    # deliveries in a row may end failed before the endpoint is disabled, how much of an answer
    # is read, whether private addresses may be called (the SSRF guard), how many endpoints one
    # notifier process sends to at once, and its CPU priority (nice).
    webhook_timeout: float = 10.0
    webhook_max_attempts: int = 8
    webhook_backoff: float = 30.0
    webhook_disable_after: int = 5
    webhook_response_limit: int = 4096
    webhook_allow_private: bool = False
    notify_concurrency: int = 8
    notify_nice: int = 19
    # The fleet monitor (``harmonia monitor``): a worker is offline once it has sent no heartbeat
    # for this many seconds (and for at least two of its heartbeat intervals, Celery's own rule);
    # an offline worker stays in the ops listing this long before it is forgotten.
    worker_offline_after: float = 30.0
    worker_offline_retention: float = 86400.0
    # Celery's task events a worker sends: ``failed`` (what the monitor reads) or ``all`` (for
    # Flower or ``celery events``). Worker events (online, heartbeat, offline) are always sent.
    celery_task_events: str = "failed"
    # Prometheus multiprocess mode (README "Metrics"): the directory where every process of one
    # deployment writes its metric files (empty: ``home/metrics``). ``/metrics`` sums them.
    metrics_dir: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        get = env.get
        home = Path(get("HARMONIA_HOME") or ".harmonia")
        return cls(
            home=home,
            database_url=get("HARMONIA_DATABASE_URL") or "",
            redis_url=get("HARMONIA_REDIS_URL") or "",
            host=get("HARMONIA_HOST") or "127.0.0.1",
            port=_int(get("HARMONIA_PORT"), 8002),
            secret_key=get("HARMONIA_SECRET_KEY") or "",
            admin_api_key=get("HARMONIA_ADMIN_API_KEY") or "",
            token_ttl=_int(get("HARMONIA_TOKEN_TTL"), 3600),
            session_ttl=_int(get("HARMONIA_SESSION_TTL"), 8 * 3600),
            session_cookie_secure=_bool(get("HARMONIA_SESSION_COOKIE_SECURE"), False),
            rate_limit=get("HARMONIA_RATE_LIMIT", "6000 per minute"),
            login_rate_limit=get("HARMONIA_LOGIN_RATE_LIMIT", "20 per minute"),
            cors_origins=_list(get("HARMONIA_CORS_ORIGINS")),
            public_docs=_bool(get("HARMONIA_PUBLIC_DOCS"), False),
            public_ready=_bool(get("HARMONIA_PUBLIC_READY"), True),
            enable_shell=_bool(get("HARMONIA_ENABLE_SHELL"), True),
            visibility_timeout=_int(get("HARMONIA_VISIBILITY_TIMEOUT"), 3600),
            component_aliases=parse_aliases(get("HARMONIA_COMPONENT_ALIASES")),
            worker_concurrency=_int(get("HARMONIA_WORKER_CONCURRENCY"), 2),
            default_queue=get("HARMONIA_QUEUE") or "harmonia",
            segment_size=_int(get("HARMONIA_SEGMENT_SIZE"), 200),
            default_task_timeout=_float(get("HARMONIA_TASK_TIMEOUT"), 3600.0),
            max_output_bytes=_int(get("HARMONIA_MAX_OUTPUT_BYTES"), 1_000_000),
            max_log_bytes=_int(get("HARMONIA_MAX_LOG_BYTES"), 1_000_000),
            max_state_bytes=_int(get("HARMONIA_MAX_STATE_BYTES"), 256 * 1024),
            max_request_bytes=_int(get("HARMONIA_MAX_REQUEST_BYTES"), 10 * 1024 * 1024),
            max_tasks=_int(get("HARMONIA_MAX_TASKS"), 20_000),
            max_expression_length=_int(get("HARMONIA_MAX_EXPRESSION_LENGTH"), 4096),
            max_json_depth=_int(get("HARMONIA_MAX_JSON_DEPTH"), 64),
            log_level=get("HARMONIA_LOG_LEVEL") or "INFO",
            sweep_interval=_float(get("HARMONIA_SWEEP_INTERVAL"), 30.0),
            unsent_grace=_float(get("HARMONIA_UNSENT_GRACE"), 30.0),
            stall_seconds=_float(get("HARMONIA_STALL_SECONDS"), 600.0),
            record_message_sizes=_bool(get("HARMONIA_RECORD_MESSAGE_SIZES"), False),
            db_retry_seconds=_float(get("HARMONIA_DB_RETRY_SECONDS"), 120.0),
            webhook_timeout=_float(get("HARMONIA_WEBHOOK_TIMEOUT"), 10.0),
            webhook_max_attempts=_int(get("HARMONIA_WEBHOOK_MAX_ATTEMPTS"), 8),
            webhook_backoff=_float(get("HARMONIA_WEBHOOK_BACKOFF"), 30.0),
            webhook_disable_after=_int(get("HARMONIA_WEBHOOK_DISABLE_AFTER"), 5),
            webhook_response_limit=_int(get("HARMONIA_WEBHOOK_RESPONSE_LIMIT"), 4096),
            webhook_allow_private=_bool(get("HARMONIA_WEBHOOK_ALLOW_PRIVATE"), False),
            notify_concurrency=_int(get("HARMONIA_NOTIFY_CONCURRENCY"), 8),
            notify_nice=_int(get("HARMONIA_NOTIFY_NICE"), 19),
            worker_offline_after=_float(get("HARMONIA_WORKER_OFFLINE_AFTER"), 30.0),
            worker_offline_retention=_float(get("HARMONIA_WORKER_OFFLINE_RETENTION"), 86400.0),
            celery_task_events=_choice(
                "HARMONIA_CELERY_TASK_EVENTS",
                get("HARMONIA_CELERY_TASK_EVENTS"),
                ("failed", "all"),
                "failed",
            ),
            # A process started with only prometheus_client's own variable keeps that directory.
            metrics_dir=get("HARMONIA_METRICS_DIR") or get("PROMETHEUS_MULTIPROC_DIR") or "",
        )

    @property
    def sweep_queue(self) -> str:
        """The recovery sweep's own queue, consumed by every ``harmonia worker`` besides the
        default one: a sweep never waits behind a backlog of tasks (the backlog may be what it
        has to recover)."""
        return f"{self.default_queue}.sweep"

    @property
    def notify_queue(self) -> str:
        """Webhook deliveries' own queue, consumed by ``harmonia notifier``: a slow or dead
        endpoint never holds up a workflow's tasks, and tasks never hold up notifications."""
        return f"{self.default_queue}.notify"

    def with_(self, **changes) -> Settings:
        return replace(self, **changes)

    @property
    def resolved_metrics_dir(self) -> Path:
        return Path(self.metrics_dir) if self.metrics_dir else self.home / "metrics"

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file under ``home``."""
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{(self.home / 'harmonia.db').resolve()}"


def normalise_database_url(url: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` and use the psycopg 3 driver for both."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load_or_create_secret(home: Path) -> str:
    """The signing secret kept in ``home/secret_key`` (created, mode 0600, on first use), so
    login tokens survive restarts and every process started from the same home agrees."""
    path = home / "secret_key"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        draft = home / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)  # atomic: if two processes race, one secret wins for both
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()
