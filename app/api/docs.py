"""Swagger UI at ``/docs`` and ReDoc at ``/redoc``, with every asset served locally (no CDN)."""

from __future__ import annotations

from flask import Blueprint, render_template, send_from_directory, url_for
from swagger_ui_bundle import swagger_ui_path

bp = Blueprint("docs", __name__)


@bp.get("/docs")
def swagger_ui():
    return render_template("swagger.html", spec_url=url_for("api-docs.openapi_json"))


@bp.get("/docs/assets/<path:filename>")
def swagger_asset(filename: str):
    return send_from_directory(swagger_ui_path, filename, max_age=86400)


@bp.get("/redoc")
def redoc():
    return render_template("redoc.html", spec_url=url_for("api-docs.openapi_json"))
