"""The A2A wire formats Harmonia speaks as a client: protocol 0.3 and protocol 1.0 (JSON-RPC).

What differs, 0.3 → 1.0:
- card: ``url`` + ``protocolVersion: "0.3.x"`` → ``supportedInterfaces[]`` entries with ``url``,
  ``protocolBinding: "JSONRPC"`` and ``protocolVersion: "1.0"``;
- methods: ``message/send``, ``tasks/get``, ``tasks/cancel`` → ``SendMessage``, ``GetTask``,
  ``CancelTask``, with the header ``A2A-Version: 1.0``;
- parts: ``{"kind": "data", "data": {...}}`` → ``{"data": {...}}`` (and ``{"text": "..."}``);
- role and state: ``"user"``, ``"completed"`` → ``"ROLE_USER"``, ``"TASK_STATE_COMPLETED"``;
- send result: a Task or a Message (told apart by ``kind``) → ``{"task": ...}`` or
  ``{"message": ...}``;
- not blocking: ``configuration.blocking: false`` → ``configuration.returnImmediately: true``.

Everything the agent answers is normalised into one ``Reply`` (short lowercase states, parts as
``{"kind": "data"|"text", ...}``), so the calling code never branches on the version. The shapes
of 1.0 follow its protobuf JSON mapping (camelCase), as the ``a2a-sdk`` package produces them.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

CARD_PATHS = ("/.well-known/agent-card.json", "/.well-known/agent.json")
FINAL_OK = frozenset({"completed"})
FINAL_BAD = frozenset({"failed", "rejected", "canceled"})
NEEDS_INPUT = frozenset({"input-required", "auth-required"})


@dataclass(frozen=True)
class Dialect:
    version: str  # "0.3" or "1.0"
    url: str  # where JSON-RPC requests go

    @property
    def modern(self) -> bool:
        return self.version.startswith("1")

    @property
    def headers(self) -> dict[str, str]:
        return {"A2A-Version": "1.0"} if self.modern else {}

    def method(self, name: str) -> str:
        """``send``, ``get`` or ``cancel`` in this version's spelling."""
        if self.modern:
            return {"send": "SendMessage", "get": "GetTask", "cancel": "CancelTask"}[name]
        return {"send": "message/send", "get": "tasks/get", "cancel": "tasks/cancel"}[name]

    def send_params(self, value: Any) -> dict[str, Any]:
        """The step's input as one message: an object as a data part, anything else as text."""
        if self.modern:
            part = {"data": value} if isinstance(value, dict) else {"text": _as_text(value)}
            message = {"messageId": str(uuid.uuid4()), "role": "ROLE_USER", "parts": [part]}
            return {"message": message, "configuration": {"returnImmediately": True}}
        part = (
            {"kind": "data", "data": value}
            if isinstance(value, dict)
            else {"kind": "text", "text": _as_text(value)}
        )
        message = {
            "kind": "message",
            "messageId": str(uuid.uuid4()),
            "role": "user",
            "parts": [part],
        }
        return {"message": message, "configuration": {"blocking": False}}

    def task_params(self, task_id: str) -> dict[str, Any]:
        return {"id": task_id}

    def reply(self, result: Any) -> Reply:
        """Normalise a send/get/cancel result (a Task or a Message, either version)."""
        if not isinstance(result, dict):
            return Reply(kind="message", parts=[_text_part(_as_text(result))])
        if self.modern and ("task" in result or "message" in result):
            return _task(result["task"]) if "task" in result else _message(result["message"])
        if result.get("kind") == "message" or ("parts" in result and "status" not in result):
            return _message(result)
        return _task(result)


@dataclass
class Reply:
    kind: str  # "task" or "message"
    task_id: str | None = None
    state: str | None = None  # short, lowercase: "working", "completed", "input-required"...
    parts: list[dict[str, Any]] = field(default_factory=list)
    status_text: str = ""

    @property
    def finished(self) -> bool:
        return self.kind == "message" or self.state in FINAL_OK | FINAL_BAD | NEEDS_INPUT

    def output(self) -> Any:
        return parts_output(self.parts)


