"""Schemas shared by every resource: pagination, messages, errors."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, pre_dump, validate

from app.models.base import as_utc
from app.services.pagination import Page, Window


class UtcDateTime(fields.DateTime):
    """A timestamp that always carries its zone. Every stored time is UTC, but SQLite hands them
    back naive: without this the same field reads ``...+00:00`` on one call and zone-less on the
    next, and clients comparing them fail."""

    def _serialize(self, value, attr, obj, **kwargs):
        return super()._serialize(as_utc(value), attr, obj, **kwargs)


class PageArgs(Schema):
    """Seed 002's ``page``/``page_size``, handed to services as a neutral ``window``."""

    page = fields.Integer(
        load_default=1,
        validate=validate.Range(min=1),
        metadata={"description": "Page number, 1-indexed"},
    )
    page_size = fields.Integer(
        load_default=20,
        validate=validate.Range(min=1, max=100),
        metadata={"description": "Items per page, 1-100"},
    )

    @post_load
    def to_window(self, data: dict[str, Any], **_kwargs) -> dict[str, Any]:
        page, size = data.pop("page"), data.pop("page_size")
        return {**data, "window": Window(offset=(page - 1) * size, limit=size)}


class PageSchema(Schema):
    """A service's ``Page`` as seed 002 shows it: ``items``, ``total``, ``page``, ``page_size``,
    ``total_pages``."""

    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    page_size = fields.Integer(required=True)
    total_pages = fields.Integer(required=True)

    @pre_dump
    def from_page(self, page: Page, **_kwargs) -> dict[str, Any]:
        size = page.limit
        return {
            "items": page.items,
            "total": page.total,
            "page": page.offset // size + 1,
            "page_size": size,
            "total_pages": (page.total + size - 1) // size,
        }


class MessageSchema(Schema):
    message = fields.String(required=True)


class FieldErrorSchema(Schema):
    field = fields.String()
    message = fields.String()
    type = fields.String()


class ApiErrorSchema(Schema):
    error = fields.String(metadata={"description": "Error type"})
    detail = fields.String(metadata={"description": "What went wrong"})
    errors = fields.List(fields.Nested(FieldErrorSchema))
    status_code = fields.Integer()
    timestamp = fields.String()
    path = fields.String()
    request_id = fields.String()


def json_object(value) -> None:
    if not isinstance(value, dict):
        raise ValidationError("Must be a JSON object.")


def json_object_or_list(value) -> None:
    if not isinstance(value, dict | list):
        raise ValidationError("Must be a JSON object or a list.")


def SortOrder():  # noqa: N802 - reads as a field type
    return fields.String(load_default="desc", validate=validate.OneOf(["asc", "desc"]))
