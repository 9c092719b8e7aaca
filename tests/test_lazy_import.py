"""Hosting an agent never imports the ACP SDK; its typed models still come on first use.

The SDK (``import acp``) costs ~40 MB and ~0.5 s, so the hot path reads the agent's JSON
with acphost's own checks (:mod:`acphost.acp.shapes`). Those are compared here with the SDK
itself, on valid payloads and on many seeded mutations of them: both accept (with the same
dump) or both reject.
"""

from __future__ import annotations

import asyncio
import copy
import importlib.metadata
import json
import random
import re
import subprocess
import sys
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from acp import schema
from pydantic import BaseModel, ValidationError

from acphost.acp import shapes
from acphost.acp.client import AgentConnection
from acphost.acp.fs import Workspace
from acphost.acp.handlers import ClientHandlers
from acphost.acp.jsonrpc import INVALID_PARAMS, IncomingRequest, JsonRpcConnection
from acphost.acp.messages import UPDATE_KINDS, PromptAnswer, SessionAnswer, SessionUpdate
from acphost.acp.permissions import Decision, PermissionRequest
from acphost.errors import ProtocolError

# acphost works with SDK 0.12 and 1.0 (scripts/test.sh runs these tests with each).
SDK_1 = int(importlib.metadata.version("agent-client-protocol").split(".")[0]) >= 1
# Updates newer than SDK 0.12: acphost reads them with its own checks and keeps them raw with
# either SDK, so that what a host sees does not depend on the SDK installed.
NEWER_UPDATES = {"notice", "compaction_update", "compaction_summary_chunk"}

# --- a whole conversation, in a fresh interpreter -----------------------------------------

_SETUP = """
import json, os, sys
from acphost import Conversation
from acphost.testing import Scenario, fake_agent_command

root = sys.argv[1]
ws = os.path.join(root, "ws")
os.makedirs(ws)
with open(os.path.join(ws, "notes.txt"), "w") as f:
    f.write("hello\\n")
scenario = (
    Scenario("lazy")
    .turn()
    .text("hi there")
    .tool_call("t1", title="Edit notes", kind="edit", status="pending")
    .permission("t1", title="Edit notes", expect="allowed")
    .read_file("notes.txt")
    .write_file("out.txt", "done")
    .terminal("echo", ["from-terminal"])
    .tool_update("t1", status="completed")
    .stop(usage={"totalTokens": 3, "inputTokens": 2, "outputTokens": 1})
)
command = fake_agent_command(scenario, directory=root)
events = []
"""

_HOT_PATH = (
    _SETUP
    + """
with Conversation(
    command, ws, store=os.path.join(root, "s.db"), permission="allow", callbacks=[events.append]
) as conversation:
    conversation.run("go")
    conversation.run("again")
out = {
    "acp_loaded": sorted(m for m in sys.modules if m == "acp" or m.startswith("acp.")),
    "events": [e.model_dump(mode="json") for e in events],
    "written": open(os.path.join(ws, "out.txt")).read(),
}
print(json.dumps(out))
"""
)

_TYPED_ON_DEMAND = (
    _SETUP
    + """
seen = {}

def decide(request):
    seen["before"] = "acp" in sys.modules
    seen["title"] = request.title
    tool_call, options = request.tool_call, request.options
    from acp import schema

    seen["tool_call"] = isinstance(tool_call, schema.ToolCallUpdate) and tool_call.tool_call_id
    seen["options"] = all(isinstance(o, schema.PermissionOption) for o in options)
    seen["option_for"] = isinstance(request.option_for("allow_once"), schema.PermissionOption)
    return "allow_once"

with Conversation(command, ws, store=":memory:", permission=decide) as conversation:
    conversation.run("go")

from acphost.acp.messages import SessionUpdate
from acp import schema

chunk = {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "x"}}
seen["update"] = isinstance(SessionUpdate("s", chunk).update, schema.AgentMessageChunk)
print(json.dumps(seen))
"""
)


