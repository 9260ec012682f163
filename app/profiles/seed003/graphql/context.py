"""What every resolver of one GraphQL operation shares: the runtime, the caller, and batch
loaders that read many rows per query.

GraphQL resolves a list's items one after another, each with its nested fields, so a resolver
that read its own rows would query once per item (N+1). Here the resolver of a list announces
the keys of the whole page (``Batch.expect``) and the first nested resolver that needs one of
them reads them all in one query (``Batch.load``). Execution is synchronous (the services are),
so this is a dataloader without an event loop: the batch is the page, not a tick of a loop.

A context lives for one operation, or for one event of a subscription: what it caches is never
older than the answer it serves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from app.api.operations import Operation
from app.api.security import required_role
from app.services import runs, workflows
from app.services.definitions import dag_of
from app.services.errors import Forbidden, Unauthorized

K = TypeVar("K")
V = TypeVar("V")


class Batch(Generic[K, V]):
    """Values by key, read many keys per query: the keys announced with ``expect`` are read
    together on the first ``load`` of any of them."""

    def __init__(self, fetch: Callable[[list[K]], Mapping[K, V]]):
        self._fetch = fetch
        self._values: dict[K, V | None] = {}
        self._wanted: set[K] = set()
        self.queries = 0  # how many times it read (for the tests' N+1 checks)

    def expect(self, keys: Iterable[K]) -> None:
        self._wanted.update(key for key in keys if key not in self._values)

    def put(self, key: K, value: V) -> None:
        self._values[key] = value
        self._wanted.discard(key)

    def load(self, key: K) -> V | None:
        if key not in self._values:
            wanted = sorted({*self._wanted, key}, key=str)
            self._wanted.clear()
            found = self._fetch(wanted)
            self.queries += 1
            for each in wanted:
                self._values[each] = found.get(each)
        return self._values[key]


@dataclass
class Context:
    rt: Any
    identity: Any  # the caller (app/services/identity.py); None before a socket's init
    steps: Batch[str, list] = field(init=False)  # run id → task rows, in definition order
    versions: Batch[str, Any] = field(init=False)  # workflow version id → Workflow
    runs: Batch[str, Any] = field(init=False)  # run id → Run

    def __post_init__(self) -> None:
        self.steps = Batch(lambda ids: runs.steps_by_run(self.rt, ids))
        self.versions = Batch(lambda ids: workflows.versions_by_id(self.rt, ids))
        self.runs = Batch(lambda ids: runs.runs_by_id(self.rt, ids))

    def require(self, kind: Operation, what: str) -> None:
        """Refuse ``what`` unless the caller's role may do ``kind`` (the REST policy)."""
        needed = required_role(kind, self.rt.settings)
        if needed is None:
            return
        if self.identity is None:
            raise Unauthorized("Authentication required: send 'Authorization: Bearer <API key>'")
        if not self.identity.may(needed):
            raise Forbidden(
                f"Role '{self.identity.role.value}' may not {what}: it needs '{needed.value}'"
            )

    def sync_points(self, version_id: str) -> frozenset[str]:
        """The synchronization points of a workflow version (milestones, not tasks)."""
        version = self.versions.load(version_id)
        return dag_of(self.rt.settings, version).synchronization_points if version else frozenset()
