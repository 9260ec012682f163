"""Extension singletons; ``init_app`` wiring happens in ``create_app``."""

from __future__ import annotations

from apispec.ext.marshmallow import MarshmallowPlugin, resolver
from apispec.ext.marshmallow.common import resolve_schema_cls
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
        plugin = MarshmallowPlugin(schema_name_resolver=schema_name)
        super().__init__(
            app, spec_kwargs={**spec_kwargs, "security": either, "marshmallow_plugin": plugin}
        )
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

    def register_blueprint(self, blp, *, profile=None, **options) -> None:
        """A profile's blueprint documents its own error body wherever flask-smorest would
        document the canonical one (the default response, argument errors)."""
        super().register_blueprint(blp, **options)
        if profile is None or profile.errors.schema is self.ERROR_SCHEMA:
            return
        name = f"{profile.name.title()}Error"
        if name not in self.spec.components.responses:
            self.spec.components.response(
                name,
                {
                    "description": f"{profile.title}: error",
                    "content": {"application/json": {"schema": profile.errors.schema}},
                },
            )
        replacement = {"$ref": f"#/components/responses/{name}"}
        for operations in self.spec._paths.values():  # apispec keeps no public view of them
            for operation in operations.values():
                if not isinstance(operation, dict) or blp.name not in operation.get("tags", []):
                    continue
                responses = operation.get("responses", {})
                for code, response in list(responses.items()):
                    if _canonical_error(response):
                        responses[code] = dict(replacement)


def _canonical_error(response) -> bool:
    """A reference to one of the error responses flask-smorest registers for the canonical API."""
    if isinstance(response, str):
        return True
    return isinstance(response, dict) and response.get("$ref", "").startswith(
        "#/components/responses/"
    )


def schema_name(schema) -> str:
    """A schema's name in the spec: a profile's schemas carry the profile's name
    (``Seed000Workflow``), so two documents' ``Workflow`` never collide."""
    name = resolver(schema)
    resolved = resolve_schema_cls(schema)
    module = (resolved[0] if isinstance(resolved, list) else resolved).__module__
    if module.startswith("app.profiles."):
        name = module.split(".")[2].title() + name
    return name


def init_runtime(app: Flask, runtime: Runtime) -> None:
    app.extensions["harmonia"] = runtime


def runtime() -> Runtime:
    """The current app's runtime (views only; services receive it as an argument)."""
    return current_app.extensions["harmonia"]
