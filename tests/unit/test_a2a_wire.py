"""Harmonia's A2A wire formats checked against the official ``a2a-sdk`` types: what it sends
parses as the SDK's requests, and what SDK-shaped agents answer is understood, in 0.3 and 1.0."""

from __future__ import annotations

import pytest
from a2a.compat.v0_3 import types as v03
from a2a.types import a2a_pb2 as v10
from google.protobuf.json_format import MessageToDict, ParseDict

from worker.actions.a2a_wire import Dialect, dialect_from_card, parts_output
from worker.actions.agent import retry_delay

MODERN, LEGACY = Dialect("1.0", "http://agent/"), Dialect("0.3", "http://agent/")


@pytest.mark.parametrize(
    "value", [{"source": "s3://b", "n": [1, 2]}, "plain text"], ids=["data", "text"]
)
def test_a_1_0_send_is_a_valid_sdk_request(value):
    request = ParseDict(MODERN.send_params(value), v10.SendMessageRequest())
    assert request.message.role == v10.ROLE_USER
    assert request.configuration.return_immediately is True
    part = request.message.parts[0]
    if isinstance(value, dict):
        assert MessageToDict(part)["data"] == value
    else:
        assert part.text == value
    assert (MODERN.method("send"), MODERN.headers) == ("SendMessage", {"A2A-Version": "1.0"})
    ParseDict(MODERN.task_params("t-1"), v10.GetTaskRequest())
    ParseDict(MODERN.task_params("t-1"), v10.CancelTaskRequest())


@pytest.mark.parametrize("value", [{"source": "s3://b"}, "plain text"], ids=["data", "text"])
def test_a_0_3_send_is_a_valid_sdk_request(value):
    params = v03.MessageSendParams.model_validate(LEGACY.send_params(value))
    assert params.configuration.blocking is False
    part = params.message.parts[0].root
    assert (part.data if isinstance(value, dict) else part.text) == value
    v03.TaskQueryParams.model_validate(LEGACY.task_params("t-1"))
    assert LEGACY.method("send") == "message/send" and LEGACY.headers == {}


def sdk_task_1_0(state: int, **parts) -> dict:
    task = v10.Task(id="t-1", context_id="c-1")
    task.status.state = state
    if parts.get("artifact"):
        artifact = task.artifacts.add(artifact_id="a-1")
        for item in parts["artifact"]:
            ParseDict(item, artifact.parts.add())
    if parts.get("status"):
        task.status.message.role = v10.ROLE_AGENT
        task.status.message.message_id = "m-1"
        task.status.message.parts.add(text=parts["status"])
    return MessageToDict(v10.SendMessageResponse(task=task))


def test_1_0_answers_are_understood():
    done = MODERN.reply(sdk_task_1_0(v10.TASK_STATE_COMPLETED, artifact=[{"data": {"data": [1]}}]))
    assert (done.kind, done.task_id, done.state, done.finished) == (
        "task",
        "t-1",
        "completed",
        True,
    )
    assert done.output() == {"data": [1]}
    working = MODERN.reply(sdk_task_1_0(v10.TASK_STATE_WORKING))
    assert (working.state, working.finished) == ("working", False)
    asking = MODERN.reply(sdk_task_1_0(v10.TASK_STATE_INPUT_REQUIRED, status="which table?"))
    assert (asking.state, asking.status_text) == ("input-required", "which table?")
    got = MODERN.reply(
        MessageToDict(ParseDict(sdk_task_1_0(v10.TASK_STATE_FAILED)["task"], v10.Task()))
    )
    assert got.state == "failed"
    message = v10.Message(message_id="m-2", role=v10.ROLE_AGENT)
    message.parts.add(text='{"answer": 42}')
    direct = MODERN.reply(MessageToDict(v10.SendMessageResponse(message=message)))
    assert (direct.kind, direct.output()) == ("message", {"answer": 42})


def test_0_3_answers_are_understood():
    task = v03.Task(
        id="t-1",
        context_id="c-1",
        status=v03.TaskStatus(state="completed"),
        artifacts=[
            {"artifact_id": "a-1", "parts": [{"kind": "data", "data": {"rows": 3}}]},
            {"artifact_id": "a-2", "parts": [{"kind": "text", "text": "done"}]},
        ],
    )
    reply = LEGACY.reply(task.model_dump(mode="json", by_alias=True, exclude_none=True))
    assert (reply.kind, reply.state) == ("task", "completed")
    assert reply.output() == {"rows": 3, "text": "done"}
    cancelled = v03.Task(id="t-2", context_id="c", status=v03.TaskStatus(state="canceled"))
    assert LEGACY.reply(cancelled.model_dump(mode="json", by_alias=True)).state == "canceled"


def test_the_card_decides_the_protocol():
    card = v10.AgentCard(name="A", description="d", version="1")
    card.supported_interfaces.add(
        url="http://a/v03", protocol_binding="JSONRPC", protocol_version="0.3"
    )
    card.supported_interfaces.add(
        url="http://a/v1", protocol_binding="JSONRPC", protocol_version="1.0"
    )
    assert dialect_from_card(MessageToDict(card), "http://a") == Dialect("1.0", "http://a/v1")
    grpc_only = v10.AgentCard(name="A", description="d", version="1")
    grpc_only.supported_interfaces.add(url="a:1", protocol_binding="GRPC", protocol_version="1.0")
    grpc_only.supported_interfaces.add(
        url="http://a/j", protocol_binding="JSONRPC", protocol_version="0.3"
    )
    assert dialect_from_card(MessageToDict(grpc_only), "http://a") == Dialect("0.3", "http://a/j")
    legacy = v03.AgentCard(
        name="A",
        description="d",
        url="http://a/rpc",
        version="1",
        protocol_version="0.3.0",
        capabilities={},
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[],
    )
    legacy_json = legacy.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert dialect_from_card(legacy_json, "http://a") == Dialect("0.3", "http://a/rpc")
    assert dialect_from_card(None, "http://a") == Dialect("0.3", "http://a")


@pytest.mark.parametrize(
    ("parts", "output"),
    [
        ([{"kind": "data", "data": {"data": {"x": 1}}}], {"data": {"x": 1}}),
        ([{"kind": "text", "text": "hi"}], {"text": "hi"}),
        ([{"kind": "text", "text": '{"a": 1}'}], {"a": 1}),
        ([{"kind": "text", "text": "[1]"}], {"text": "[1]"}),
        (
            [
                {"kind": "data", "data": {"a": 1, "b": 1}},
                {"kind": "data", "data": {"b": 2}},
                {"kind": "text", "text": "one"},
                {"kind": "text", "text": "two"},
                {"kind": "data", "data": [1, 2]},
            ],
            {"a": 1, "b": 2, "text": "one\ntwo", "data": [[1, 2]]},
        ),
        ([], {}),
    ],
    ids=["one-data", "one-text", "json-text", "json-array-text", "several", "none"],
)
def test_the_documented_output_rules(parts, output):
    assert parts_output(parts) == output


def test_retry_delays_follow_seed_002():
    retry = {"initial_delay_ms": 1000, "backoff_multiplier": 2.0, "max_delay_ms": 30000}
    assert [retry_delay(retry, n) for n in (1, 2, 3, 4, 5, 6)] == [1, 2, 4, 8, 16, 30]
    assert retry_delay({}, 1) == 1.0  # seed 002's defaults
