"""Paths documents share, and the media type that picks seed 003.

Seed 003's requests name its media type (``application/vnd.workflow-orchestration.v1+json``) in
``Accept`` or ``Content-Type``: any such request for ``/api/...`` or ``/api/v1/...`` (except the
login) goes to seed 003's views at ``/api/v2/...``, which is also its URL-versioned form; its
answer then carries that media type.

Seed 000 and seed 004 both serve ``/api/executions`` and
``ws://…/ws/executions/{id}``. Seed 004's views live at ``/api/synthesis/executions`` and
``/ws/synthesis/executions``; this WSGI middleware sends a seed-004 request there before Flask
routes it, so each document's clients use the paths their document gives and every answer,
errors included, is in their document's format.

A request is seed 004's when
- it is ``POST /api/executions`` with a ``plan`` in its JSON body (seed 000 sends a
  ``workflow_id``);
- it is ``GET /api/executions`` with a filter only seed 004 has (``tag``, ``created_by``,
  ``from_date``, ``to_date``);
- it names a path only seed 004 has (``…/{id}/start``, ``/steps``, ``/steps/{step}``,
  ``/variables``);
- it names a run created through seed 004 (``GET /api/executions/{id}``, its ``pause``,
  ``resume``, ``cancel``, and its WebSocket): a run keeps the profile that created it.

Anything else, an unknown run included, is seed 000's.
"""

from __future__ import annotations

import io
import json
import re
from collections import OrderedDict
from threading import Lock
from urllib.parse import parse_qs

from sqlalchemy import select

from app.models import Run

SHARED = "/api/executions"
MOUNT = "/api/synthesis/executions"
SOCKET, SOCKET_MOUNT = "/ws/executions/", "/ws/synthesis/executions/"
PROFILE = "seed004"
ONLY_004 = re.compile(r"^/api/executions/[^/]+/(start|steps|steps/[^/]+|variables)/?$")
BY_RUN = re.compile(r"^/api/executions/(?P<run>[^/]+)(/(pause|resume|cancel))?/?$")
QUERY_004 = {"tag", "created_by", "from_date", "to_date"}
REMEMBERED = 10_000
VENDOR = re.compile(r"application/vnd\.workflow-orchestration\.v\d+\+json", re.IGNORECASE)
V2 = "/api/v2"


class SharedPaths:
    def __init__(self, wsgi_app, rt, max_body: int):
        self.wsgi_app = wsgi_app
        self.rt = rt
        self.max_body = max_body
        self.profiles: OrderedDict[str, str] = OrderedDict()  # run id → profile (never changes)
        self.lock = Lock()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO") or ""
        media = _vendor(environ)
        if media and path.startswith("/api/"):
            environ["PATH_INFO"] = _seed003(path)
            start_response = _answering_as(media, start_response)
        elif path.startswith(SHARED) or path.startswith(SOCKET):
            moved = self._route(environ, path)
            if moved:
                environ["PATH_INFO"] = moved
        return self.wsgi_app(environ, start_response)

    def _route(self, environ, path: str) -> str | None:
        method = environ.get("REQUEST_METHOD", "GET")
        if path.startswith(SOCKET):
            run_id = path[len(SOCKET) :].strip("/")
            if run_id and "/" not in run_id and self._profile(run_id) == PROFILE:
                return SOCKET_MOUNT + run_id
            return None
        rest = path[len(SHARED) :]
        if rest in ("", "/"):
            if method == "POST" and self._plan_body(environ):
                return MOUNT
            if method == "GET" and QUERY_004 & set(parse_qs(environ.get("QUERY_STRING", ""))):
                return MOUNT
            return None
        if not rest.startswith("/"):
            return None
        if ONLY_004.match(path):
            return MOUNT + rest
        found = BY_RUN.match(path)
        if found and self._profile(found["run"]) == PROFILE:
            return MOUNT + rest
        return None

    def _plan_body(self, environ) -> bool:
        """Whether the JSON body has a ``plan``; the body is put back for Flask to read."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return False
        if length <= 0 or length > self.max_body:
            return False
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            document = json.loads(body)
        except ValueError:
            return False
        return isinstance(document, dict) and "plan" in document

    def _profile(self, run_id: str) -> str | None:
        with self.lock:
            if run_id in self.profiles:
                self.profiles.move_to_end(run_id)
                return self.profiles[run_id]
        if len(run_id) > 64:
            return None
        try:
            with self.rt.db.transaction() as session:
                profile = session.execute(
                    select(Run.profile).where(Run.id == run_id)
                ).scalar_one_or_none()
        except Exception:  # the database is down: the view answers (with a 503)
            return None
        if profile is None:
            return None
        with self.lock:
            self.profiles[run_id] = profile
            while len(self.profiles) > REMEMBERED:
                self.profiles.popitem(last=False)
        return profile


def _vendor(environ) -> str | None:
    """Seed 003's media type, if the request names it (``Accept`` first)."""
    for header in ("HTTP_ACCEPT", "CONTENT_TYPE"):
        found = VENDOR.search(environ.get(header) or "")
        if found:
            return found.group(0).lower()
    return None


def _seed003(path: str) -> str:
    """``/api/x`` and ``/api/v1/x`` → ``/api/v2/x``; the login and ``/api/v2`` stay."""
    if path.startswith((V2 + "/", "/api/auth/")) or path == V2:
        return path
    if path == "/api/v1" or path.startswith("/api/v1/"):
        return V2 + path[len("/api/v1") :]
    return V2 + path[len("/api") :]


def _answering_as(media: str, start_response):
    """``start_response`` that labels a JSON answer with ``media``."""

    def relabel(status, headers, exc_info=None):
        headers = [
            (name, media)
            if name.lower() == "content-type" and value.startswith("application/json")
            else (name, value)
            for name, value in headers
        ]
        return start_response(status, headers, exc_info)

    return relabel
