"""Swagger UI at ``/docs`` and ReDoc at ``/redoc``, with every asset served locally (no CDN)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, render_template, send_from_directory, url_for

from app.api.operations import Operation, operation

bp = Blueprint("docs", __name__)
# Swagger UI 5 (it reads OpenAPI 3.1; PyPI's swagger-ui-bundle ships 4, which does not).
SWAGGER_UI = Path(__file__).resolve().parent.parent / "static" / "swagger-ui"


@bp.get("/docs")
@operation(Operation.DOCS)
def swagger_ui():
    return render_template("swagger.html", spec_url=url_for("api-docs.openapi_json"))


@bp.get("/docs/assets/<path:filename>")
@operation(Operation.OPEN)  # a public library's files: no data
def swagger_asset(filename: str):
    return send_from_directory(SWAGGER_UI, filename, max_age=86400)


@bp.get("/redoc")
@operation(Operation.DOCS)
def redoc():
    return render_template("redoc.html", spec_url=url_for("api-docs.openapi_json"))
