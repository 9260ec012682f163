"""Seed API profiles (DESIGN §8): each seed document's API as a thin adapter over the services.

The canonical API (seed 002, ``/api/v1``) is ``app/api/``; every other document is a package
here, laid out the same way:

- ``vocabulary.py``: its words for statuses, and its pagination (``limit/offset``,
  ``page/limit/sort_by/sort_order``…) as renderings of the services' neutral ``Window``/``Page``;
- ``schemas.py``: marshmallow schemas for its request and response shapes;
- ``errors.py``: its error format (an ``ErrorFormat``: a status per kind, a body);
- ``views.py``: flask-smorest blueprints whose views parse, call one service and render;
- ``streams.py``: its WebSocket and SSE paths, rendering events in its message shape.

The app-wide error handlers (``app/api/errors.py``) answer each request in the format of the
profile that owns its route (or, for a URL no route matched, its path prefix). Each profile's
paths appear in ``/openapi.json`` under tags of their own, named after the document.
"""

from __future__ import annotations

from flask import Flask, request

from app.profiles.base import Profile


def profiles() -> tuple[Profile, ...]:
    from app.profiles import seed000, seed001, seed003, seed004
    from app.profiles.seed003 import graphql

    return (seed001.PROFILE, seed000.PROFILE, seed003.PROFILE, graphql.PROFILE, seed004.PROFILE)


def register_profiles(app: Flask, api, limiter, settings) -> None:
    from app.api.security import limit_logins

    loaded = profiles()
    for profile in loaded:
        for blueprint in profile.blueprints:
            api.register_blueprint(blueprint, profile=profile)
        for blueprint in profile.streams:
            app.register_blueprint(blueprint)
        for blueprint in profile.logins:
            limit_logins(limiter, blueprint, settings)
    app.extensions["harmonia_profiles"] = loaded


def profile_of_request(app: Flask) -> Profile | None:
    """The profile whose route answers this request; ``None`` for the canonical API."""
    loaded: tuple[Profile, ...] = app.extensions.get("harmonia_profiles", ())
    blueprint = request.blueprint
    if blueprint and blueprint != "__flask_sock":
        return next((p for p in loaded if blueprint in p.blueprint_names), None)
    path = request.path
    matches = [
        (len(prefix), profile)
        for profile in loaded
        for prefix in profile.prefixes
        if path == prefix or path.startswith(prefix.rstrip("/") + "/")
    ]
    return max(matches, key=lambda match: match[0])[1] if matches else None
