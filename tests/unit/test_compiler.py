"""DAG → series-parallel plan → bounded Celery canvases (DESIGN §4)."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Mapping

import celery
import pytest
from celery.signals import before_task_publish

from app.engine.compiler import (
    ADVANCE,
    FINALIZE,
    MAX_RECORDED_BARRIERS,
    RUN_TASK,
    Emitter,
    build_plan,
    describe,
)
from app.engine.validation import Catalogue, load_definition
from app.services.message_stats import message_bytes

CATALOGUE = Catalogue(agent_status=lambda name: None, aliases={"ergon": "cli"})
CANVASES = {"celery.chain", "celery.group", "celery.chord"}


def dag_of(edges, nodes=()):
    """A definition in the task-map dialect whose ``(u, v)`` edges mean "v depends on u"."""
    tasks = {tid: {"action": "builtin.noop", "depends_on": []} for tid in nodes}
    for u, v in edges:
        tasks.setdefault(u, {"action": "builtin.noop", "depends_on": []})
        tasks.setdefault(v, {"action": "builtin.noop", "depends_on": []})["depends_on"].append(u)
    return load_definition({"tasks": tasks}, CATALOGUE)


def chain_dag(n):
    ids = [f"t{i}" for i in range(n)]
    return dag_of(list(itertools.pairwise(ids)), ids)


def layered_dag(layers, width):
    """Every task of a layer depends on every task of the layer before."""
    names = [[f"l{k}_{i}" for i in range(width)] for k in range(layers)]
    return dag_of([(u, v) for a, b in itertools.pairwise(names) for u in a for v in b])


def edges_of(dag):
    return [(u, task.id) for task in dag.tasks.values() for u in task.depends_on]


def structure(dag, done=()):
    return describe(build_plan(dag, done), dag)["structure"]


def finishes_before(plan) -> dict[str, frozenset[str]]:
    """For each task, the tasks the plan guarantees have finished when it starts."""
    before: dict[str, frozenset[str]] = {}

    def walk(node, done: frozenset[str]) -> frozenset[str]:
        if node["kind"] == "task":
            assert node["task"] not in before, f"{node['task']} appears twice in the plan"
            before[node["task"]] = done
            return done | {node["task"]}
        if node["kind"] == "series":
            for child in node["children"]:
                done = walk(child, done)
            return done
        return done.union(*(walk(child, done) for child in node["children"]))

    walk(plan["tree"], frozenset())
    return before


def random_dag(seed: int):
    rng = random.Random(seed)
    ids = [f"t{i}" for i in range(rng.randint(5, 40))]
    density = rng.choice([0.05, 0.1, 0.2, 0.4])
    edges = [(u, v) for i, v in enumerate(ids) for u in ids[:i] if rng.random() < density]
    rng.shuffle(ids)  # declaration order is not a topological order
    return dag_of(edges, ids)


def series_parallel_edges(rng, size, names):
    """``(nodes, sources, sinks, edges)`` of a random series-parallel composition."""
    if size == 1:
        tid = next(names)
        return [tid], [tid], [tid], []
    left = rng.randint(1, size - 1)
    a, b = series_parallel_edges(rng, left, names), series_parallel_edges(rng, size - left, names)
    if rng.random() < 0.5:
        bridge = [(u, v) for u in a[2] for v in b[1]]
        return a[0] + b[0], a[1], b[2], a[3] + b[3] + bridge
    return a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]


# -- plans ---------------------------------------------------------------------------------------


def test_diamond_is_series_of_parallel_without_barriers():
    dag = dag_of([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])
    plan = build_plan(dag)
    assert describe(plan, dag) == {
        "structure": {"series": ["a", {"parallel": ["b", "c"]}, "d"]},
        "task_count": 4,
        "barrier_edges": [],
        "barrier_edge_count": 0,
        "series_parallel": True,
    }


def test_non_series_parallel_graph_gets_exactly_one_barrier_edge():
    dag = dag_of([("A", "C"), ("A", "D"), ("B", "D")])
    plan = build_plan(dag)
    assert plan["barrier_edge_count"] == 1
    ((u, v),) = plan["barrier_edges"]
    assert (u, v) not in edges_of(dag)
    before = finishes_before(plan)
    assert u in before[v]
    assert all(a in before[b] for a, b in edges_of(dag))
    assert describe(plan, dag)["series_parallel"] is False


def test_nested_series_parallel_graph_stays_exact():
    dag = dag_of(
        [
            ("a", "b"),
            ("b", "c"),
            ("b", "d"),
            ("c", "e"),
            ("d", "e"),
            ("a", "f"),
            ("e", "g"),
            ("f", "g"),
            ("x", "y"),
        ]
    )
    plan = build_plan(dag)
    assert plan["barrier_edge_count"] == 0
    assert describe(plan, dag)["structure"] == {
        "series": [
            {
                "parallel": [
                    {
                        "series": [
                            "a",
                            {"parallel": [{"series": ["b", {"parallel": ["c", "d"]}, "e"]}, "f"]},
                            "g",
                        ]
                    },
                    {"series": ["x", "y"]},
                ]
            }
        ]
    }


@pytest.mark.parametrize("seed", range(15), ids=lambda s: f"seed-{s}")
def test_random_series_parallel_graphs_need_no_barrier(seed):
    rng = random.Random(seed)
    names = (f"s{i}" for i in itertools.count())
    nodes, _, _, edges = series_parallel_edges(rng, rng.randint(2, 40), names)
    plan = build_plan(dag_of(edges, nodes))
    assert (plan["barrier_edge_count"], plan["barrier_edges"]) == (0, [])


def test_independent_tasks_run_in_parallel():
    dag = dag_of([], ["a", "b", "c"])
    assert structure(dag) == {"series": [{"parallel": ["a", "b", "c"]}]}


def test_done_tasks_are_left_out():
    dag = dag_of([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])
    plan = build_plan(dag, done={"a", "b"})
    assert plan["task_count"] == 2
    assert describe(plan, dag)["structure"] == {"series": ["c", "d"]}


def test_nothing_left_to_run_is_an_empty_plan():
    dag = dag_of([("a", "b")])
    plan = build_plan(dag, done={"a", "b"})
    assert (plan["task_count"], describe(plan, dag)["structure"]) == (0, {"series": []})


def test_barrier_edges_are_all_counted_but_recorded_up_to_a_cap():
    # Zigzag: each lower task needs two neighbours above, so no cut is exact.
    width = 40
    edges = [(f"u{i}", f"l{i}") for i in range(width)]
    edges += [(f"u{i + 1}", f"l{i}") for i in range(width - 1)]
    dag = dag_of(edges)
    plan = build_plan(dag)
    assert plan["barrier_edge_count"] == width * width - (2 * width - 1)
    assert len(plan["barrier_edges"]) == MAX_RECORDED_BARRIERS < plan["barrier_edge_count"]
    assert describe(plan, dag)["barrier_edge_count"] == plan["barrier_edge_count"]


@pytest.mark.parametrize("seed", range(30), ids=lambda s: f"seed-{s}")
def test_random_plan_respects_every_dependency(seed):
    dag = random_dag(seed)
    plan = build_plan(dag)
    before = finishes_before(plan)
    assert sorted(before) == sorted(dag.tasks)  # every task exactly once
    assert plan["task_count"] == len(dag.tasks)
    missed = [(u, v) for u, v in edges_of(dag) if u not in before[v]]
    assert missed == []
    assert len(plan["barrier_edges"]) == plan["barrier_edge_count"]
    assert all(u in before[v] for u, v in plan["barrier_edges"])


@pytest.mark.parametrize("seed", range(10), ids=lambda s: f"seed-{s}")
def test_random_plan_of_what_is_left(seed):
    dag = random_dag(seed)
    order = dag.topological_order()
    done = set(order[: len(order) // 3])  # a prefix: what a resumed run has finished
    before = finishes_before(build_plan(dag, done))
    assert sorted(before) == sorted(set(dag.tasks) - done)
    assert all(u in before[v] for u, v in edges_of(dag) if v not in done and u not in done)


# -- canvases ------------------------------------------------------------------------------------

APP = celery.Celery("harmonia-test", set_as_current=False)


def parts(sig) -> list[Mapping]:
    kwargs = sig["kwargs"]
    if sig["task"] == "celery.chord":
        header = kwargs["header"]
        return [*(header["kwargs"]["tasks"] if "task" in header else header), kwargs["body"]]
    if sig["task"] in ("celery.chain", "celery.group"):
        return list(kwargs["tasks"])
    return []


def leaves(sig) -> list[Mapping]:
    return [sig] if sig["task"] not in CANVASES else [x for p in parts(sig) for x in leaves(p)]


def messages(sig) -> list[Mapping]:
    """The canvases a group sends one by one: each is what one segment holds."""
    if sig["task"] == "celery.group":
        return [m for p in parts(sig) for m in messages(p)]
    return [sig]


def chords(sig) -> list[Mapping]:
    found = [sig] if sig["task"] == "celery.chord" else []
    return found + [c for p in parts(sig) for c in chords(p)]


def small_body(body) -> bool:
    """At most one task, then the advance or finalize that ends the segment. Every header message
    carries a copy of the body, so no group, chord or rest of a chain rides in it."""
    names = [leaf["task"] for leaf in leaves(body)]
    return names[:-1] in ([], [RUN_TASK]) and names[-1] in (ADVANCE, FINALIZE)


def render(sig) -> str:
    """A canvas in brief: task ids, ``continue n0@2``, ``join n1 0/3``, ``finalize``."""
    if sig["task"] == "celery.chord":
        *header, body = parts(sig)
        return f"chord([{', '.join(map(render, header))}], {render(body)})"
    if sig["task"] in ("celery.chain", "celery.group"):
        return f"{sig['task'][7:]}({', '.join(map(render, parts(sig)))})"
    if sig["task"] == RUN_TASK:
        return sig["args"][1]
    if sig["task"] == FINALIZE:
        return "finalize"
    _, _, kind, node, index, *join = sig["args"]
    return f"continue {node}@{index}" if kind == "continue" else f"join {node} {join[0]}/{join[1]}"


def emitter(dag, segment_size, **options):
    return Emitter(build_plan(dag), "run-1", 3, app=APP, segment_size=segment_size, **options)


class Driver:
    """Runs segments the way the worker's ``harmonia.advance`` continues them."""

    def __init__(self, em: Emitter):
        self.em = em
        self.started: dict[str, frozenset[str]] = {}
        self.joins: dict[str, dict[int, frozenset[str]]] = {}
        self.segments: list[Mapping] = []
        self.finished: list[frozenset[str]] = []

    def run(self, segment, done=frozenset()) -> frozenset[str]:
        self.segments.append(segment)
        return self.execute(segment, done)

    def execute(self, sig, done: frozenset[str]) -> frozenset[str]:
        if sig["task"] == "celery.chain":
            for part in parts(sig):
                done = self.execute(part, done)
            return done
        if sig["task"] == "celery.group":
            return done.union(*(self.execute(p, done) for p in parts(sig)))
        if sig["task"] == "celery.chord":
            *header, body = parts(sig)
            return self.execute(body, done.union(*(self.execute(p, done) for p in header)))
        assert sig["args"][0] == "run-1"
        if sig["task"] == RUN_TASK:
            _, tid, generation = sig["args"]
            assert generation == 3 and tid not in self.started
            self.started[tid] = done
            return done | {tid}
        if sig["task"] == FINALIZE:
            self.finished.append(done)
            return done
        assert sig["task"] == ADVANCE
        _, generation, kind, node, index, *join = sig["args"]
        if kind == "continue":
            return self.run(self.em.series(self.em.index.nodes[node], index), done)
        member, expected = join
        arrived = self.joins.setdefault(node, {})
        assert member not in arrived
        arrived[member] = done
        if len(arrived) == expected:
            return self.run(self.em.after_join(node), frozenset().union(*arrived.values()))
        return done


