"""Extension singletons; ``init_app`` wiring happens in ``create_app``."""

from __future__ import annotations

from flask import Flask, current_app
from flask_smorest import Api
from flask_sock import Sock

from app.runtime import Runtime
from app.schemas.common import ApiErrorSchema

# One ``Api`` per app (built in ``create_app``): its OpenAPI spec is per app, so tests can build
# several apps in one process.
sock = Sock()


class HarmoniaApi(Api):
    """flask-smorest's Api, documenting the error body every response really has (``422`` and
    the default error included), so the spec matches what clients receive."""

    ERROR_SCHEMA = ApiErrorSchema

    def __init__(self, app: Flask, spec_kwargs: dict) -> None:
        # Every operation needs one of these unless it says ``security: []`` (README "Security").
        either = [{"bearerAuth": []}, {"apiKeyHeader": []}]
        super().__init__(app, spec_kwargs={**spec_kwargs, "security": either})
        self.spec.components.security_scheme(
            "bearerAuth",
            {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key, or a token from POST /api/v1/auth/login",
            },
        )
        self.spec.components.security_scheme(
            "apiKeyHeader", {"type": "apiKey", "in": "header", "name": "X-API-Key"}
        )


def init_runtime(app: Flask, runtime: Runtime) -> None:
    app.extensions["harmonia"] = runtime


def runtime() -> Runtime:
    """The current app's runtime (views only; services receive it as an argument)."""
    return current_app.extensions["harmonia"]
