"""Seed 003's GraphQL API at ``/graphql`` (the document's "GraphQL API" section): queries and
mutations over HTTP (``views.py``), subscriptions over WebSocket (``transport.py``), the GraphiQL
IDE; the schema in ``schema.graphql``, bound to resolvers that call the services
(``resolvers.py``), bounded by ``limits.py``, answering errors as the GraphQL spec writes them
(``errors.py``).

ariadne (schema first, over graphql-core) rather than a code-first library: the document's
contract is its SDL, so the schema is written as SDL and read as it is served; and its
synchronous executor fits the services and the thread-per-request server, where an async
executor would need an event loop per request.
"""

from __future__ import annotations

from app.profiles.base import Profile
from app.profiles.seed003.graphql import transport, views  # noqa: F401 - registers the socket
from app.profiles.seed003.graphql.errors import ERRORS

PROFILE = Profile(
    name="seed003graphql",
    title="Workflow Orchestration API (seed 003): GraphQL",
    errors=ERRORS,
    prefixes=(views.PATH,),
    streams=(views.blueprint,),
)