@pytest.mark.parametrize("segment_size", [1, 3, 8, 200], ids=lambda s: f"segment-{s}")
@pytest.mark.parametrize("seed", range(12), ids=lambda s: f"seed-{s}")
def test_segments_run_every_task_once_in_dependency_order(seed, segment_size):
    dag = random_dag(seed)
    driver = Driver(emitter(dag, segment_size))
    driver.run(driver.em.start())
    assert sorted(driver.started) == sorted(dag.tasks)
    assert [(u, v) for u, v in edges_of(dag) if u not in driver.started[v]] == []
    assert driver.finished == [frozenset(dag.tasks)]  # finalized once, after everything
    for segment in driver.segments:
        names = {leaf["task"] for leaf in leaves(segment)}
        assert names <= {RUN_TASK, ADVANCE, FINALIZE}
        assert all(leaf["immutable"] for leaf in leaves(segment))
        for message in messages(segment):
            assert sum(leaf["task"] == RUN_TASK for leaf in leaves(message)) <= segment_size
        for chord in chords(segment):
            *header, _ = parts(chord)
            for member in header:  # plain tasks or chains of plain tasks only
                assert {leaf["task"] for leaf in leaves(member)} == {RUN_TASK}
                assert chords(member) == []
            assert small_body(parts(chord)[-1]), render(chord)


