"""The protocol layer against a real ACP subprocess (the fake agent): every method, every
client capability, every fault."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from acphost.acp.client import AgentConnection
from acphost.acp.fs import Workspace
from acphost.acp.handlers import ClientHandlers
from acphost.acp.messages import (
    AgentExitMessage,
    AgentMessage,
    ExtensionNotification,
    ProtocolErrorMessage,
    RawUpdate,
    SessionUpdate,
    TerminalMessage,
)
from acphost.acp.permissions import PermissionPolicy, PermissionRequest
from acphost.errors import AgentExited, AgentRequestError, AuthRequired, CapabilityMissing
from acphost.testing import Scenario, fake_agent_command

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
    return asyncio.run(asyncio.wait_for(coro, timeout))


class Agent:
    """A fake agent started through the real protocol layer."""

    def __init__(
        self,
        scenario: Scenario,
        workspace: Path,
        *,
        permission: PermissionPolicy = "allow",
        state_dir: Path | None = None,
        **handler_options: Any,
    ) -> None:
        self.scenario = scenario
        self.workspace = workspace
        self.permission = permission
        self.state_dir = state_dir
        self.handler_options = handler_options
        self.messages: list[AgentMessage] = []

    async def __aenter__(self) -> Agent:
        handlers = ClientHandlers(
            Workspace(self.workspace), permission=self.permission, **self.handler_options
        )
        command = fake_agent_command(
            self.scenario, directory=self.workspace.parent, state_dir=self.state_dir
        )
        self.conn = await AgentConnection.start(
            command, handlers=handlers, on_message=self.messages.append
        )
        self.init = await self.conn.initialize(timeout=20)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.conn.close(grace=2, term_grace=2)

    async def new(self, **kwargs: Any) -> str:
        return (await self.conn.new_session(self.workspace, **kwargs)).session_id

    async def prompt(self, text: str = "go", session_id: str | None = None) -> str:
        sid = session_id or await self.new()
        response = await self.conn.prompt(sid, text)
        return str(response.stop_reason)

    def updates(self) -> list[SessionUpdate]:
        return [m for m in self.messages if isinstance(m, SessionUpdate)]

    def text(self) -> str:
        out = []
        for update in self.updates():
            if update.kind == "agent_message_chunk":
                content = update.data.get("content", {})
                out.append(content.get("text", ""))
        return "".join(out)

    def report(self) -> dict[str, Any]:
        for update in reversed(self.updates()):
            meta = _meta(update)
            if "fakeAgentReport" in meta:
                report: dict[str, Any] = meta["fakeAgentReport"]
                return report
        raise AssertionError("no report in the updates")


def _meta(update: SessionUpdate) -> dict[str, Any]:
    meta = update.data.get("_meta") or update.meta or {}
    assert isinstance(meta, dict)
    return meta


# --- initialize, auth, sessions ----------------------------------------------------------


def test_initialize_advertises_client_capabilities(workspace: Path) -> None:
    async def main() -> None:
        async with Agent(Scenario().turn().report().stop(), workspace) as agent:
            assert agent.init.protocol_version == 1
            assert agent.init.agent_capabilities is not None
            assert agent.init.agent_capabilities.load_session
            await agent.prompt()
            report = agent.report()
            caps = report["clientCapabilities"]
            assert caps["fs"] == {"readTextFile": True, "writeTextFile": True}
            assert caps["terminal"] is True
            assert report["clientInfo"]["name"] == "acphost"

    run(main())


def test_new_session_passes_cwd_directories_and_mcp_servers(
    workspace: Path, tmp_path: Path
) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    scenario = Scenario(session_capabilities={"additionalDirectories": {}}).turn().report().stop()
    servers: list[dict[str, Any]] = [
        {"name": "files", "command": "mcp-files", "args": ["--root", "."], "env": []},
        {"type": "http", "name": "web", "url": "http://127.0.0.1:9/mcp", "headers": []},
        {"type": "sse", "name": "events", "url": "http://127.0.0.1:9/sse", "headers": []},
    ]

    async def main() -> None:
        async with Agent(scenario, workspace) as agent:
            sid = await agent.new(mcp_servers=servers, additional_directories=[extra])
            await agent.prompt(session_id=sid)
            report = agent.report()
            assert report["cwd"] == str(workspace)
            assert report["additionalDirectories"] == [str(extra)]
            assert [s["name"] for s in report["mcpServers"]] == ["files", "web", "events"]

    run(main())


def test_capability_gates_raise_typed_errors(workspace: Path) -> None:
    scenario = (
        Scenario(
            load_session=False,
            session_capabilities={},
            mcp_capabilities={"http": False, "sse": False},
        )
        .turn()
        .stop()
    )

    async def main() -> None:
        async with Agent(scenario, workspace) as agent:
            conn = agent.conn
            checks: list[Callable[[], Awaitable[Any]]] = [
                lambda: conn.load_session("s", workspace),
                lambda: conn.resume_session("s", workspace),
                lambda: conn.close_session("s"),
                lambda: conn.list_sessions(),
                lambda: conn.delete_session("s"),
                lambda: conn.new_session(workspace, additional_directories=[workspace]),
                lambda: conn.new_session(
                    workspace,
                    mcp_servers=[{"type": "http", "name": "x", "url": "http://x", "headers": []}],
                ),
            ]
            for check in checks:
                with pytest.raises(CapabilityMissing) as info:
                    await check()
                assert info.value.code == "capability_missing"
            # the connection is still fine
            assert await agent.prompt() == "end_turn"

    run(main())


def test_session_lifecycle_load_resume_list_close_delete(workspace: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    scenario = Scenario(session_capabilities={"list": {}, "resume": {}, "close": {}, "delete": {}})
    scenario.turn().echo_prompt().stop()

    async def main() -> None:
        async with Agent(scenario, workspace, state_dir=state) as first:
            sid = await first.new()
            assert await first.prompt("remember the word banana", sid) == "end_turn"
        async with Agent(scenario, workspace, state_dir=state) as second:
            listed = await second.conn.list_sessions()
            assert sid in [s.session_id for s in listed.sessions]
            await second.conn.load_session(sid, workspace)
            replayed = [u for u in second.updates() if u.replay]
            assert replayed, "session/load replays history"
            assert any("banana" in json.dumps(u.data) for u in replayed)
            assert all(u.replay for u in second.updates())
            assert await second.prompt("again", sid) == "end_turn"
            assert not second.updates()[-1].replay
            await second.conn.close_session(sid)
        async with Agent(scenario, workspace, state_dir=state) as third:
            await third.conn.resume_session(sid, workspace)
            assert not third.updates(), "session/resume does not replay"
            await third.conn.delete_session(sid)
            listed = await third.conn.list_sessions()
            assert sid not in [s.session_id for s in listed.sessions]

    run(main())


def test_modes_and_config_options(workspace: Path) -> None:
    scenario = (
        Scenario(
            modes={
                "currentModeId": "ask",
                "availableModes": [{"id": "ask", "name": "Ask"}, {"id": "code", "name": "Code"}],
            },
            config_options=[
                {
                    "id": "model",
                    "name": "Model",
                    "type": "select",
                    "category": "model",
                    "currentValue": "small",
                    "options": [
                        {"value": "small", "name": "Small"},
                        {"value": "large", "name": "Large"},
                    ],
                },
                {"id": "fast", "name": "Fast", "type": "boolean", "currentValue": False},
            ],
        )
        .turn()
        .report()
        .stop()
    )

    async def main() -> None:
        async with Agent(scenario, workspace) as agent:
            created = await agent.conn.new_session(workspace)
            sid = created.session_id
            assert created.modes is not None
            assert created.modes.current_mode_id == "ask"
            await agent.conn.set_mode(sid, "code")
            response = await agent.conn.set_config_option(sid, "model", "large")
            values = {o.id: o.current_value for o in response.config_options}
            assert values["model"] == "large"
            response = await agent.conn.set_config_option(sid, "fast", True)
            values = {o.id: o.current_value for o in response.config_options}
            assert values["fast"] is True
            await agent.prompt(session_id=sid)
            assert agent.report()["modeId"] == "code"

    run(main())


def test_agent_auth_method_and_auth_required(workspace: Path) -> None:
    scenario = (
        Scenario(
            auth_required=True,
            auth_methods=[
                {"id": "oauth", "name": "Log in"},
                {"id": "login", "name": "Terminal login", "type": "terminal", "args": ["--login"]},
            ],
        )
        .turn()
        .stop()
    )

    async def main() -> None:
        async with Agent(scenario, workspace) as agent:
            with pytest.raises(AuthRequired) as info:
                await agent.new()
            assert info.value.code == "auth_required"
            assert "--login" in info.value.hint  # says what to run
            methods = info.value.to_dict()["data"]["authMethods"]  # the agent's detail, kept
            assert [m["id"] for m in methods] == ["oauth", "login"]
            with pytest.raises(AuthRequired):
                await agent.conn.authenticate("login")  # the user must run it
            await agent.conn.authenticate("oauth")
            assert await agent.prompt() == "end_turn"

    run(main())


# --- updates -------------------------------------------------------------------------------


def test_updates_arrive_in_order_unknown_kinds_raw_meta_kept(workspace: Path) -> None:
    scenario = Scenario().turn()
    for i in range(300):
        scenario.text(f"<{i}>", meta={"i": i})
        if i % 50 == 0:
            scenario.raw_update({"sessionUpdate": "future_kind", "i": i})
            scenario.raw_update({"sessionUpdate": "_vendor/thing", "i": i})
            scenario.tool_call(f"t{i}", title=f"tool {i}", status="pending")
    scenario.notify("_vendor/ping", {"x": 1}).stop()

    async def main() -> None:
        async with Agent(scenario, workspace) as agent:
            await agent.prompt()
            order = [_meta(u)["i"] for u in agent.updates() if u.kind == "agent_message_chunk"]
            assert order == list(range(300))
            assert agent.text() == "".join(f"<{i}>" for i in range(300))
            raw = [u for u in agent.updates() if isinstance(u.update, RawUpdate)]
            assert [u.kind for u in raw[:2]] == ["future_kind", "_vendor/thing"]
            assert raw[0].update.data["i"] == 0
            tools = [u for u in agent.updates() if u.kind == "tool_call"]
            assert tools[0].update.title == "tool 0"  # type: ignore[union-attr]
            ext = [m for m in agent.messages if isinstance(m, ExtensionNotification)]
            assert ext == [ExtensionNotification("_vendor/ping", {"x": 1})]

    run(main())


# --- permission ---------------------------------------------------------------------------

OPTIONS = [
    {"optionId": "proceed_once", "name": "Yes", "kind": "allow_once"},
    {"optionId": "proceed_always", "name": "Always", "kind": "allow_always"},
    {"optionId": "nope", "name": "No", "kind": "reject_once"},
]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("allow", "selected:proceed_once"),
        ("deny", "selected:nope"),
        ("allow_always", "selected:proceed_always"),
    ],
)
def test_permission_policies_choose_by_kind(workspace: Path, policy: Any, expected: str) -> None:
    scenario = Scenario().turn().permission("t1", options=OPTIONS, echo_result=True).stop()

    async def main() -> None:
        async with Agent(scenario, workspace, permission=policy) as agent:
            await agent.prompt()
            assert expected in agent.text()

    run(main())


def test_permission_callable_sees_the_request(workspace: Path) -> None:
    seen: list[PermissionRequest] = []

    def decide(request: PermissionRequest) -> bool:
        seen.append(request)
        return request.title == "Write the file"

    scenario = (
        Scenario()
        .turn()
        .permission("t1", title="Write the file", options=OPTIONS, echo_result=True)
    )
    scenario.permission("t2", title="Delete everything", options=OPTIONS, echo_result=True).stop()

    async def main() -> None:
        async with Agent(scenario, workspace, permission=decide) as agent:
            await agent.prompt()
            text = agent.text()
            assert text.index("selected:proceed_once") < text.index("selected:nope")
            assert [r.tool_call.tool_call_id for r in seen] == ["t1", "t2"]

    run(main())


def test_cancel_answers_pending_permission_and_ends_turn(workspace: Path) -> None:
    scenario = Scenario().turn().permission("t1", options=OPTIONS, echo_result=True).stop()
    started = asyncio.Event

    async def main() -> None:
        asked: asyncio.Event = started()
        outcome: list[str] = []

        async def never(request: PermissionRequest) -> Any:
            asked.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                outcome.append("cancelled")
                raise

        async with Agent(scenario, workspace, permission=never) as agent:
            sid = await agent.new()
            turn = asyncio.ensure_future(agent.conn.prompt(sid, "go"))
            await asyncio.wait_for(asked.wait(), 10)
            agent.conn.cancel(sid)
            response = await asyncio.wait_for(turn, 10)
            assert response.stop_reason == "cancelled"
            assert outcome == ["cancelled"]

    run(main())


def test_agent_cancel_request_for_a_permission_dialog(workspace: Path) -> None:
    scenario = Scenario().turn()
    scenario.permission("t1", options=OPTIONS, cancel_request_after=0.2, echo_result=True).stop()

    async def main() -> None:
        async def slow(request: PermissionRequest) -> Any:
            await asyncio.sleep(30)

        async with Agent(scenario, workspace, permission=slow) as agent:
            await agent.prompt()
            assert "cancelled" in agent.text()

    run(main())


def test_outgoing_cancel_request_on_abandoned_request(workspace: Path) -> None:
    scenario = Scenario(method_delays={"session/list": 5.0}).turn().stop()

    async def main() -> None:
        async with Agent(scenario, workspace) as agent:
            task = asyncio.ensure_future(agent.conn.list_sessions())
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await agent.prompt() == "end_turn"
            assert not [m for m in agent.messages if isinstance(m, ProtocolErrorMessage)]

    run(main())


# --- files ------------------------------------------------------------------------------


def test_fs_read_with_line_and_limit(workspace: Path) -> None:
    scenario = Scenario().turn().read_file("README.md", line=2, limit=1, echo_result=True).stop()

    async def main() -> None:
        async with Agent(scenario, workspace) as agent:
            await agent.prompt()
            assert agent.text() == "line two\n"

    run(main())


def test_fs_write_and_confinement(workspace: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    (workspace / "link").symlink_to(tmp_path)
    scenario = (
        Scenario()
        .turn()
        .write_file("notes/new.md", "hello\n", echo_result=True)
        .write_file(str(outside), "evil", echo_result=True)
        .write_file("../outside.txt", "evil", echo_result=True)
        .write_file("link/outside.txt", "evil", echo_result=True)
        .read_file("missing.txt", echo_result=True)
        .stop()
    )

    async def main() -> None:
        async with Agent(scenario, workspace) as agent:
            await agent.prompt()
            text = agent.text()
            assert (workspace / "notes" / "new.md").read_text() == "hello\n"
            assert not outside.exists()
            assert text.count("path_outside_workspace") + text.count("outside the workspace") >= 3
            assert "-32002" in text or "Resource not found" in text

    run(main())


# --- terminals ---------------------------------------------------------------------------


def test_terminal_shell_line_and_program_args(workspace: Path) -> None:
    scenario = (
        Scenario()
        .turn()
        .terminal("echo $((6*7)) | tr 4 X", [], echo_result=True)  # a shell line, as Kimi sends
        .terminal("printf", ["%s-%s", "a", "$HOME"], echo_result=True)
        .terminal("python3", ["-c", "print('é' * 300)"], output_byte_limit=11, echo_result=True)
        .stop()
    )

    async def main() -> None:
        async with Agent(scenario, workspace) as agent:
            await agent.prompt()
            text = agent.text()
            assert "X2" in text
            assert "a-$HOME" in text
            assert "éééé" in text
            terminals = [m for m in agent.messages if isinstance(m, TerminalMessage)]
            assert [m.status for m in terminals] == ["started", "released"] * 3
            assert terminals[1].command == "echo $((6*7)) | tr 4 X"
            assert terminals[1].output == "X2\n"
            assert terminals[1].exit_code == 0
            assert terminals[5].truncated
            assert len(terminals[5].output.encode()) <= 11

    run(main())


def test_unknown_client_method_gets_method_not_found(workspace: Path) -> None:
    scenario = Scenario(respect_client_capabilities=False).turn()
    scenario.request("nonsense/method", {}, echo_result=True)
    scenario.elicitation("Your name?", echo_result=True).stop()

    async def main() -> None:
        async with Agent(scenario, workspace) as agent:
            await agent.prompt()
            text = agent.text()
            assert "-32601" in text or "Method not found" in text
            assert "decline" in text

    run(main())


def test_elicitation_handler(workspace: Path) -> None:
    scenario = Scenario().turn().elicitation("Your name?", echo_result=True).stop()

    async def answer(params: dict[str, Any]) -> dict[str, Any]:
        return {"action": "accept", "content": {"name": "Ada"}}

    async def main() -> None:
        async with Agent(scenario, workspace, elicitation=answer) as agent:
            await agent.prompt()
            assert "Ada" in agent.text()

    run(main())


def test_string_request_ids_echoed(workspace: Path) -> None:
    scenario = Scenario(string_ids=True).turn().read_file("README.md", echo_result=True).stop()

    async def main() -> None:
        async with Agent(scenario, workspace) as agent:
            await agent.prompt()
            assert "# Demo project" in agent.text()

    run(main())


# --- faults -------------------------------------------------------------------------------


def test_crash_fails_pending_prompt_with_agent_exited(workspace: Path) -> None:
    scenario = Scenario().turn().text("partial").stderr("fatal: out of cheese\n").crash(exit_code=7)

    async def main() -> None:
        async with Agent(scenario, workspace) as agent:
            with pytest.raises(AgentExited) as info:
                await agent.prompt()
            assert info.value.exit_code == 7
            assert "out of cheese" in info.value.stderr_tail
            exits = [m for m in agent.messages if isinstance(m, AgentExitMessage)]
            assert len(exits) == 1
            assert exits[0].error.exit_code == 7
            with pytest.raises(AgentExited):
                await agent.new()

    run(main())


def test_malformed_line_is_reported_and_session_goes_on(workspace: Path) -> None:
    scenario = Scenario().turn().text("before").malformed("{oops").text("after").stop()

    async def main() -> None:
        async with Agent(scenario, workspace) as agent:
            assert await agent.prompt() == "end_turn"
            errors = [m for m in agent.messages if isinstance(m, ProtocolErrorMessage)]
            assert len(errors) == 1
            assert errors[0].error.line_preview == "{oops"
            assert agent.text() == "beforeafter"

    run(main())


def test_fifty_megabyte_line(workspace: Path) -> None:
    scenario = Scenario().turn().huge_line(50 * 1024 * 1024).text("tail").stop()

    async def main() -> None:
        async with Agent(scenario, workspace) as agent:
            assert await agent.prompt() == "end_turn"
            assert len(agent.text()) >= 50 * 1024 * 1024
            assert agent.text().endswith("tail")

    run(main(), timeout=90)


def test_stderr_flood_does_not_block(workspace: Path) -> None:
    scenario = Scenario().turn().stderr_flood(20 * 1024 * 1024).text("still here").stop()

    async def main() -> None:
        async with Agent(scenario, workspace) as agent:
            assert await agent.prompt() == "end_turn"
            assert agent.text() == "still here"
            assert len(agent.conn.stderr_tail.encode()) <= 64 * 1024

    run(main(), timeout=60)


def test_prompt_error_is_typed(workspace: Path) -> None:
    scenario = Scenario().turn().fail("model overloaded", code=-32603)

    async def main() -> None:
        async with Agent(scenario, workspace) as agent:
            with pytest.raises(AgentRequestError) as info:
                await agent.prompt()
            assert info.value.rpc_code == -32603
            assert "overloaded" in info.value.message

    run(main())


def test_agent_gets_full_environment(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACPHOST_TEST_API_KEY", "sk-test")
    scenario = Scenario().turn()
    scenario.terminal("echo key=$ACPHOST_TEST_API_KEY", [], echo_result=True).stop()

    async def main() -> None:
        async with Agent(scenario, workspace) as agent:
            await agent.prompt()
            assert "key=sk-test" in agent.text()

    run(main())
    assert os.environ["ACPHOST_TEST_API_KEY"] == "sk-test"
