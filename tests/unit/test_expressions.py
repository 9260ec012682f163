"""``${...}`` expressions: references keep their type, strings interpolate, Jinja runs sandboxed."""

from __future__ import annotations

import copy

import pytest

from app.engine.expressions import ExpressionError, evaluate_condition, resolve

CONTEXT = {
    "workflow": {
        "input": {"n": 3, "name": "ada", "cfg": {"depth": 2}, "ids": [7, 8], "off": False}
    },
    "tasks": {
        "fetch": {
            "output": {
                "count": 2,
                "items": [{"id": "i0"}, "second"],
                "ok": True,
                "empty": "",
                "zero": 0,
            }
        }
    },
    # Seed 002 reads ``${<step>.output...}``.
    "extract": {"output": {"data": {"rows": 4}}},
    "variables": {"var1": "value1"},
    "state": {"attempt": 1},
}


def res(value):
    return resolve(value, CONTEXT)


# -- references ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("${workflow.input.n}", 3, id="int"),
        pytest.param("${workflow.input.off}", False, id="bool"),
        pytest.param("${workflow.input.cfg}", {"depth": 2}, id="dict"),
        pytest.param("${workflow.input.ids}", [7, 8], id="list"),
        pytest.param("${ workflow.input.n }", 3, id="spaces"),
        pytest.param("${tasks.fetch.output.items[0]}", {"id": "i0"}, id="index"),
        pytest.param("${tasks.fetch.output.items[0].id}", "i0", id="index-then-key"),
        pytest.param("${extract.output.data}", {"rows": 4}, id="seed-002-form"),
        pytest.param("${steps.fetch.output.count}", None, id="steps-root-not-in-context"),
        pytest.param("${variables.var1}", "value1", id="variables"),
        pytest.param("${state.attempt}", 1, id="state"),
        pytest.param("${tasks.fetch.output.zero}", 0, id="zero-is-not-missing"),
    ],
)
def test_whole_value_reference_keeps_its_type(value, expected):
    assert res(value) == expected
    assert type(res(value)) is type(expected)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("${workflow.input.missing}", id="missing-key"),
        pytest.param("${tasks.ghost.output.x}", id="missing-task"),
        pytest.param("${tasks.fetch.output.items[9]}", id="index-out-of-range"),
        pytest.param("${tasks.fetch.output.count.deeper}", id="key-of-a-number"),
        pytest.param("${workflow.input.cfg[0]}", id="index-of-a-dict"),
    ],
)
def test_missing_values_resolve_to_none(value):
    assert res(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("n=${workflow.input.n}", "n=3", id="int"),
        pytest.param("hi ${workflow.input.name}!", "hi ada!", id="string"),
        pytest.param("cfg=${workflow.input.cfg}", 'cfg={"depth": 2}', id="dict-as-json"),
        pytest.param("ids=${workflow.input.ids}", "ids=[7, 8]", id="list-as-json"),
        pytest.param("flag=${workflow.input.off}", "flag=false", id="bool-as-json"),
        pytest.param("[${workflow.input.missing}]", "[]", id="missing-is-empty"),
        pytest.param("${workflow.input.n}/${tasks.fetch.output.count}", "3/2", id="two-references"),
        pytest.param("${workflow.input.n * 2} items", "6 items", id="jinja-inside-string"),
        pytest.param("no expressions here", "no expressions here", id="plain"),
        pytest.param("$workflow.input.n", "$workflow.input.n", id="no-braces"),
    ],
)
def test_interpolation_inside_strings(value, expected):
    assert res(value) == expected


def test_nested_values_are_resolved_everywhere():
    value = {
        "command": "echo ${workflow.input.name}",
        "args": ["${workflow.input.n}", {"depth": "${workflow.input.cfg.depth}"}],
        "literal": 5,
    }
    assert res(value) == {"command": "echo ada", "args": [3, {"depth": 2}], "literal": 5}