def _run(code: str, tmp_path: Path) -> Any:
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_conversation_never_imports_the_sdk(tmp_path: Path) -> None:
    out = _run(_HOT_PATH, tmp_path)
    assert out["acp_loaded"] == []
    events = out["events"]
    kinds = [e["kind"] for e in events]
    for kind in ("session_started", "agent_message", "tool_call", "terminal", "turn_ended"):
        assert kind in kinds, kinds
    session = next(e for e in events if e["kind"] == "session_started")
    assert session["agent_info"]["name"]  # read from initialize without the SDK
    asked = [e for e in events if e["kind"] == "permission_requested"]
    decided = [e for e in events if e["kind"] == "permission_decided"]
    assert len(asked) == len(decided) == 2
    assert asked[0]["tool_call_id"] == "t1"
    assert asked[0]["title"] == "Edit notes"
    assert asked[0]["tool_call"]["toolCallId"] == "t1"
    assert {o["kind"] for o in asked[0]["options"]} >= {"allow_once", "reject_once"}
    allow = next(o for o in asked[0]["options"] if o["kind"] == "allow_once")
    assert (decided[0]["decision"], decided[0]["option_id"]) == ("allow_once", allow["optionId"])
    ended = [e for e in events if e["kind"] == "turn_ended"]
    assert [e["stop_reason"] for e in ended] == ["end_turn", "end_turn"]
    assert ended[0]["usage"]["input_tokens"] == 2
    assert out["written"] == "done"


def test_the_typed_surface_still_works_on_first_use(tmp_path: Path) -> None:
    seen = _run(_TYPED_ON_DEMAND, tmp_path)
    assert seen == {
        "before": False,
        "title": "Edit notes",
        "tool_call": "t1",
        "options": True,
        "option_for": True,
        "update": True,
    }


# --- the readers reject malformed payloads with a typed error ----------------------------

MALFORMED_ANSWERS = [
    ("session/new", None),
    ("session/new", []),
    ("session/new", "s1"),
    ("session/new", {"sessionId": 7}),
    ("session/new", {"sessionId": None}),
    ("session/new", {"sessionId": "s", "configOptions": {"id": "x"}}),
    ("session/load", [1]),
    ("session/resume", {"configOptions": "none"}),
    ("session/set_config_option", {}),
    ("session/set_config_option", {"configOptions": None}),
]


@pytest.mark.parametrize(("method", "answer"), MALFORMED_ANSWERS)
def test_a_malformed_session_answer_is_a_protocol_error(method: str, answer: Any) -> None:
    with pytest.raises(ProtocolError, match=f"malformed {method} answer"):
        SessionAnswer.read(method, answer)


@pytest.mark.parametrize(
    "answer",
    [None, {}, [], "end_turn", {"stopReason": "done"}, {"stopReason": 1}, {"usage": {}}],
)
def test_a_malformed_prompt_answer_is_a_protocol_error(answer: Any) -> None:
    with pytest.raises(ProtocolError, match="malformed session/prompt answer"):
        PromptAnswer.read(answer)


def test_the_error_says_where() -> None:
    answer: dict[str, Any] = {"sessionId": "s", "configOptions": [], "modes": None}
    assert SessionAnswer.read("session/new", answer).session_id == "s"
    with pytest.raises(ProtocolError) as caught:
        PermissionRequest.from_params(
            {"sessionId": "s", "toolCall": {"toolCallId": "t"}, "options": [{"optionId": "a"}]}
        )
    assert "options.0.name: missing" in caught.value.message


