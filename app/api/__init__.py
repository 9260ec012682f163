"""One flask-smorest Blueprint per resource (views only: parse, call one service, render)."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask, api) -> None:
    from app.api import (
        agents,
        checkpoints,
        docs,
        events,
        integrations,
        runs,
        system,
        templates,
        workflows,
    )
    from app.events import sse

    for module in (agents, workflows, runs, checkpoints, templates, events, integrations, system):
        api.register_blueprint(module.blp)
    app.register_blueprint(docs.bp)
    app.register_blueprint(sse.bp)