# -- Jinja expressions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("${workflow.input.n * 2}", 6, id="arithmetic"),
        pytest.param("${tasks.fetch.output.count + workflow.input.n}", 5, id="two-references"),
        pytest.param("${tasks['fetch'].output.items[0]['id']}", "i0", id="subscripts"),
        pytest.param("${workflow.input.ids | length}", 2, id="filter"),
        pytest.param("${workflow.input.name | upper}", "ADA", id="string-filter"),
        pytest.param("${workflow.input.missing or 'fallback'}", "fallback", id="default-via-or"),
        pytest.param("${workflow.input.missing}", None, id="undefined-is-none"),
        pytest.param("${workflow.input.n > 2 and tasks.fetch.output.ok}", True, id="boolean"),
        pytest.param("${[workflow.input.n, 1]}", [3, 1], id="list-literal"),
        pytest.param("${tasks.fetch.output.items[-1]}", "second", id="negative-index"),
        # A key named like a dict method is the key, as in a plain reference.
        pytest.param("${tasks.fetch.output.items | length}", 2, id="key-named-items"),
        pytest.param("${workflow.input.get('n')}", 3, id="dict-get-still-works"),
    ],
)
def test_jinja_expressions(value, expected):
    assert res(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("${workflow.input.missing + 1}", id="arithmetic-on-missing"),
        pytest.param("${workflow.input.name / 2}", id="type-error"),
        pytest.param("${range(10 ** 9) | list}", id="huge-range"),
    ],
)
def test_failing_expression_raises_expression_error(value):
    with pytest.raises(ExpressionError, match="cannot evaluate"):
        res(value)


# -- conditions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        pytest.param("${tasks.fetch.output.ok}", True, id="wrapped-true"),
        pytest.param("tasks.fetch.output.ok", True, id="bare-true"),
        pytest.param("${workflow.input.off}", False, id="wrapped-false"),
        pytest.param("workflow.input.off", False, id="bare-false"),
        pytest.param("${tasks.fetch.output.count > 1}", True, id="wrapped-comparison"),
        pytest.param("tasks.fetch.output.count > 5", False, id="bare-comparison"),
        pytest.param("${tasks.fetch.output.empty != ''}", False, id="empty-string-check"),
        pytest.param("${tasks.fetch.output.missing}", False, id="missing-is-false"),
        pytest.param("  ${tasks.fetch.output.ok}  ", True, id="surrounding-spaces"),
        pytest.param("extract.output.data.rows == 4", True, id="seed-002-form"),
        pytest.param("workflow.input.n == 3 and not workflow.input.off", True, id="and-not"),
        pytest.param("${workflow.input.name}-${workflow.input.n}", True, id="interpolated-text"),
    ],
)
def test_evaluate_condition(condition, expected):
    assert evaluate_condition(condition, CONTEXT) is expected


# -- the sandbox ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("${ ''.__class__.__mro__ }", id="str-mro"),
        pytest.param("${ ''.__class__.__mro__[1].__subclasses__() }", id="object-subclasses"),
        pytest.param("${ ().__class__.__base__.__subclasses__() }", id="tuple-base-subclasses"),
        pytest.param("${ workflow.input.__class__.__mro__[1].__subclasses__() }", id="dict-mro"),
        pytest.param("${ lipsum.__globals__['os'] }", id="function-globals"),
        pytest.param("${ (1).__class__.__subclasses__() }", id="int-subclasses"),
    ],
)
def test_sandbox_refuses_python_internals(value):
    with pytest.raises(ExpressionError, match="unsafe"):
        res(value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("${ workflow.__class__ }", id="reference-to-dunder"),
        pytest.param("${ cycler.__init__.__globals__.os }", id="reference-to-globals"),
        pytest.param("${ tasks.fetch.output.items.__class__ }", id="list-dunder"),
    ],
)
def test_dunder_references_find_nothing(value):
    assert res(value) is None


def test_condition_cannot_reach_object_subclasses():
    with pytest.raises(ExpressionError):
        evaluate_condition("''.__class__.__mro__[1].__subclasses__()", CONTEXT)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("${ workflow.input.pop('n') }", id="dict-pop"),
        pytest.param("${ workflow.input.ids.append(9) }", id="list-append"),
        pytest.param("${ workflow.input.update(n=0) }", id="dict-update"),
    ],
)
def test_expressions_cannot_modify_the_context(value):
    context = copy.deepcopy(CONTEXT)
    with pytest.raises(ExpressionError, match="unsafe"):
        resolve(value, context)
    assert context == CONTEXT


def test_resolving_does_not_modify_the_value():
    value = {"a": ["${workflow.input.n}"]}
    res(value)
    assert value == {"a": ["${workflow.input.n}"]}