MALFORMED_PERMISSIONS: list[Any] = [
    None,
    [],
    {},
    {"sessionId": "s", "options": []},
    {"sessionId": "s", "toolCall": {}, "options": []},
    {"sessionId": "s", "toolCall": {"toolCallId": 1}, "options": []},
    {"sessionId": "s", "toolCall": {"toolCallId": "t", "content": "x"}, "options": []},
    {"sessionId": "s", "toolCall": {"toolCallId": "t"}, "options": None},
    {"sessionId": "s", "toolCall": {"toolCallId": "t"}, "options": [1]},
    {
        "sessionId": "s",
        "toolCall": {"toolCallId": "t"},
        "options": [{"optionId": "a", "name": "A", "kind": "maybe"}],
    },
]


@pytest.mark.parametrize("params", MALFORMED_PERMISSIONS)
def test_a_malformed_permission_request_is_a_protocol_error(params: Any) -> None:
    with pytest.raises(ProtocolError, match="malformed permission request"):
        PermissionRequest.from_params(params)


@pytest.mark.parametrize("params", MALFORMED_PERMISSIONS[:4])
def test_a_malformed_permission_request_is_answered_invalid_params(
    params: Any, tmp_path: Path
) -> None:
    written: list[dict[str, Any]] = []
    conn = JsonRpcConnection(
        lambda data: written.append(orjson.loads(data)),
        on_notification=lambda method, params: None,
        on_request=lambda request: None,
        on_protocol_error=lambda error: None,
    )
    handlers = ClientHandlers(Workspace(tmp_path), permission="allow")
    handlers.handle(IncomingRequest(conn, 5, "session/request_permission", params))
    assert written[0]["id"] == 5
    assert written[0]["error"]["code"] == INVALID_PARAMS
    assert "malformed permission request" in written[0]["error"]["message"]


def test_a_request_made_in_python_takes_models_or_json() -> None:
    tool_call = schema.ToolCallUpdate(tool_call_id="t", title="Run", kind="execute")
    option = schema.PermissionOption(option_id="ok", name="OK", kind="allow_always")
    typed = PermissionRequest("s", tool_call, [option])
    assert typed.tool_call is tool_call
    assert typed.options[0] is option
    assert (typed.tool_call_id, typed.title, typed.raw) == ("t", "Run", {})
    assert typed.option_for("allow_once") is option  # falls back to allow_always
    assert typed.option_id_for("reject_once") is None
    plain = PermissionRequest(
        "s", {"toolCallId": "t"}, [{"optionId": "ok", "name": "OK", "kind": "reject_once"}]
    )
    assert (plain.title, plain.option_id_for("reject_always")) == ("t", "ok")
    malformed: list[tuple[Any, list[Any]]] = [({"toolCallId": "t"}, [None]), (None, []), ([], [])]
    for tool_call_json, options in malformed:
        with pytest.raises(ProtocolError):
            PermissionRequest("s", tool_call_json, options)


def _connection(tmp_path: Path, answer: Any) -> AgentConnection:
    connection = AgentConnection(ClientHandlers(Workspace(tmp_path)), lambda message: None)

    async def reply(method: str, params: Any = None, **options: Any) -> Any:
        return answer

    connection.call = reply  # type: ignore[method-assign]
    connection.rpc.request = reply  # type: ignore[method-assign]
    return connection


@pytest.mark.parametrize(
    "answer",
    [
        None,
        [],
        {},
        {"protocolVersion": "1"},
        {"protocolVersion": -1},
        {"protocolVersion": 70000},
        {"protocolVersion": 1, "authMethods": "none"},
    ],
)
def test_a_malformed_initialize_answer_is_a_protocol_error(answer: Any, tmp_path: Path) -> None:
    connection = _connection(tmp_path, answer)
    with pytest.raises(ProtocolError, match="malformed initialize answer"):
        asyncio.run(connection.initialize_raw())
    assert connection.init_json is None
    assert connection.init is None


