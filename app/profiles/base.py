"""What every profile is made of (DESIGN §8): an error format, a vocabulary, its blueprints.

A profile is a thin adapter: its views parse the document's request shapes with its own
marshmallow schemas, call one service, and render what the service returns in the document's
words. Nothing here knows a seed; each ``app/profiles/<seed>/`` package fills these in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields, post_load, pre_dump, validate

from app.engine.errors import DomainError, ErrorKind
from app.models import RunStatus, TaskStatus
from app.schemas.common import UtcDateTime
from app.services.pagination import Page, Window


@dataclass
class Failure:
    """A failure as the canonical API would answer it, before a profile renders it."""

    status: int
    detail: str
    errors: list[dict[str, Any]] = field(default_factory=list)
    kind: ErrorKind | None = None
    source: DomainError | None = None

    @classmethod
    def of(cls, exc: DomainError, status: int) -> Failure:
        return cls(status, exc.detail, list(exc.errors), exc.kind, exc)

    @property
    def resource(self) -> str | None:
        return getattr(self.source, "resource", None)

    @property
    def resource_id(self) -> str | None:
        return getattr(self.source, "resource_id", None)


class ErrorFormat(ABC):
    """How one API answers failures: a status for each kind of domain error, and a body."""

    statuses: Mapping[ErrorKind, int] = {}
    schema: type[Schema]  # the body, for the OpenAPI spec

    def status(self, failure: Failure) -> int:
        if failure.kind is not None and failure.kind in self.statuses:
            return self.statuses[failure.kind]
        return failure.status

    @abstractmethod
    def body(self, failure: Failure, status: int) -> dict[str, Any]:
        """The response body for ``failure`` answered with ``status``."""


@dataclass(frozen=True)
class Vocabulary:
    """A document's words for run and task statuses, in both directions."""

    runs: Mapping[RunStatus, str]
    tasks: Mapping[TaskStatus, str]

    def run_status(self, status: str) -> str:
        return self.runs.get(RunStatus(status), status.lower())

    def task_status(self, status: str) -> str:
        return self.tasks.get(TaskStatus(status), status.lower())

    def run_statuses_for(self, word: str) -> list[str]:
        """Every stored status a client's word stands for (``paused`` may cover ``PAUSING``)."""
        return [status.value for status, said in self.runs.items() if said == word]

    def task_statuses_for(self, word: str) -> list[str]:
        """Every stored task status a client's word stands for."""
        return [status.value for status, said in self.tasks.items() if said == word]

    @property
    def task_words(self) -> list[str]:
        return sorted(set(self.tasks.values()))

    @property
    def run_words(self) -> list[str]:
        return sorted(set(self.runs.values()))


class RunStatusWord(fields.String):
    """A stored run status in a document's words (``COMPLETED`` → ``completed``)."""

    def __init__(self, words: Vocabulary, **kwargs):
        super().__init__(metadata={"enum": words.run_words}, **kwargs)
        self.words = words

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else self.words.run_status(value)


class TaskStatusWord(fields.String):
    """A stored task status in a document's words."""

    def __init__(self, words: Vocabulary, **kwargs):
        spelled = sorted({words.task_status(status.value) for status in TaskStatus})
        super().__init__(metadata={"enum": spelled}, **kwargs)
        self.words = words

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else self.words.task_status(value)


def compact(task: dict[str, Any]) -> dict[str, Any]:
    """A task as the documents show it: ``output`` only once it has one, ``error`` only on
    failure."""
    return {k: v for k, v in task.items() if k not in ("output", "error") or v is not None}


def lower_case(
    runs: Mapping[RunStatus, str] | None = None, tasks: Mapping[TaskStatus, str] | None = None
) -> Vocabulary:
    """Every status in lower case, with the document's own spellings on top."""
    return Vocabulary(
        runs={**{s: s.value.lower() for s in RunStatus}, **(runs or {})},
        tasks={**{s: s.value.lower() for s in TaskStatus}, **(tasks or {})},
    )


@dataclass(frozen=True)
class Profile:
    """One seed document's API: the routes it owns and how it speaks."""

    name: str
    title: str
    errors: ErrorFormat
    # Paths it answers for when no route matched (an unknown URL under its prefix).
    prefixes: tuple[str, ...]
    blueprints: tuple[Any, ...] = ()  # flask-smorest: in the OpenAPI spec
    streams: tuple[Any, ...] = ()  # plain Flask blueprints (SSE, GraphQL): not in the spec
    logins: tuple[Any, ...] = ()  # of its blueprints, those rate-limited like a login

    @property
    def blueprint_names(self) -> frozenset[str]:
        return frozenset(b.name for b in (*self.blueprints, *self.streams))


class ProfileBlueprint(Blueprint):
    """One of a profile's flask-smorest blueprints: a request its schemas refuse answers with the
    profile's status (seed 000 says 400, seed 001 422), and ``error`` documents a failure in the
    profile's error body."""

    def __init__(
        self,
        name: str,
        import_name: str,
        url_prefix: str,
        description: str,
        *,
        errors: ErrorFormat,
        invalid_status: int = 422,
    ):
        super().__init__(name, import_name, url_prefix=url_prefix, description=description)
        self.error_schema = errors.schema
        self.invalid_status = invalid_status

    def arguments(self, schema, **kwargs):
        kwargs.setdefault("error_status_code", self.invalid_status)
        return super().arguments(schema, **kwargs)

    def error(self, status: int, description: str):
        return self.alt_response(status, schema=self.error_schema, description=description)


def limit_offset_args(default: int, maximum: int) -> type[Schema]:
    """A document's ``limit``/``offset`` query, handed to services as a neutral ``window``."""

    class LimitOffsetArgs(Schema):
        limit = fields.Integer(
            load_default=default,
            validate=validate.Range(min=1, max=maximum),
            metadata={"description": f"Most items to return (default {default})"},
        )
        offset = fields.Integer(
            load_default=0,
            validate=validate.Range(min=0, max=2**53),
            metadata={"description": "Items to skip (default 0)"},
        )

        @post_load
        def to_window(self, data: dict[str, Any], **_kwargs) -> dict[str, Any]:
            limit, offset = data.pop("limit"), data.pop("offset")
            return {**data, "window": Window(offset=offset, limit=limit)}

    return LimitOffsetArgs


def limit_offset_listing(key: str, item: type[Schema], *, counts_first: bool = False):
    """``{<key>: [...], total, limit, offset}`` (or ``{total, offset, limit, <key>}`` with
    ``counts_first``) from a service's ``Page``; named in the spec after ``item``'s profile."""
    counts = ("total", "offset", "limit") if counts_first else ("total", "limit", "offset")
    declared: dict[str, Any] = {name: fields.Integer(required=True) for name in counts}
    items = {key: fields.List(fields.Nested(item), required=True)}
    declared = {**declared, **items} if counts_first else {**items, **declared}

    def from_page(self, page: Page, **_kwargs) -> dict[str, Any]:
        return {"total": page.total, "limit": page.limit, "offset": page.offset, key: page.items}

    listing = Schema.from_dict(declared, name=f"{key.title()}List")
    listing = type(listing.__name__, (listing,), {"from_page": pre_dump(from_page)})
    listing.__module__ = item.__module__  # so the spec names it after the item's profile
    return listing


class FirstCreated(UtcDateTime):
    """When a workflow was first created (``first_created_at``, set by the workflow services),
    else this version's own time: to clients that know no versions, a new version's time is
    the workflow's update, not its creation."""

    def get_value(self, obj, attr, accessor=None, default=None):
        return getattr(obj, "first_created_at", None) or obj.created_at