def dialect_from_card(card: Any, base_url: str) -> Dialect:
    """The best JSON-RPC interface a card offers: 1.0 when it has one, else 0.3."""
    if not isinstance(card, dict):
        return Dialect("0.3", base_url)
    interfaces = card.get("supportedInterfaces") or card.get("supported_interfaces") or []
    jsonrpc = [
        i
        for i in interfaces
        if isinstance(i, dict)
        and str(i.get("protocolBinding") or i.get("transport") or "JSONRPC").upper() == "JSONRPC"
    ]
    for interface in jsonrpc:
        version = str(interface.get("protocolVersion") or "")
        if version.startswith("1") and interface.get("url"):
            return Dialect("1.0", interface["url"])
    for interface in jsonrpc:
        if str(interface.get("protocolVersion") or "").startswith("0.") and interface.get("url"):
            return Dialect("0.3", interface["url"])
    version = str(card.get("protocolVersion") or "0.3")
    return Dialect("1.0" if version.startswith("1") else "0.3", card.get("url") or base_url)


def _short_state(state: Any) -> str | None:
    if not state:
        return None
    text = str(state).lower()
    if text.startswith("task_state_"):
        text = text[len("task_state_") :]
    text = text.replace("_", "-")
    return "canceled" if text == "cancelled" else text


def _task(task: dict[str, Any]) -> Reply:
    status = task.get("status") or {}
    message = status.get("message") or {}
    parts: list[dict[str, Any]] = []
    for artifact in task.get("artifacts") or []:
        parts.extend(_parts((artifact or {}).get("parts")))
    status_parts = _parts(message.get("parts"))
    return Reply(
        kind="task",
        task_id=task.get("id"),
        state=_short_state(status.get("state")),
        parts=parts or status_parts,
        status_text=" ".join(p["text"] for p in status_parts if p["kind"] == "text").strip(),
    )


def _message(message: dict[str, Any]) -> Reply:
    return Reply(kind="message", parts=_parts(message.get("parts")))


def _parts(raw: Any) -> list[dict[str, Any]]:
    """Parts of either version as ``{"kind": "data", "data": ...}`` / ``{"kind": "text", ...}``."""
    parts: list[dict[str, Any]] = []
    for part in raw or []:
        if not isinstance(part, dict):
            continue
        kind = part.get("kind")
        if kind == "data" or (kind is None and "data" in part):
            parts.append({"kind": "data", "data": part.get("data")})
        elif kind == "text" or (kind is None and "text" in part):
            parts.append(_text_part(str(part.get("text", ""))))
    return parts


def _text_part(text: str) -> dict[str, Any]:
    return {"kind": "text", "text": text}


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def parts_output(parts: list[dict[str, Any]]) -> Any:
    """The step output of an agent's answer.

    - one data part whose value is an object: that object, as-is;
    - one text part: ``{"text": ...}``, or the parsed object when the text is a JSON object;
    - several parts (from the answer message or every artifact, in order): data objects are
      merged key by key (a later part wins a key), texts are joined with newlines into
      ``"text"``; a data part that is not an object is kept in a ``"data"`` list.
    """
    if len(parts) == 1 and parts[0]["kind"] == "text":
        text = parts[0]["text"]
        try:
            parsed = json.loads(text)
        except ValueError:
            return {"text": text}
        return parsed if isinstance(parsed, dict) else {"text": text}
    merged: dict[str, Any] = {}
    texts: list[str] = []
    others: list[Any] = []
    for part in parts:
        if part["kind"] == "text":
            texts.append(part["text"])
        elif isinstance(part["data"], dict):
            merged.update(part["data"])
        else:
            others.append(part["data"])
    if texts:
        merged.setdefault("text", "\n".join(texts))
    if others:
        merged.setdefault("data", others)
    return merged