def test_long_chain_is_cut_into_segments_joined_by_advance():
    em = emitter(chain_dag(1000), segment_size=50)
    first = em.start()
    *tasks, last = parts(first)
    assert [t["args"][1] for t in tasks] == [f"t{i}" for i in range(50)]
    assert last["task"] == ADVANCE
    assert last["args"][2:] == ("continue", em.index.root["id"], 50)


def test_last_segment_of_the_root_finalizes_the_run():
    driver = Driver(emitter(chain_dag(1000), segment_size=50))
    driver.run(driver.em.start())
    assert len(driver.segments) == 20
    for segment in driver.segments[:-1]:
        assert parts(segment)[-1]["args"][2] == "continue"
    *tasks, last = parts(driver.segments[-1])
    assert [t["args"][1] for t in tasks] == [f"t{i}" for i in range(950, 1000)]
    assert last["task"] == FINALIZE
    assert last["args"] == ("run-1", 3)


def test_wide_fan_out_is_chunked_into_chords_that_join():
    width, segment_size = 1000, 50
    middle = [f"m{i}" for i in range(width)]
    dag = dag_of([("a", m) for m in middle] + [(m, "z") for m in middle])
    driver = Driver(emitter(dag, segment_size))
    driver.run(driver.em.start())
    head, fan_out, tail = driver.segments
    assert [leaf["task"] for leaf in leaves(head)] == [RUN_TASK, ADVANCE]
    assert fan_out["task"] == "celery.group"
    members = parts(fan_out)
    assert len(members) == width // segment_size
    for m, chord in enumerate(members):
        *header, body = parts(chord)
        assert chord["task"] == "celery.chord"
        assert len(header) == segment_size
        assert body["task"] == ADVANCE
        assert body["args"][2] == "join"
        assert body["args"][5:] == (m, len(members))
    assert [(leaf["task"], leaf["args"][1]) for leaf in leaves(tail)] == [
        (RUN_TASK, "z"),
        (FINALIZE, 3),
    ]
    assert all(driver.started["z"] >= {m} for m in middle)


