"""fast-agent, a real third-party ACP agent, driven through acphost's protocol layer.

fast-agent runs with its scripted ``passthrough`` model (no network, no model server): a prompt
``***CALL_TOOL <tool> <json>`` makes it call that tool. It asks permission for every tool call,
then reads and writes files with our ``fs/*`` methods and runs commands in our ``terminal/*``,
so these tests check acphost's client side against an agent nobody here wrote.

Observed with fast-agent-mcp 0.10.46:

- ``read_text_file`` takes ``{"path", "line"?, "limit"?}``; ``write_text_file`` takes
  ``{"path", "content"}`` (its ``rawInput`` shows ``content_length`` instead of the content,
  and a ``diff`` content item carries the new text); ``execute`` takes ``{"command"}`` and
  sends ``terminal/create`` with ``/bin/sh -lc <command>``.
- Relative paths are sent as given (we resolve them against the workspace root).
- ``write_text_file``, once allowed, first reads the file with ``fs/read_text_file`` (for the
  diff; a missing file is fine) and then writes it with ``fs/write_text_file``.
- ``execute`` asks permission for the synthetic tool call id ``"pending"`` *before* it
  announces the real tool call.
- A refused or failed tool ends as a ``failed`` tool_call_update carrying the error text, and
  the turn still ends with ``end_turn``.

Install the agent with ``bash scripts/install-agents.sh`` (or point ``ACPHOST_FAST_AGENT`` at a
``fast-agent`` executable); without it these tests skip with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from acp import schema

from acphost.acp.client import AgentConnection
from acphost.acp.fs import Workspace
from acphost.acp.handlers import ClientHandlers
from acphost.acp.jsonrpc import IncomingRequest
from acphost.acp.messages import (
    AgentExitMessage,
    AgentMessage,
    ProtocolErrorMessage,
    RawUpdate,
    SessionUpdate,
)
from acphost.acp.permissions import Decision, PermissionRequest
from agents import AgentUnavailable, FastAgent, find_fast_agent, require

pytestmark = pytest.mark.real_agent

START_TIMEOUT = 60.0
TURN_TIMEOUT = 60.0
CLOSE_TIMEOUT = 30.0


@pytest.fixture
def fast_agent() -> FastAgent:
    try:
        return find_fast_agent()
    except AgentUnavailable as exc:
        require("fast-agent", exc)
        raise  # not reached: require() skips or fails


class RecordingHandlers(ClientHandlers):
    """Our real client handlers, remembering every request the agent made."""

    def __init__(self, workspace: Workspace, **kwargs: Any) -> None:
        super().__init__(workspace, **kwargs)
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def handle(self, request: IncomingRequest) -> None:
        params = request.params if isinstance(request.params, dict) else {}
        self.requests.append((request.method, dict(params)))
        super().handle(request)

    def params_of(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.requests if name == method]


@dataclass
class Harness:
    conn: AgentConnection
    handlers: RecordingHandlers
    session_id: str
    workspace: Path
    init: schema.InitializeResponse
    messages: list[AgentMessage]
    arrived: asyncio.Event
    permissions: list[PermissionRequest] = field(default_factory=list)

    async def turn(self, prompt: str) -> tuple[schema.PromptResponse, list[SessionUpdate]]:
        """Run one turn; return its response and the updates that arrived during it."""
        start = len(self.messages)
        response = await asyncio.wait_for(self.conn.prompt(self.session_id, prompt), TURN_TIMEOUT)
        return response, updates(self.messages[start:])

    async def first_update(self, kind: str, timeout: float = 10.0) -> SessionUpdate:
        """The first update of ``kind``, waiting (bounded) for it to arrive."""
        async with asyncio.timeout(timeout):
            while not (found := of_kind(updates(self.messages), kind)):
                self.arrived.clear()
                await self.arrived.wait()
        return found[0]


def call_tool(tool: str, **arguments: Any) -> str:
    return f"***CALL_TOOL {tool} {json.dumps(arguments)}"


def updates(messages: list[AgentMessage]) -> list[SessionUpdate]:
    return [m for m in messages if isinstance(m, SessionUpdate)]


def of_kind(items: list[SessionUpdate], *kinds: str) -> list[SessionUpdate]:
    return [u for u in items if u.kind in kinds]


def texts(data: Mapping[str, Any]) -> str:
    """The text of an update: a message chunk's content, or a tool call's text content."""
    content = data.get("content")
    if isinstance(content, dict):
        return str(content.get("text", ""))
    parts: list[str] = []
    for item in content or ():
        inner = item.get("content") if isinstance(item, dict) else None
        if isinstance(inner, dict) and inner.get("type") == "text":
            parts.append(str(inner.get("text", "")))
    return "".join(parts)


def agent_text(items: list[SessionUpdate]) -> str:
    return "".join(texts(u.data) for u in of_kind(items, "agent_message_chunk"))


def final_tool_update(items: list[SessionUpdate]) -> SessionUpdate:
    """The one tool call of a turn, in its last reported status."""
    calls = {u.data["toolCallId"] for u in of_kind(items, "tool_call")}
    assert len(calls) == 1, f"expected one tool call, got {calls}: {items}"
    with_status = [u for u in of_kind(items, "tool_call", "tool_call_update") if "status" in u.data]
    last = with_status[-1]
    assert last.data["toolCallId"] in calls
    return last


@contextlib.asynccontextmanager
async def running(
    agent: FastAgent,
    tmp_path: Path,
    workspace: Path,
    *,
    policy: Decision = "allow_once",
    model: str = "passthrough",
    terminal_env: Mapping[str, str] | None = None,
) -> AsyncIterator[Harness]:
    """fast-agent started, initialized, with one new session in ``workspace``."""
    user_home = tmp_path / "home"
    agent_home = tmp_path / "fast-agent-home"
    user_home.mkdir()
    agent_home.mkdir()
    messages: list[AgentMessage] = []
    arrived = asyncio.Event()
    permissions: list[PermissionRequest] = []

    def on_message(message: AgentMessage) -> None:
        messages.append(message)
        arrived.set()

    def decide(request: PermissionRequest) -> Decision:
        permissions.append(request)
        return policy

    handlers = RecordingHandlers(Workspace(workspace), permission=decide, terminal_env=terminal_env)
    conn = await asyncio.wait_for(
        AgentConnection.start(
            agent.command(agent_home, model=model),
            handlers=handlers,
            on_message=on_message,
            cwd=workspace,
            env=agent.env(user_home),
        ),
        START_TIMEOUT,
    )
    try:
        try:
            init = await asyncio.wait_for(conn.initialize(timeout=None), START_TIMEOUT)
            session = await asyncio.wait_for(conn.new_session(workspace), START_TIMEOUT)
        except Exception as exc:
            raise AssertionError(
                f"fast-agent did not start: {exc!r}\n--- its stderr ---\n{conn.stderr_tail}"
            ) from exc
        harness = Harness(
            conn, handlers, session.session_id, workspace, init, messages, arrived, permissions
        )
        yield harness
        # Every update a real agent sent is one acphost types, and nothing broke the protocol.
        untyped = [u for u in updates(messages) if isinstance(u.update, RawUpdate)]
        assert not untyped, [u.update for u in untyped]
        assert not [m for m in messages if isinstance(m, ProtocolErrorMessage)]
        assert not [m for m in messages if isinstance(m, AgentExitMessage)], conn.stderr_tail
    finally:
        await asyncio.wait_for(conn.close(), CLOSE_TIMEOUT)


def test_initialize_and_new_session(fast_agent: FastAgent, tmp_path: Path, workspace: Path) -> None:
    async def main() -> None:
        async with running(fast_agent, tmp_path, workspace) as h:
            assert h.init.protocol_version == 1
            assert h.init.agent_info is not None
            assert h.init.agent_info.name == "fast-agent-acp"
            if fast_agent.version is not None:
                assert h.init.agent_info.version == fast_agent.version
            assert h.conn.capabilities.load_session is True
            assert h.session_id
            # The command list comes on its own, around session/new.
            commands = await h.first_update("available_commands_update")
            assert commands.session_id == h.session_id
            assert isinstance(commands.update, schema.AvailableCommandsUpdate)
            assert commands.update.available_commands
            assert not h.handlers.requests  # nothing asked of us before the first prompt

    asyncio.run(main())


def test_read_turn_reaches_our_workspace(
    fast_agent: FastAgent, tmp_path: Path, workspace: Path
) -> None:
    marker = f"only-in-the-workspace-{uuid.uuid4().hex}"
    (workspace / "docs").mkdir()
    (workspace / "docs" / "guide.md").write_text(f"# Guide\n{marker}\n")

    async def main() -> None:
        async with running(fast_agent, tmp_path, workspace) as h:
            response, turn = await h.turn(call_tool("read_text_file", path="docs/guide.md"))
            assert response.stop_reason == "end_turn"

            # It asked first, with options of the standard kinds, for the announced tool call.
            (asked,) = h.permissions
            assert asked.tool_call.kind == "read"
            assert asked.tool_call.raw_input == {"path": "docs/guide.md"}
            assert {o.kind for o in asked.options} >= {"allow_once", "reject_once"}
            (announced,) = of_kind(turn, "tool_call")
            assert announced.data["toolCallId"] == asked.tool_call.tool_call_id
            assert announced.data["kind"] == "read"

            # Then it read through our fs/read_text_file, and the content came back.
            assert h.handlers.params_of("fs/read_text_file") == [
                {"sessionId": h.session_id, "path": "docs/guide.md"}
            ]
            last = final_tool_update(turn)
            assert last.data["status"] == "completed"
            assert isinstance(last.update, schema.ToolCallProgress)
            assert marker in texts(last.data)
            assert marker in agent_text(turn)
            assert all(u.session_id == h.session_id for u in turn)

    asyncio.run(main())


def test_read_line_range_and_missing_file(
    fast_agent: FastAgent, tmp_path: Path, workspace: Path
) -> None:
    async def main() -> None:
        async with running(fast_agent, tmp_path, workspace) as h:
            # conftest's README.md is "# Demo project\nline two\nline three\n"
            _, turn = await h.turn(call_tool("read_text_file", path="README.md", line=2, limit=1))
            last = final_tool_update(turn)
            assert last.data["status"] == "completed"
            assert texts(last.data) == "line two\n"

            response, turn = await h.turn(call_tool("read_text_file", path="missing.txt"))
            assert response.stop_reason == "end_turn"
            last = final_tool_update(turn)
            assert last.data["status"] == "failed"
            assert "Resource not found" in texts(last.data)  # our -32002 answer

    asyncio.run(main())


def test_write_allowed_writes_inside_the_workspace(
    fast_agent: FastAgent, tmp_path: Path, workspace: Path
) -> None:
    content = "first line\nhéllo ✓ — unicode survives\n"

    async def main() -> None:
        async with running(fast_agent, tmp_path, workspace) as h:
            response, turn = await h.turn(
                call_tool("write_text_file", path="notes/todo.md", content=content)
            )
            assert response.stop_reason == "end_turn"
            (asked,) = h.permissions
            assert asked.tool_call.kind == "edit"
            assert h.handlers.params_of("fs/write_text_file") == [
                {"sessionId": h.session_id, "path": "notes/todo.md", "content": content}
            ]
            diffs = [
                item
                for u in of_kind(turn, "tool_call_update")
                for item in u.data.get("content") or ()
                if item.get("type") == "diff"
            ]
            assert diffs
            assert diffs[0]["path"] == "notes/todo.md"
            assert diffs[0]["newText"] == content
            assert final_tool_update(turn).data["status"] == "completed"

        assert (workspace / "notes" / "todo.md").read_text(encoding="utf-8") == content

    asyncio.run(main())


def test_denied_tools_do_nothing(fast_agent: FastAgent, tmp_path: Path, workspace: Path) -> None:
    before = sorted(p.name for p in workspace.iterdir())

    async def main() -> None:
        async with running(fast_agent, tmp_path, workspace, policy="reject_once") as h:
            response, turn = await h.turn(
                call_tool("write_text_file", path="denied.txt", content="must not exist")
            )
            assert response.stop_reason == "end_turn"
            (asked,) = h.permissions
            assert asked.tool_call.kind == "edit"
            last = final_tool_update(turn)
            assert last.data["status"] == "failed"
            assert "declined permission" in texts(last.data)
            assert "declined permission" in agent_text(turn)

            # execute asks for the synthetic id "pending", before the tool call exists.
            response, turn = await h.turn(call_tool("execute", command="touch ran.txt"))
            assert response.stop_reason == "end_turn"
            assert len(h.permissions) == 2
            assert h.permissions[1].tool_call.kind == "execute"
            assert h.permissions[1].tool_call.tool_call_id == "pending"
            assert final_tool_update(turn).data["status"] == "failed"

            methods = [name for name, _ in h.handlers.requests]
            assert methods == ["session/request_permission"] * 2

    asyncio.run(main())
    assert sorted(p.name for p in workspace.iterdir()) == before


def test_execute_runs_in_our_terminal(
    fast_agent: FastAgent, tmp_path: Path, workspace: Path
) -> None:
    token = uuid.uuid4().hex
    # Only terminals acphost starts get this variable: the agent's own environment lacks it.
    terminal_env = {**os.environ, "ACPHOST_TERMINAL_MARK": token}
    command = "echo mark=$ACPHOST_TERMINAL_MARK; pwd; echo to-stderr >&2"

    async def main() -> None:
        async with running(fast_agent, tmp_path, workspace, terminal_env=terminal_env) as h:
            response, turn = await h.turn(call_tool("execute", command=command))
            assert response.stop_reason == "end_turn"
            (asked,) = h.permissions
            assert asked.tool_call.kind == "execute"
            assert asked.tool_call.raw_input == {"command": command}

            (created,) = h.handlers.params_of("terminal/create")
            assert created["command"] == "/bin/sh"
            assert created["args"][-1] == command
            methods = [name for name, _ in h.handlers.requests if name.startswith("terminal/")]
            assert methods[0] == "terminal/create"
            assert methods[-1] == "terminal/release"
            assert "terminal/wait_for_exit" in methods
            assert h.handlers.terminals is not None
            assert len(h.handlers.terminals) == 0  # released

            last = final_tool_update(turn)
            assert last.data["status"] == "completed"
            output = texts(last.data)
            assert f"mark={token}" in output
            assert os.path.realpath(workspace) in output.splitlines()  # cwd is the workspace
            assert "to-stderr" in output
            assert "[Exit code: 0]" in output
            assert f"mark={token}" in agent_text(turn)

            # A failing command is reported failed, with its exit code.
            _, turn = await h.turn(call_tool("execute", command="echo oops >&2; exit 3"))
            last = final_tool_update(turn)
            assert last.data["status"] == "failed"
            assert "oops" in texts(last.data)
            assert "[Exit code: 3]" in texts(last.data)

    asyncio.run(main())


def test_paths_outside_the_workspace_are_refused(
    fast_agent: FastAgent, tmp_path: Path, workspace: Path
) -> None:
    secret = f"secret-{uuid.uuid4().hex}"
    (tmp_path / "secret.txt").write_text(secret)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (workspace / "link").symlink_to(elsewhere)
    attempts = [
        call_tool("write_text_file", path=str(tmp_path / "abs.txt"), content="x"),
        call_tool("write_text_file", path="../escape.txt", content="x"),
        call_tool("write_text_file", path="link/through-symlink.txt", content="x"),
        call_tool("read_text_file", path="../secret.txt"),
        call_tool("read_text_file", path=str(tmp_path / "secret.txt")),
    ]

    async def main() -> None:
        async with running(fast_agent, tmp_path, workspace) as h:
            for prompt in attempts:
                response, turn = await h.turn(prompt)
                assert response.stop_reason == "end_turn"
                last = final_tool_update(turn)
                assert last.data["status"] == "failed", prompt
                assert "outside the workspace" in texts(last.data), prompt
            # The agent did ask us each time: the refusals are acphost's. (Each write is
            # preceded by a read of the same path, for its diff.)
            writes = [p["path"] for p in h.handlers.params_of("fs/write_text_file")]
            reads = [p["path"] for p in h.handlers.params_of("fs/read_text_file")]
            assert writes == [json.loads(a.split(" ", 2)[2])["path"] for a in attempts[:3]]
            assert reads == writes + [json.loads(a.split(" ", 2)[2])["path"] for a in attempts[3:]]
            assert not any(secret in json.dumps(u.data) for u in updates(h.messages))

    asyncio.run(main())
    assert not (tmp_path / "abs.txt").exists()
    assert not (tmp_path / "escape.txt").exists()
    assert not list(elsewhere.iterdir())


def test_two_turns_in_one_session(fast_agent: FastAgent, tmp_path: Path, workspace: Path) -> None:
    content = f"remembered {uuid.uuid4().hex}\n"

    async def main() -> None:
        async with running(fast_agent, tmp_path, workspace) as h:
            first, turn1 = await h.turn(
                call_tool("write_text_file", path="state.txt", content=content)
            )
            second, turn2 = await h.turn(call_tool("read_text_file", path="state.txt"))
            assert first.stop_reason == second.stop_reason == "end_turn"
            assert final_tool_update(turn1).data["status"] == "completed"
            last = final_tool_update(turn2)
            assert last.data["status"] == "completed"
            assert texts(last.data) == content
            assert content in agent_text(turn2)
            ids = [final_tool_update(t).data["toolCallId"] for t in (turn1, turn2)]
            assert ids[0] != ids[1]
            assert all(u.session_id == h.session_id for u in turn1 + turn2)
            assert [name for name, _ in h.handlers.requests] == [
                "session/request_permission",
                "fs/read_text_file",  # the old content, for the diff
                "fs/write_text_file",
                "session/request_permission",
                "fs/read_text_file",
            ]

    asyncio.run(main())


def test_cancel_ends_the_turn_and_the_session_goes_on(
    fast_agent: FastAgent, tmp_path: Path, workspace: Path
) -> None:
    async def main() -> None:
        # The "slow" model waits 3 s before answering: time to cancel.
        async with running(fast_agent, tmp_path, workspace, model="slow") as h:
            prompt = asyncio.ensure_future(h.conn.prompt(h.session_id, "take your time"))
            await asyncio.sleep(0.5)
            assert not prompt.done()
            h.conn.cancel(h.session_id)
            response = await asyncio.wait_for(prompt, TURN_TIMEOUT)
            assert response.stop_reason == "cancelled"

            response, turn = await h.turn("***FIXED_RESPONSE still here")
            assert response.stop_reason == "end_turn"
            assert "still here" in agent_text(turn)

    asyncio.run(main())