def test_the_connection_reads_and_types_lazily(tmp_path: Path) -> None:
    init = {
        "protocolVersion": 1,
        "agentCapabilities": {"loadSession": True, "sessionCapabilities": {"resume": {}}},
        "agentInfo": {"name": "a", "version": "1", "title": 5, "extra": True},
    }
    connection = _connection(tmp_path, init)
    assert asyncio.run(connection.initialize_raw()) is init
    assert connection.supports("loadSession")
    assert connection.supports("sessionCapabilities.resume")
    assert not connection.supports("sessionCapabilities.close")
    assert not connection.supports("mcpCapabilities.http")
    assert connection.agent_info == {"name": "a", "version": "1"}
    assert isinstance(connection.init, schema.InitializeResponse)
    assert connection.capabilities.load_session is True

    connection = _connection(tmp_path, {"stopReason": "max_tokens", "_meta": {"k": None}})
    answer = asyncio.run(connection.prompt_raw("s", "hi"))
    assert (answer.stop_reason, answer.usage, answer.meta) == ("max_tokens", None, {"k": None})
    typed = asyncio.run(connection.prompt("s", "hi"))
    assert isinstance(typed, schema.PromptResponse)
    assert typed.stop_reason == "max_tokens"


def _kind_of(model: type[BaseModel]) -> str:
    kind: str = typing.get_args(model.model_fields["session_update"].annotation)[0]
    return kind


def test_sdk_constants_match() -> None:
    import acp.meta

    from acphost.acp import client, messages

    assert acp.meta.PROTOCOL_VERSION == client.PROTOCOL_VERSION
    models = set(typing.get_args(messages.KnownUpdate))
    sdk_models = typing.get_args(schema.SessionNotification.model_fields["update"].annotation)
    newer = {m for m in sdk_models if _kind_of(m) in NEWER_UPDATES}
    assert bool(newer) == SDK_1
    assert models == set(sdk_models) - newer  # every other update the SDK knows, typed
    kinds = {_kind_of(m) for m in models}
    assert kinds == UPDATE_KINDS
    assert schema.McpServerStdio in typing.get_args(client.McpServer)
    update = SessionUpdate("s", {"sessionUpdate": "plan", "entries": "bad"}).update
    assert getattr(update, "error", None)  # invalid: a RawUpdate with the reason


# --- the readers agree with the SDK ------------------------------------------------------

_SELECT = {
    "type": "select",
    "id": "model",
    "name": "Model",
    "description": "which model",
    "category": "model",
    "currentValue": "small",
    "options": [{"value": "small", "name": "Small", "description": "fast"}, {"value": "large"}],
    "_meta": {"x": 1},
    "extra": "dropped",
}
_GROUPED = {
    "type": "select",
    "id": "effort",
    "name": "Effort",
    "category": {"custom": True},
    "currentValue": "low",
    "options": [{"group": "g", "name": "G", "options": [{"value": "low", "name": "Low"}]}],
}
_BOOLEAN = {"type": "boolean", "id": "fast", "name": "Fast", "currentValue": False}
_MODES = {
    "currentModeId": "ask",
    "availableModes": [
        {"id": "ask", "name": "Ask", "description": None},
        {"id": "code", "name": "Code", "description": "writes code", "_meta": {}},
    ],
}
_OPTIONS: list[dict[str, Any]] = [
    {"optionId": "yes", "name": "Yes", "kind": "allow_once", "_meta": {"a": None}},
    {"optionId": "always", "name": "Always", "kind": "allow_always"},
    {"optionId": "no", "name": "No", "kind": "reject_once", "extra": 1},
]

