"""Graph algorithms over task ids: order, cycles, ancestors (as int bitsets), components.

Bitsets make the 10,000-task case cheap: an ancestor set is one Python int whose bit ``i`` stands
for the task at position ``i`` of a topological order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def topological_order(deps: Mapping[str, Sequence[str]]) -> tuple[list[str], list[str]]:
    """``(order, leftovers)``: Kahn's order, stable by key order; leftovers are on/after a cycle."""
    indegree = {node: 0 for node in deps}
    children: dict[str, list[str]] = {node: [] for node in deps}
    for node, parents in deps.items():
        for parent in parents:
            if parent in children:
                indegree[node] += 1
                children[parent].append(node)
    ready = [node for node, count in indegree.items() if count == 0]
    order: list[str] = []
    i = 0
    while i < len(ready):
        node = ready[i]
        i += 1
        order.append(node)
        for child in children[node]:
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    done = set(order)
    return order, [node for node in deps if node not in done]


def find_cycle(deps: Mapping[str, Sequence[str]], among: Iterable[str]) -> list[str]:
    """One cycle among ``among`` (nodes Kahn could not order), as ``[a, b, ..., a]``."""
    among = set(among)
    # Start from the first node in declaration order so the same definition names the same cycle.
    for start in (node for node in deps if node in among):
        path: list[str] = []
        index: dict[str, int] = {}
        node: str | None = start
        while node is not None and node not in index:
            index[node] = len(path)
            path.append(node)
            node = next((p for p in deps.get(node, ()) if p in among), None)
        if node is not None:
            # Walking dependencies goes backwards along edges: reverse to read in run order.
            cycle = path[index[node] :] + [node]
            return list(reversed(cycle))
    return []


def ancestor_bits(order: Sequence[str], deps: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """For each node, the bitset of all its ancestors (positions in ``order``)."""
    position = {node: i for i, node in enumerate(order)}
    bits: dict[str, int] = {}
    for node in order:
        acc = 0
        for parent in deps.get(node, ()):
            if parent in position:
                acc |= bits[parent] | (1 << position[parent])
        bits[node] = acc
    return bits


def weak_components(nodes: Sequence[str], deps: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Weakly connected components of the subgraph induced by ``nodes``, each in input order."""
    member = set(nodes)
    parent = {node: node for node in nodes}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for node in nodes:
        for dep in deps.get(node, ()):
            if dep in member:
                a, b = find(node), find(dep)
                if a != b:
                    parent[a] = b
    groups: dict[str, list[str]] = {}
    for node in nodes:
        groups.setdefault(find(node), []).append(node)
    return list(groups.values())
