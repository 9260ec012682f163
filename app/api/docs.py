"""Swagger UI at ``/docs`` and ReDoc at ``/redoc``, with every asset served locally (no CDN)."""

from __future__ import annotations

from flask import Blueprint, render_template, send_from_directory, url_for
from swagger_ui_bundle import swagger_ui_path

from app.api.operations import Operation, operation

bp = Blueprint("docs", __name__)


@bp.get("/docs")
@operation(Operation.DOCS)
def swagger_ui():
    return render_template("swagger.html", spec_url=url_for("api-docs.openapi_json"))


@bp.get("/docs/assets/<path:filename>")
@operation(Operation.OPEN)  # a public library's files: no data
def swagger_asset(filename: str):
    return send_from_directory(swagger_ui_path, filename, max_age=86400)


@bp.get("/redoc")
@operation(Operation.DOCS)
def redoc():
    return render_template("redoc.html", spec_url=url_for("api-docs.openapi_json"))