CASES: list[tuple[str, Callable[[Any], Any], type[BaseModel], dict[str, Any]]] = [
    (
        "new",
        shapes.NEW_SESSION,
        schema.NewSessionResponse,
        {"sessionId": "s1", "modes": _MODES, "configOptions": [_SELECT, _GROUPED, _BOOLEAN]},
    ),
    ("load", shapes.SESSION, schema.LoadSessionResponse, {"modes": _MODES, "_meta": {"m": 1}}),
    (
        "resume",
        shapes.SESSION,
        schema.ResumeSessionResponse,
        {"configOptions": [_BOOLEAN, _GROUPED]},
    ),
    (
        "config",
        shapes.SET_CONFIG_OPTION,
        schema.SetSessionConfigOptionResponse,
        {"configOptions": [_SELECT, _BOOLEAN]},
    ),
    (
        "prompt",
        shapes.PROMPT,
        schema.PromptResponse,
        {
            "stopReason": "end_turn",
            "usage": {
                "totalTokens": 9,
                "inputTokens": 5,
                "outputTokens": 4,
                "thoughtTokens": 1,
                "cachedReadTokens": 2,
                "cachedWriteTokens": 0,
            },
            "_meta": {"trace": "x"},
        },
    ),
    ("option", shapes.PERMISSION_OPTION, schema.PermissionOption, _OPTIONS[0]),
    ("info", shapes.IMPLEMENTATION, schema.Implementation, {"name": "a", "version": "1"}),
]

_WRONG = [None, -1, 2.5, "x", [], {}, [1], {"k": "v"}]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        yield (*prefix, key)
        if isinstance(item, dict | list):
            yield from _paths(item, (*prefix, key))


def _mutations(payload: dict[str, Any], seed: int, count: int) -> Iterator[Any]:
    rng = random.Random(seed)
    paths = list(_paths(payload))
    yield payload
    yield from _WRONG
    for _ in range(count):
        mutated = copy.deepcopy(payload)
        for _ in range(rng.choice((1, 1, 2))):
            path = rng.choice(paths)
            parent = mutated
            try:
                for key in path[:-1]:
                    parent = parent[key]
                if isinstance(parent, dict) and rng.random() < 0.3:
                    parent.pop(path[-1], None)
                else:
                    parent[path[-1]] = copy.deepcopy(rng.choice(_WRONG))
            except (KeyError, IndexError, TypeError):
                continue  # an earlier mutation removed this path
        yield mutated


def _sdk(model: type[BaseModel], payload: Any) -> Any:
    try:
        return model.model_validate(payload).model_dump(
            by_alias=True, exclude_none=True, mode="json"
        )
    except ValidationError:
        return "rejected"


_SDK_CATEGORIES = ("mode", "model", "model_config", "thought_level")


def _as_sdk_0_12(value: Any) -> Any:
    """The one deliberate difference: a config option category the SDK 0.12 does not know
    (``speed``, ``_vendor``) is kept as sent (the schema admits any string); it drops it."""
    if isinstance(value, list):
        return [_as_sdk_0_12(item) for item in value]
    if not isinstance(value, dict):
        return value
    category = value.get("category")
    return {
        key: _as_sdk_0_12(item)
        for key, item in value.items()
        if not (key == "category" and isinstance(category, str) and category not in _SDK_CATEGORIES)
    }


def _ours(check: Callable[[Any], Any], payload: Any) -> Any:
    try:
        return check(_as_sdk_1(payload)) if SDK_1 else _as_sdk_0_12(check(payload))
    except shapes.Malformed:
        return "rejected"


def _as_sdk_1(value: Any) -> Any:
    """The deliberate difference from SDK 1.0: a config option whose category is not a string
    (an object is the older schema's form, which SDK 0.12 accepts) is kept, its category
    dropped if invalid, as SDK 0.12 does; SDK 1.0 drops the whole option."""
    if isinstance(value, dict):
        return {key: _as_sdk_1(item) for key, item in value.items()}
    if not isinstance(value, list):
        return value
    return [_as_sdk_1(item) for item in value if not _odd_category(item)]


def _odd_category(item: Any) -> bool:
    category = item.get("category") if isinstance(item, dict) else None
    return category is not None and not isinstance(category, str)


