"""What each route does, in the words the role policy speaks: read, run, control, admin…

A view declares its operation with ``@operation(...)``: on a ``MethodView`` class (every method),
on one of its methods (overriding the class), or on a function view. The policy in
``app/api/security.py`` maps operations to roles, so a new profile's views say what they do and
inherit the same rules, whatever their blueprint is called. A read (GET, HEAD) that declares
nothing is a ``READ``; a write that declares nothing needs an admin (fail closed), and
``tests/integration/test_auth.py`` checks that no route is left undeclared.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
ATTRIBUTE = "harmonia_operation"
READS = {"GET", "HEAD"}


class Operation(str, Enum):
    OPEN = "open"  # anyone: liveness, login, public assets
    PROBE = "probe"  # readiness and metrics: open unless HARMONIA_PUBLIC_READY=false
    DOCS = "docs"  # the API docs and spec: open when HARMONIA_PUBLIC_DOCS=true
    SELF = "self"  # any identity, about itself
    READ = "read"  # look at anything (streams included)
    RUN = "run"  # create and start work: workflows, runs, templates, invocations
    CONTROL = "control"  # steer or remove what exists: pause, cancel, retry, state, delete
    OPERATE = "operate"  # the worker fleet (``/api/v1/ops``): see it and steer it
    ADMIN = "admin"  # identities, agents


def operation(kind: Operation) -> Callable[[F], F]:
    def mark(target: F) -> F:
        setattr(target, ATTRIBUTE, kind)
        return target

    return mark


STREAM = "harmonia_stream"


def streaming(view: F) -> F:
    """Marks a streaming view (SSE): it also takes ``?api_key=``, as browsers' EventSource
    cannot set headers."""
    setattr(view, STREAM, True)
    return view


def is_stream(view: Callable[..., Any] | None) -> bool:
    return bool(getattr(view, STREAM, False))


# Views the framework provides, which cannot be decorated.
FRAMEWORK = {"static": Operation.OPEN, "api-docs.openapi_json": Operation.DOCS}


def declared(view: Callable[..., Any] | None, endpoint: str | None, method: str):
    """The operation a route declares for ``method``, or None."""
    if endpoint in FRAMEWORK:
        return FRAMEWORK[endpoint]
    if view is None:
        return None
    view_class = getattr(view, "view_class", None)
    if view_class is None:
        return getattr(view, ATTRIBUTE, None)
    handler = getattr(view_class, method.lower(), None)
    if handler is None and method == "HEAD":
        handler = getattr(view_class, "get", None)
    return getattr(handler, ATTRIBUTE, None) or getattr(view_class, ATTRIBUTE, None)


def operation_of(view: Callable[..., Any] | None, endpoint: str | None, method: str) -> Operation:
    """What the route does: as declared; else a read for GET/HEAD, else admin-only."""
    found = declared(view, endpoint, method)
    if found is not None:
        return found
    return Operation.READ if method in READS else Operation.ADMIN
