"""The handles a use-case needs (settings, database, Redis, Celery client), built once per process.

Services take a ``Runtime`` explicitly, so the API, the workers and the CLI share them without
touching Flask's ``current_app``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import redis

from app.models.database import Database
from config.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    db: Database
    redis: redis.Redis
    celery: Any
    pid: int = field(default_factory=os.getpid)

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        from worker.celery_app import make_celery  # the client app: no task code is imported

        db = Database()
        db.configure(settings.resolved_database_url)
        db.info["component_aliases"] = settings.component_aliases
        client = redis.Redis.from_url(
            settings.redis_url, decode_responses=True, health_check_interval=30
        )
        if settings.record_message_sizes:
            from app.services import message_stats

            message_stats.enable(client)
        return cls(settings=settings, db=db, redis=client, celery=make_celery(settings))

    def close(self) -> None:
        self.db.dispose()
        self.redis.close()