def test_first_segment_of_a_huge_chain_stays_small():
    first = Emitter(build_plan(chain_dag(10_000)), "run-1", 1, app=APP).start()
    assert len(json.dumps(first)) < 256 * 1024


def test_small_workflow_fits_one_canvas():
    dag = dag_of([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])
    canvas = emitter(dag, 200).start()
    assert [leaf["task"] for leaf in leaves(canvas)] == [RUN_TASK] * 4 + [FINALIZE]
    assert [c["task"] for c in chords(canvas)] == ["celery.chord"]


def test_nothing_left_to_run_only_finalizes():
    dag = dag_of([("a", "b")])
    em = Emitter(build_plan(dag, done={"a", "b"}), "run-1", 3, app=APP)
    assert [leaf["task"] for leaf in leaves(em.start())] == [FINALIZE]


def test_task_options_reach_the_signature():
    dag = dag_of([("a", "b")])
    em = emitter(dag, 200, task_options=lambda tid: {"queue": f"q-{tid}"} if tid == "b" else {})
    options = {
        leaf["args"][1]: leaf["options"] for leaf in leaves(em.start()) if leaf["task"] == RUN_TASK
    }
    assert options == {"a": {}, "b": {"queue": "q-b"}}


@pytest.mark.parametrize(
    ("dag", "segments"),
    [
        pytest.param(chain_dag(3), ["chain(t0, t1, t2, finalize)"], id="chain"),
        pytest.param(
            dag_of([("a", m) for m in ("m0", "m1", "m2")] + [(m, "z") for m in ("m0", "m1", "m2")]),
            ["chain(a, chord([m0, m1, m2], chain(z, finalize)))"],
            id="fan-out-fan-in",
        ),
        pytest.param(
            dag_of([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]),
            ["chain(a, chord([b, c], chain(d, finalize)))"],
            id="diamond",
        ),
        # Changed by the one-group-per-segment rule: these used to be one canvas each, with the
        # rest of the series inside the first chord's body.
        pytest.param(
            dag_of([("A", "C"), ("A", "D"), ("B", "D")]),
            ["chord([A, B], continue n0@1)", "chord([C, D], finalize)"],
            id="non-series-parallel",
        ),
        pytest.param(
            layered_dag(3, 2),
            [
                "chord([l0_0, l0_1], continue n0@1)",
                "chord([l1_0, l1_1], continue n0@2)",
                "chord([l2_0, l2_1], finalize)",
            ],
            id="layers",
        ),
        pytest.param(
            dag_of([("a", "t"), ("b", "t"), ("t", "c"), ("t", "d")]),
            ["chord([a, b], chain(t, continue n0@2))", "chord([c, d], finalize)"],
            id="group-task-group",
        ),
        pytest.param(
            dag_of([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("d", "e"), ("e", "f")]),
            ["chain(a, chord([b, c], chain(d, continue n0@3)))", "chain(e, f, finalize)"],
            id="diamond-then-chain",
        ),
    ],
)
def test_segment_canvases(dag, segments):
    driver = Driver(emitter(dag, 200))
    driver.run(driver.em.start())
    assert [render(segment) for segment in driver.segments] == segments