@pytest.mark.parametrize(("name", "check", "model", "payload"), CASES, ids=[c[0] for c in CASES])
def test_the_readers_agree_with_the_sdk(
    name: str, check: Callable[[Any], Any], model: type[BaseModel], payload: dict[str, Any]
) -> None:
    outcomes = set()
    for mutated in _mutations(payload, seed=len(name), count=400):
        expected = _sdk(model, mutated)
        assert _ours(check, mutated) == expected, mutated
        outcomes.add(expected == "rejected")
    assert outcomes == {True, False}  # the mutations hit both sides


def test_permission_requests_agree_with_the_sdk() -> None:
    payload = {
        "sessionId": "s",
        "toolCall": {
            "toolCallId": "t1",
            "title": "Edit a file",
            "kind": "edit",
            "status": "pending",
            "content": [{"type": "content", "content": {"type": "text", "text": "x"}}],
            "locations": [{"path": "/a", "line": 3}],
            "rawInput": {"path": "/a"},
        },
        "options": _OPTIONS,
    }
    outcomes = set()
    for mutated in _mutations(payload, seed=7, count=600):
        try:
            typed = schema.RequestPermissionRequest.model_validate(mutated)
        except ValidationError:
            with pytest.raises(ProtocolError):
                PermissionRequest.from_params(mutated)
            outcomes.add("rejected")
            continue
        ours = PermissionRequest.from_params(mutated)
        assert ours.tool_call_id == typed.tool_call.tool_call_id
        assert ours.title == (typed.tool_call.title or typed.tool_call.tool_call_id)
        dumped = [o.model_dump(by_alias=True, exclude_none=True) for o in typed.options]
        assert ours.option_data == dumped
        assert ours.tool_call == typed.tool_call
        assert ours.options == typed.options
        decisions: list[Decision] = ["allow_once", "allow_always", "reject_once", "reject_always"]
        for decision in decisions:
            option = ours.option_for(decision)
            assert ours.option_id_for(decision) == (option.option_id if option else None)
        outcomes.add("accepted")
    assert outcomes == {"accepted", "rejected"}


def _sdk_supports(caps: Any, path: str) -> bool:
    # the SDK salvages a malformed capability object to a plain dict of defaults
    for key in path.split("."):
        name = re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()
        caps = caps.get(key) if isinstance(caps, dict) else getattr(caps, name, None)
    return caps is not None and caps is not False


def test_capabilities_agree_with_the_sdk(tmp_path: Path) -> None:
    payload = {
        "protocolVersion": 1,
        "agentCapabilities": {
            "loadSession": True,
            "promptCapabilities": {"image": True, "embeddedContext": True},
            "mcpCapabilities": {"http": True, "sse": False},
            "sessionCapabilities": {"resume": {}, "list": {"_meta": {}}, "close": {}},
        },
        "authMethods": [{"id": "login", "name": "Log in"}],
        "agentInfo": {"name": "agent", "title": "Agent", "version": "2"},
    }
    connection = AgentConnection(ClientHandlers(Workspace(tmp_path)), lambda message: None)
    paths = [
        "loadSession",
        "promptCapabilities.image",
        "mcpCapabilities.http",
        "mcpCapabilities.sse",
        "sessionCapabilities.resume",
        "sessionCapabilities.list",
        "sessionCapabilities.close",
    ]
    accepted = 0
    for mutated in _mutations(payload, seed=3, count=600):
        try:
            typed = schema.InitializeResponse.model_validate(mutated)
        except ValidationError:
            with pytest.raises(ProtocolError):
                shapes.read_json("initialize answer", shapes.INITIALIZE, mutated)
            continue
        shapes.read_json("initialize answer", shapes.INITIALIZE, mutated)
        accepted += 1
        connection.init_json, connection._init = mutated, None
        info = typed.agent_info
        dumped = info.model_dump(by_alias=True, exclude_none=True) if info else None
        assert connection.agent_info == dumped, mutated
        for path in paths:
            expected = _sdk_supports(typed.agent_capabilities, path)
            assert connection.supports(path) == expected, (path, mutated)
    assert accepted > 100
