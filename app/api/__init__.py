"""The canonical API (seed 002, ``/api/v1``): one flask-smorest Blueprint per resource (views
only: parse, call one service, render). The other seed documents are profiles over the same
services, in ``app/profiles``; the error handlers and the security guard here serve them all."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask, api, limiter, settings) -> None:
    from app.api import (
        agents,
        auth,
        checkpoints,
        docs,
        events,
        integrations,
        ops,
        runs,
        system,
        templates,
        webhooks,
        workflows,
    )
    from app.api.security import limit_logins
    from app.events import sse

    modules = (
        agents,
        workflows,
        runs,
        checkpoints,
        templates,
        events,
        integrations,
        webhooks,
        ops,
        auth,
        system,
    )
    for module in modules:
        api.register_blueprint(module.blp)
    api.register_blueprint(auth.login_blp)
    webhooks.document_webhooks(api)
    limit_logins(limiter, auth.login_blp, settings)
    app.register_blueprint(docs.bp)
    app.register_blueprint(sse.bp)
