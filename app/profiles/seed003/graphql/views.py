"""``/graphql`` over HTTP: ``POST`` runs a query or a mutation; ``GET`` serves the GraphiQL IDE
(its assets bundled in ``app/static/graphiql/``), open or authenticated as the REST docs are.

A request the server cannot read, or an operation that does not parse, that the schema or the
limits refuse, or whose variables do not fit their types, answers 400 with ``errors`` and no
``data`` (as Apollo Server does); an operation that ran answers 200, with ``errors`` beside
``data`` for the fields that failed (503 with ``Retry-After`` when the database or Redis was
down and nothing could be read). Failures before any operation runs (no
credential: 401, a role that may not read: 403, a body too large: 413) are GraphQL-shaped too.
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify, render_template, request

from app.api.errors import RETRY_AFTER_SECONDS
from app.api.operations import Operation, operation
from app.extensions import runtime
from app.profiles.seed003.graphql import executor
from app.profiles.seed003.graphql.context import Context
from app.profiles.seed003.graphql.errors import UNAVAILABLE, error

PATH = "/graphql"
blueprint = Blueprint("003 graphql", __name__)


def _refuse(message: str, status: int = 400, **headers):
    response = jsonify({"errors": [error(message, "BAD_REQUEST")]})
    response.headers.update(headers)
    return response, status


@blueprint.post(PATH)
@operation(Operation.READ)  # each mutation field checks its own operation (resolvers.needs)
def execute():
    prepared = executor.prepare(request.get_json(silent=True))
    if isinstance(prepared, list):
        return jsonify({"errors": prepared}), 400
    if prepared.is_subscription:
        return _refuse(
            "Subscriptions run over the WebSocket at ws://…/graphql (graphql-transport-ws)"
        )
    result = executor.run(Context(runtime(), g.identity), prepared)
    codes = {e.get("extensions", {}).get("code") for e in result.get("errors", ())}
    if result.get("data") is None and UNAVAILABLE in codes:
        return jsonify(result), 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return jsonify(result), 200


@blueprint.get(PATH)
@operation(Operation.DOCS)
def ide():
    if "query" in request.args:
        return _refuse(
            "Queries are sent with POST (GET /graphql serves the GraphiQL IDE)", 405, Allow="POST"
        )
    return render_template("graphiql.html", endpoint=PATH)
