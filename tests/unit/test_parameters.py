"""Template parameters: declarations, binding values, and ``${params.x}`` placeholders."""

from __future__ import annotations

import pytest

from app.engine.parameters import (
    InvalidParameters,
    bind,
    check_declarations,
    check_placeholders,
    input_defaults,
    placeholders,
    substitute,
)

DECLARED = {
    "data_source": {"type": "string", "required": True, "description": "Where the data is"},
    "format": {"type": "string", "default": "json", "enum": ["json", "csv"]},
    "count": {"type": "integer", "default": 10, "minimum": 1},
    "options": {
        "type": "object",
        "default": {"normalize": True, "depth": 1},
        "properties": {
            "normalize": {"type": "boolean"},
            "depth": {"type": "integer", "required": True},
        },
    },
}


def fields(problems) -> dict[str, str]:
    return {p.field: p.message for p in problems}


def test_good_declarations_have_no_problems():
    assert check_declarations(DECLARED) == []


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ({"type": "strng"}, "parameters.p.type", "must be one of"),
        ({"type": "string", "requried": True}, "parameters.p.requried", "unknown key"),
        ({"type": "string", "required": "yes"}, "parameters.p.required", "true or false"),
        ({"type": "integer", "default": "ten"}, "parameters.p.default", "not of type 'integer'"),
        ({"type": "string", "enum": []}, "parameters.p.enum", "non-empty list"),
        ({"type": "string", "enum": ["a", 2]}, "parameters.p.enum[1]", "not of type 'string'"),
        ({"enum": ["a", "b"], "default": "c"}, "parameters.p.default", "is not one of"),
        ("string", "parameters.p", "must be an object"),
        (
            {"type": "object", "properties": {"x": {"type": "nope"}}},
            "parameters.p.properties.x.type",
            "must be one of",
        ),
        ({"type": "string", "properties": {}}, "parameters.p.properties", "only an object"),
    ],
    ids=[
        "bad-type",
        "unknown-key",
        "required-not-bool",
        "default-wrong-type",
        "empty-enum",
        "enum-value-wrong-type",
        "default-not-in-enum",
        "not-an-object",
        "nested-bad-type",
        "properties-on-a-string",
    ],
)
def test_each_bad_declaration_is_named(spec, field, message):
    found = fields(check_declarations({"p": spec}))
    assert field in found, found
    assert message in found[field]


def test_binding_applies_defaults_deeply():
    values = bind(DECLARED, {"data_source": "s3://b/x.csv", "options": {"depth": 2}})
    assert values == {
        "data_source": "s3://b/x.csv",
        "format": "json",
        "count": 10,
        "options": {"depth": 2},
    }
    assert bind(DECLARED, {"data_source": "d"})["options"] == {"normalize": True, "depth": 1}


def test_a_default_that_breaks_its_own_declaration_is_named():
    spec = {"type": "object", "default": {}, "properties": {"depth": {"required": True}}}
    assert fields(check_declarations({"p": spec})) == {
        "parameters.p.default": "'depth' is a required property"
    }


def test_every_bad_value_is_named_at_once():
    with pytest.raises(InvalidParameters) as info:
        bind(
            DECLARED,
            {"format": "xml", "count": "many", "options": {"normalize": "no"}, "extra": 1},
        )
    found = fields(info.value.problems)
    assert found["parameter_values.data_source"] == "is required"
    assert "is not one of ['json', 'csv']" in found["parameter_values.format"]
    assert "is not of type 'integer'" in found["parameter_values.count"]
    assert "is not of type 'boolean'" in found["parameter_values.options.normalize"]
    assert found["parameter_values.options.depth"] == "is required"
    assert found["parameter_values.extra"].startswith("unknown parameter (declared:")


def test_values_must_be_an_object():
    with pytest.raises(InvalidParameters) as info:
        bind(DECLARED, ["not", "an", "object"])
    assert fields(info.value.problems) == {"parameter_values": "must be an object"}


DEFINITION = {
    "tasks": {
        "fetch": {
            "action": "cli.execute_command",
            "input": {"command": "fetch ${params.data_source} --format=${params.format}"},
        },
        "use": {
            "action": "builtin.echo",
            "depends_on": ["fetch"],
            "input": {
                "n": "${params.count}",
                "options": "${params.options}",
                "normalize": "${params.options.normalize}",
                "upstream": "${tasks.fetch.output.result}",
            },
            "condition": "${params.options.normalize}",
        },
    }
}


def test_placeholders_are_found_with_their_paths():
    assert placeholders(DEFINITION) == [
        ("tasks.fetch.input.command", "data_source"),
        ("tasks.fetch.input.command", "format"),
        ("tasks.use.condition", "options"),
        ("tasks.use.input.n", "count"),
        ("tasks.use.input.normalize", "options"),
        ("tasks.use.input.options", "options"),
    ]


def test_substitution_keeps_types_and_leaves_run_time_expressions_alone():
    values = {"data_source": "s3://b", "format": "csv", "count": 3, "options": {"normalize": False}}
    out = substitute(DEFINITION, values)
    assert out["tasks"]["fetch"]["input"]["command"] == "fetch s3://b --format=csv"
    use = out["tasks"]["use"]
    assert use["input"] == {
        "n": 3,
        "options": {"normalize": False},
        "normalize": False,
        "upstream": "${tasks.fetch.output.result}",
    }
    assert use["condition"] is False
    assert DEFINITION["tasks"]["use"]["input"]["n"] == "${params.count}"  # a copy
    assert placeholders(out) == []


def test_placeholder_problems_are_named():
    found = check_placeholders(
        {"a": "${params.nope}", "b": ["${params.count * 2}"], "c": "${params}"},
        DECLARED,
        "definition",
    )
    assert [(p.field, p.type) for p in found] == [
        ("definition.a", "unknown"),
        ("definition.b[0]", "expression"),
        ("definition.c", "invalid"),
    ]
    assert "names no declared parameter" in found[0].message


def test_values_and_defaults_may_not_smuggle_in_expressions():
    with pytest.raises(InvalidParameters) as info:
        bind(DECLARED, {"data_source": "${workflow.input.secret}"})
    assert fields(info.value.problems) == {
        "parameter_values.data_source": "must not contain '${' (values are not expressions)"
    }
    found = fields(check_declarations({"p": {"type": "string", "default": "${state.x}"}}))
    assert found == {"parameters.p.default": "must not contain '${' (values are not expressions)"}


def test_reading_into_a_scalar_parameter_is_named():
    found = check_placeholders({"a": "${params.count.digits}"}, DECLARED, "")
    assert [(p.field, p.type) for p in found] == [("a", "invalid")]
    assert "whose type integer has no keys" in found[0].message


def test_bound_values_become_the_defaults_of_input_properties_of_the_same_name():
    json_schema = {
        "input": {
            "type": "object",
            "properties": {"data_source": {"type": "string"}, "other": {"type": "integer"}},
        }
    }
    filled = input_defaults(json_schema, {"data_source": "s3://b", "unrelated": 1})
    assert filled["input"]["properties"] == {
        "data_source": {"type": "string", "default": "s3://b"},
        "other": {"type": "integer"},
    }
    assert json_schema["input"]["properties"]["data_source"] == {"type": "string"}  # a copy
    property_map = {"input_schema": {"format": {"type": "string", "default": "json"}}}
    assert input_defaults(property_map, {"format": "csv"}) == {
        "input_schema": {"format": {"type": "string", "default": "csv"}}
    }
    assert input_defaults({"tasks": {}}, {"format": "csv"}) == {"tasks": {}}
