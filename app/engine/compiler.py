"""DAG → series-parallel plan → bounded Celery canvases (DESIGN §4).

``build_plan(dag, done)`` decomposes the tasks still to run into a series-parallel tree:

- weakly connected components run in parallel;
- a connected part is cut into series pieces at the longest-path layer boundaries where every task
  after the cut already depends on every task before it (an *exact* cut: no waiting is added);
- where no exact cut exists the graph is not series-parallel there, and the boundary that needs
  the fewest added "barrier" edges is cut instead; the added edges are recorded in the plan.
  (Finding the true minimum is NP-hard; this greedy choice is exact on series-parallel DAGs.)

``Emitter`` turns a plan into canvases that respect Celery's known limits: a segment holds at most
``segment_size`` task signatures (the first message of a chain carries the rest of it, celery#5000;
chains of chords overflow near 700 tasks, celery#5327); a chord header only ever holds plain
tasks or chains of plain tasks (no chord nests in a chord header, celery#3571); and a chord body
is one task and the signature that ends the segment, because every header message carries a copy
of the body. Anything larger or deeper is joined by ``harmonia.advance``, which continues from the
plan stored with the run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from celery.canvas import Signature, chain, chord, group

from app.engine.dag import Dag
from app.engine.graph import ancestor_bits, weak_components

RUN_TASK = "harmonia.run_task"
ADVANCE = "harmonia.advance"
FINALIZE = "harmonia.finalize_run"
# Plans store at most this many added edges by name (all are counted).
MAX_RECORDED_BARRIERS = 1000
# Parts larger than this with no exact cut are cut at every layer instead of searched greedily.
GREEDY_LIMIT = 512


# -- plan ----------------------------------------------------------------------------------------


class _Decomposer:
    def __init__(self, order: list[str], deps: Mapping[str, list[str]]):
        self.position = {tid: i for i, tid in enumerate(order)}
        self.deps = deps
        self.children: dict[str, list[str]] = {tid: [] for tid in order}
        for tid, parents in deps.items():
            for parent in parents:
                self.children[parent].append(tid)
        self.ancestors = ancestor_bits(order, deps)
        self.barrier_edges: list[tuple[str, str]] = []
        self.barrier_count = 0
        self.size = len(order)

    def mask(self, nodes: Iterable[str]) -> int:
        bitmap = bytearray((self.size + 8) // 8)
        for tid in nodes:
            p = self.position[tid]
            bitmap[p >> 3] |= 1 << (p & 7)
        return int.from_bytes(bitmap, "little")

    def decompose(self, nodes: list[str]) -> dict[str, Any]:
        if len(nodes) == 1:
            return {"kind": "task", "task": nodes[0]}
        components = weak_components(nodes, self.deps)
        if len(components) > 1:
            return _node("parallel", [self.decompose(c) for c in components])
        return self._series(nodes)

    def _series(self, nodes: list[str]) -> dict[str, Any]:
        member = set(nodes)
        layer: dict[str, int] = {}
        for tid in nodes:  # ``nodes`` is in topological order
            parents = [layer[p] for p in self.deps[tid] if p in member]
            layer[tid] = 1 + max(parents) if parents else 0
        depth = max(layer.values()) + 1
        layers: list[list[str]] = [[] for _ in range(depth)]
        for tid in nodes:
            layers[layer[tid]].append(tid)
        in_set = self.mask(nodes)
        cuts = self._exact_cuts(layers, in_set)
        if not cuts:
            costs = self._cut_costs(layers, layer, member)
            if len(nodes) > GREEDY_LIMIT:
                cuts = list(range(depth - 1))  # level-synchronous: linear time on big parts
            else:
                middle = (depth - 2) / 2
                cuts = [min(range(depth - 1), key=lambda b: (costs[b], abs(b - middle)))]
            for cut in cuts:
                self.barrier_count += costs[cut]
                if len(self.barrier_edges) < MAX_RECORDED_BARRIERS:
                    self._record_barriers(layers, cut)
        pieces, start = [], 0
        for cut in [*cuts, depth - 1]:
            piece = [tid for lay in layers[start : cut + 1] for tid in lay]
            pieces.append(self.decompose(sorted(piece, key=self.position.__getitem__)))
            start = cut + 1
        return _node("series", pieces)

    def _exact_cuts(self, layers: list[list[str]], in_set: int) -> list[int]:
        cuts, before = [], 0
        for b in range(len(layers) - 1):
            before += len(layers[b])
            if all((self.ancestors[w] & in_set).bit_count() == before for w in layers[b + 1]):
                cuts.append(b)
        return cuts

    def _cut_costs(self, layers, layer: Mapping[str, int], member: set[str]) -> list[int]:
        """Edges each boundary would add: sinks before it × sources after it, minus reachable."""
        depth = len(layers)
        # A task is a sink of the part before boundary b while layer <= b < its first child's layer.
        enter: list[list[str]] = [[] for _ in range(depth)]
        leave: list[list[str]] = [[] for _ in range(depth + 1)]
        for tid in member:
            first_child = min((layer[c] for c in self.children[tid] if c in member), default=depth)
            enter[layer[tid]].append(tid)
            leave[first_child].append(tid)
        sinks = 0
        costs: list[int] = []
        for b in range(depth - 1):
            for tid in enter[b]:
                sinks |= 1 << self.position[tid]
            for tid in leave[b]:
                sinks &= ~(1 << self.position[tid])
            costs.append(sum((sinks & ~self.ancestors[w]).bit_count() for w in layers[b + 1]))
        return costs

    def _record_barriers(self, layers, cut: int) -> None:
        before = [tid for lay in layers[: cut + 1] for tid in lay]
        before_set = set(before)
        sinks = [u for u in before if not any(c in before_set for c in self.children[u])]
        for w in layers[cut + 1]:
            for u in sinks:
                if not (self.ancestors[w] >> self.position[u]) & 1:
                    self.barrier_edges.append((u, w))
                    if len(self.barrier_edges) >= MAX_RECORDED_BARRIERS:
                        return


def _node(kind: str, children: list[dict[str, Any]]) -> dict[str, Any]:
    flat: list[dict[str, Any]] = []
    for child in children:
        flat.extend(child["children"] if child["kind"] == kind else [child])
    return {"kind": kind, "children": flat}


def build_plan(dag: Dag, done: Iterable[str] = ()) -> dict[str, Any]:
    """The series-parallel plan of the tasks not in ``done``, with ids on every node."""
    done = set(done)
    order = [tid for tid in dag.topological_order() if tid not in done]
    deps = {tid: [d for d in dag.tasks[tid].depends_on if d not in done] for tid in order}
    decomposer = _Decomposer(order, deps)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * len(order) + 1000))
    try:
        tree = decomposer.decompose(order) if order else {"kind": "series", "children": []}
    finally:
        sys.setrecursionlimit(limit)
    if tree["kind"] != "series":
        tree = {"kind": "series", "children": [tree]}
    counter = 0

    def number(node: dict[str, Any]) -> None:
        nonlocal counter
        node["id"] = f"n{counter}"
        counter += 1
        for child in node.get("children", ()):
            number(child)

    number(tree)
    return {
        "tree": tree,
        "task_count": len(order),
        "barrier_edges": [list(edge) for edge in decomposer.barrier_edges],
        "barrier_edge_count": decomposer.barrier_count,
    }


# -- emission ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Join:
    node: str
    member: int
    expected: int


class PlanIndex:
    """Node lookup, parents and sizes for a stored plan."""

    def __init__(self, plan: Mapping[str, Any]):
        self.root = plan["tree"]
        self.nodes: dict[str, dict[str, Any]] = {}
        self.parent: dict[str, str] = {}
        self.sizes: dict[str, int] = {}
        stack = [self.root]
        while stack:
            node = stack.pop()
            self.nodes[node["id"]] = node
            for child in node.get("children", ()):
                self.parent[child["id"]] = node["id"]
                stack.append(child)

    def size(self, node: Mapping[str, Any]) -> int:
        key = node["id"]
        if key not in self.sizes:
            if node["kind"] == "task":
                self.sizes[key] = 1
            else:
                self.sizes[key] = sum(self.size(c) for c in node["children"])
        return self.sizes[key]

    def tasks_under(self, node: Mapping[str, Any]) -> list[str]:
        out, stack = [], [node]
        while stack:
            current = stack.pop()
            if current["kind"] == "task":
                out.append(current["task"])
            else:
                stack.extend(current["children"])
        return out


class Emitter:
    """Builds the canvas for a segment of a stored plan. Signatures are sent by task name."""

    def __init__(
        self,
        plan: Mapping[str, Any],
        run_id: str,
        generation: int,
        *,
        app,
        segment_size: int = 200,
        task_options: Callable[[str], dict] | None = None,
        index: PlanIndex | None = None,
    ):
        self.index = index or PlanIndex(plan)
        self.run_id = run_id
        self.generation = generation
        self.app = app
        self.segment_size = max(1, segment_size)
        self.task_options = task_options or (lambda _tid: {})

    # signatures
    def _sig(self, name: str, *args, **options) -> Signature:
        return Signature(name, args=args, immutable=True, app=self.app, options=options)

    def task(self, tid: str) -> Signature:
        return self._sig(RUN_TASK, self.run_id, tid, self.generation, **self.task_options(tid))

    def advance(self, kind: str, node: str, index: int = 0, join: Join | None = None) -> Signature:
        extra = [join.member, join.expected] if join else []
        return self._sig(ADVANCE, self.run_id, self.generation, kind, node, index, *extra)

    def finalize(self) -> Signature:
        return self._sig(FINALIZE, self.run_id, self.generation)

    # structure
    def start(self) -> Signature:
        return self.series(self.index.root, 0)

    def end_of(self, node: Mapping[str, Any]) -> Signature:
        parent_id = self.index.parent.get(node["id"])
        if parent_id is None:
            return self.finalize()
        parent = self.index.nodes[parent_id]
        member = next(i for i, c in enumerate(parent["children"]) if c["id"] == node["id"])
        return self.advance(
            "join", parent_id, join=Join(parent_id, member, len(parent["children"]))
        )

    def _is_flat(self, parallel: Mapping[str, Any]) -> bool:
        for branch in parallel["children"]:
            if branch["kind"] == "parallel":
                return False
            if branch["kind"] == "series" and (
                any(c["kind"] != "task" for c in branch["children"])
                or len(branch["children"]) > self.segment_size
            ):
                return False
        return True

    def _flat_branch(self, branch: Mapping[str, Any]) -> Signature:
        if branch["kind"] == "task":
            return self.task(branch["task"])
        return chain(*[self.task(c["task"]) for c in branch["children"]])

    def series(self, node: Mapping[str, Any], start: int) -> Signature:
        """Segment of a series from child ``start``: at most ``segment_size`` tasks.

        A segment is plain tasks, then at most one flat parallel (a ``group``), then at most one
        task. Celery makes whatever follows a group in a chain the body of a chord, rest of the
        chain included, and copies that body into every header message; so the segment ends right
        after the group, or after the one task that follows it, and the body stays that task and
        the advance or finalize that ends the segment. Two groups in a row would also nest a chord
        in a chord's body (celery#3571).
        """
        children = node["children"]
        parts: list[Signature] = []
        budget = self.segment_size
        i = start
        while i < len(children) and children[i]["kind"] == "task" and budget > 0:
            parts.append(self.task(children[i]["task"]))
            budget -= 1
            i += 1
        if i < len(children) and children[i]["kind"] != "task":
            parallel = children[i]
            size = self.index.size(parallel)
            if self._is_flat(parallel) and size <= budget:
                parts.append(group(*[self._flat_branch(b) for b in parallel["children"]]))
                budget -= size
                i += 1
                if i < len(children) and children[i]["kind"] == "task" and budget > 0:
                    parts.append(self.task(children[i]["task"]))
                    i += 1
            elif not parts:
                # Big or nested parallel at the head of a segment: its members report to a join
                # and the last one continues this series (no chord in a chord header).
                return self._joined_parallel(parallel)
        if i < len(children):
            parts.append(self.advance("continue", node["id"], i))
        else:
            parts.append(self.end_of(node))
        return chain(*parts) if len(parts) > 1 else parts[0]

    def _joined_parallel(self, parallel: Mapping[str, Any]) -> Signature:
        if self._is_flat(parallel):
            chunks = self._chunks(parallel["children"])
            members = []
            for m, chunk in enumerate(chunks):
                join = Join(parallel["id"], m, len(chunks))
                header = group(*[self._flat_branch(b) for b in chunk])
                members.append(chord(header, self.advance("join", parallel["id"], join=join)))
            return group(*members)
        members = []
        for branch in parallel["children"]:
            if branch["kind"] == "task":
                members.append(chain(self.task(branch["task"]), self.end_of(branch)))
            else:
                members.append(self.series(branch, 0))
        return group(*members)

    def _chunks(self, branches: list[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
        chunks: list[list[Mapping[str, Any]]] = [[]]
        load = 0
        for branch in branches:
            size = self.index.size(branch)
            if chunks[-1] and load + size > self.segment_size:
                chunks.append([])
                load = 0
            chunks[-1].append(branch)
            load += size
        return chunks

    def after_join(self, parallel_id: str) -> Signature:
        """The continuation once every member of a parallel node has finished."""
        parent_id = self.index.parent[parallel_id]
        parent = self.index.nodes[parent_id]
        position = next(i for i, c in enumerate(parent["children"]) if c["id"] == parallel_id)
        if parent["kind"] == "series":
            return self.series(parent, position + 1)
        # A parallel directly inside a parallel is flattened away, so the parent is a series.
        raise ValueError(f"plan node {parallel_id} has a non-series parent")


def describe(plan: Mapping[str, Any], dag: Dag) -> dict[str, Any]:
    """A readable view of a plan for ``GET /workflows/{id}/plan``."""

    def render(node: Mapping[str, Any]) -> Any:
        if node["kind"] == "task":
            return node["task"]
        return {node["kind"]: [render(c) for c in node["children"]]}

    return {
        "structure": render(plan["tree"]),
        "task_count": plan["task_count"],
        "barrier_edges": [{"from": a, "to": b} for a, b in plan["barrier_edges"]],
        "barrier_edge_count": plan.get("barrier_edge_count", len(plan["barrier_edges"])),
        "series_parallel": not plan["barrier_edges"],
    }