def test_layered_dag_runs_a_layer_per_segment():
    driver = Driver(emitter(layered_dag(10, 100), 200))
    driver.run(driver.em.start())
    assert len(driver.segments) == 10
    for k, segment in enumerate(driver.segments):
        (chord,) = chords(segment)
        *header, body = parts(chord)
        assert [leaf["args"][1] for leaf in header] == [f"l{k}_{i}" for i in range(100)]
        assert body["task"] == (FINALIZE if k == 9 else ADVANCE)


@pytest.fixture
def published():
    """Send a canvas to an in-memory broker; the sizes of the messages it published."""
    app = celery.Celery(
        "harmonia-publish", broker="memory://", backend="cache+memory://", set_as_current=False
    )
    sizes: list[int] = []

    def record(body=None, headers=None, **_kwargs):
        sizes.append(message_bytes(body, headers))

    def publish(dag) -> list[int]:
        Emitter(build_plan(dag), "run-1", 1, app=app).start().apply_async()
        return sizes

    before_task_publish.connect(record, weak=False)
    yield publish
    before_task_publish.disconnect(record)
    app.close()


def test_first_segment_of_a_layered_dag_sends_small_messages(published):
    sizes = published(layered_dag(10, 100))
    assert len(sizes) == 100  # one message per task of the first layer
    # Each used to carry the second layer's chord: 101 signatures, 26 KB, 2.6 MB in all.
    assert max(sizes) < 2048
