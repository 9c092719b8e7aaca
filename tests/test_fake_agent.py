"""The fake ACP agent, driven as a real subprocess by a tiny raw JSON-RPC client.

The client here is deliberately independent of acphost's own client code, so these tests
pin down the fake agent's wire behaviour without circularity. Every read has a deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from acphost.testing import (
    Scenario,
    ScenarioError,
    boolean_option,
    diff_content,
    fake_agent_command,
    select_option,
    session_modes,
    text_content,
)

TIMEOUT = 5.0
CAPS = {
    "fs": {"readTextFile": True, "writeTextFile": True},
    "terminal": True,
    "elicitation": {"form": {}},
}
NO_REPLY = object()  # a handler result meaning "do not answer this request (yet)"


class ClientError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RawClient:
    """Subprocess + JSON lines. Agent requests are answered by ``handlers[method](params)``."""

    def __init__(self, argv: list[str], cwd: Path | None = None) -> None:
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd
        )
        self.inbox: queue.Queue[bytes | None] = queue.Queue()
        self.stderr = bytearray()
        self.updates: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.notifications: list[dict[str, Any]] = []
        self.raw_lines: list[bytes] = []
        self.handlers: dict[str, Callable[[dict[str, Any]], Any]] = {}
        self._ids = iter(range(1000, 10**9))
        self._threads = [
            threading.Thread(target=self._pump_stdout, daemon=True),
            threading.Thread(target=self._pump_stderr, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _pump_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in iter(self.proc.stdout.readline, b""):
            self.inbox.put(line)
        self.inbox.put(None)

    def _pump_stderr(self) -> None:
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        for chunk in iter(lambda: os.read(fd, 1 << 16), b""):
            self.stderr += chunk

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()

    def start(self, method: str, params: Any = None) -> int:
        request_id = next(self._ids)
        self.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}})
        return request_id

    def notify(self, method: str, params: Any) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def _next(self, deadline: float) -> dict[str, Any] | None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out; agent stderr: {self.stderr[-2000:]!r}")
        try:
            line = self.inbox.get(timeout=remaining)
        except queue.Empty:
            raise AssertionError(f"timed out; agent stderr: {self.stderr[-2000:]!r}") from None
        if line is None:
            raise EOFError("the agent closed stdout")
        try:
            message: dict[str, Any] = json.loads(line)
        except ValueError:
            self.raw_lines.append(line)
            return None
        self._dispatch(message)
        return message

    def _dispatch(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if method == "session/update":
            self.updates.append(message["params"])
        elif method is not None and "id" in message:
            self.requests.append(message)
            handler = self.handlers.get(method)
            reply: dict[str, Any] = {"jsonrpc": "2.0", "id": message["id"]}
            if handler is None:
                reply["error"] = {"code": -32601, "message": f"no handler for {method}"}
            else:
                try:
                    result = handler(message.get("params") or {})
                except ClientError as exc:
                    reply["error"] = {"code": exc.code, "message": exc.message}
                else:
                    if result is NO_REPLY:
                        return
                    reply["result"] = result
            self.send(reply)
        elif method is not None:
            self.notifications.append(message)

    def wait_for(self, request_id: int, timeout: float = TIMEOUT) -> dict[str, Any]:
        """Pump messages (answering agent requests) until the response to ``request_id``."""
        deadline = time.monotonic() + timeout
        while True:
            message = self._next(deadline)
            if message is not None and "method" not in message and message.get("id") == request_id:
                return message

    def call(self, method: str, params: Any = None, timeout: float = TIMEOUT) -> dict[str, Any]:
        return self.wait_for(self.start(method, params), timeout)

    def result(self, method: str, params: Any = None) -> Any:
        reply = self.call(method, params)
        assert "result" in reply, reply
        return reply["result"]

    def pump_until(self, predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            self._next(deadline)

    def initialize(self, caps: dict[str, Any] | None = None) -> dict[str, Any]:
        params = {
            "protocolVersion": 1,
            "clientCapabilities": CAPS if caps is None else caps,
            "clientInfo": {"name": "raw-test-client", "version": "0"},
        }
        return dict(self.result("initialize", params))

    def new_session(self, cwd: Path | str, **extra: Any) -> str:
        params = {"cwd": str(cwd), "mcpServers": [], **extra}
        return str(self.result("session/new", params)["sessionId"])

    def prompt(self, session_id: str, text: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        params = {"sessionId": session_id, "prompt": [{"type": "text", "text": text}]}
        return self.call("session/prompt", params, timeout)

    def texts(self, kind: str = "agent_message_chunk") -> list[str]:
        return [
            u["update"]["content"]["text"]
            for u in self.updates
            if u["update"].get("sessionUpdate") == kind
        ]

    def kinds(self) -> list[str]:
        return [u["update"]["sessionUpdate"] for u in self.updates]

    def close(self) -> int:
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.close()
        try:
            code = self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=TIMEOUT)
        for thread in self._threads:
            thread.join(timeout=TIMEOUT)
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        self.proc.stdout.close()
        self.proc.stderr.close()
        return code


Spawn = Callable[..., RawClient]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    clients: list[RawClient] = []

    def start(
        scenario: Any, *, state_dir: Path | None = None, init: bool = True, caps: Any = None
    ) -> RawClient:
        argv = fake_agent_command(scenario, state_dir=state_dir, directory=tmp_path)
        client = RawClient(argv, cwd=tmp_path)
        clients.append(client)
        if init:
            client.initialize(caps)
        return client

    yield start
    for client in clients:
        client.close()


def allow(option: str = "allow_once") -> Callable[[dict[str, Any]], Any]:
    return lambda params: {"outcome": {"outcome": "selected", "optionId": option}}


class Terminals:
    """Client terminals that really run the command (synchronously; the tests are tiny)."""

    def __init__(self) -> None:
        self.runs: dict[str, subprocess.CompletedProcess[str]] = {}
        self.released: list[str] = []

    def install(self, client: RawClient) -> None:
        client.handlers.update(
            {
                "terminal/create": self.create,
                "terminal/wait_for_exit": lambda p: {
                    "exitCode": self.runs[p["terminalId"]].returncode
                },
                "terminal/output": lambda p: {
                    "output": self.runs[p["terminalId"]].stdout,
                    "truncated": False,
                    "exitStatus": {"exitCode": self.runs[p["terminalId"]].returncode},
                },
                "terminal/release": self.release,
            }
        )

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        terminal_id = f"term-{len(self.runs)}"
        argv = [params["command"], *params.get("args", [])]
        self.runs[terminal_id] = subprocess.run(
            argv, cwd=params.get("cwd"), capture_output=True, text=True, timeout=TIMEOUT
        )
        return {"terminalId": terminal_id}

    def release(self, params: dict[str, Any]) -> dict[str, Any]:
        self.released.append(params["terminalId"])
        return {}


def install_fs(client: RawClient) -> None:
    def write(params: dict[str, Any]) -> dict[str, Any]:
        Path(params["path"]).write_text(params["content"])
        return {}

    client.handlers["fs/read_text_file"] = lambda p: {"content": Path(p["path"]).read_text()}
    client.handlers["fs/write_text_file"] = write


# -- initialize, auth, lifecycle -----------------------------------------------------------
def test_initialize_reports_capabilities_and_toggles(spawn: Spawn) -> None:
    login = {"id": "login", "name": "Log in", "type": "terminal", "args": ["--login"]}
    scenario = Scenario(
        "caps",
        load_session=False,
        session_capabilities={"list": {}},
        auth_methods=[login],
        agent_info={"name": "fake", "version": "9"},
    )
    client = spawn(scenario, init=False)
    result = client.initialize()
    assert result["protocolVersion"] == 1
    caps = result["agentCapabilities"]
    assert caps["loadSession"] is False
    assert caps["mcpCapabilities"] == {"http": True, "sse": True}
    assert caps["sessionCapabilities"] == {"list": {}}
    assert result["authMethods"] == [login]
    assert result["agentInfo"] == {"name": "fake", "version": "9"}
    assert client.call("session/resume", {"sessionId": "x", "cwd": "/"})["error"]["code"] == -32601
    assert (
        client.call("session/load", {"sessionId": "x", "cwd": "/", "mcpServers": []})["error"][
            "code"
        ]
        == -32601
    )


def test_auth_required_until_authenticated(spawn: Spawn, tmp_path: Path) -> None:
    client = spawn(Scenario("auth", auth_required=True))
    error = client.call("session/new", {"cwd": str(tmp_path), "mcpServers": []})["error"]
    assert (error["code"], error["message"]) == (-32000, "Authentication required")
    assert client.call("authenticate", {"methodId": "nope"})["error"]["code"] == -32602
    assert client.result("authenticate", {"methodId": "fake-login"}) == {}
    assert client.new_session(tmp_path)


def test_unknown_session_is_a_clear_error(spawn: Spawn) -> None:
    client = spawn("echo")
    error = client.prompt("no-such-session", "hi")["error"]
    assert error["code"] == -32002
    assert "no-such-session" in error["message"]


def test_report_shows_what_the_client_sent(spawn: Spawn, tmp_path: Path) -> None:
    client = spawn(Scenario("report").turn().report())
    mcp = [{"name": "files", "command": "mcp-files", "args": [], "env": []}]
    session = client.new_session(tmp_path, mcpServers=mcp, additionalDirectories=["/extra"])
    assert client.prompt(session, "go")["result"]["stopReason"] == "end_turn"
    report = json.loads(client.texts()[0])
    assert report["cwd"] == str(tmp_path)
    assert report["mcpServers"] == mcp
    assert report["additionalDirectories"] == ["/extra"]
    assert report["clientInfo"]["name"] == "raw-test-client"
    assert client.updates[0]["update"]["_meta"]["fakeAgentReport"] == report


# -- prompt turns ----------------------------------------------------------------------------
def test_text_thought_and_tool_call_statuses(spawn: Spawn, tmp_path: Path) -> None:
    scenario = (
        Scenario("basic")
        .turn()
        .thought("hmm")
        .tool_call("t1", title="Read", kind="read", status="pending", locations=[{"path": "/a"}])
        .tool_update("t1", status="in_progress")
        .tool_update("t1", status="completed", content=[text_content("body")])
        .text("you said: $prompt", chunks=2, meta={"x": 1})
        .stop("end_turn", usage={"inputTokens": 3, "outputTokens": 4})
    )
    client = spawn(scenario)
    session = client.new_session(tmp_path)
    result = client.prompt(session, "hello")["result"]
    assert result == {
        "stopReason": "end_turn",
        "usage": {"inputTokens": 3, "outputTokens": 4, "totalTokens": 7},
    }
    assert client.kinds() == [
        "agent_thought_chunk",
        "tool_call",
        "tool_call_update",
        "tool_call_update",
        "agent_message_chunk",
        "agent_message_chunk",
    ]
    statuses = [u["update"]["status"] for u in client.updates if "status" in u["update"]]
    assert statuses == ["pending", "in_progress", "completed"]
    assert "".join(client.texts()) == "you said: hello"
    assert client.updates[-1]["update"]["_meta"] == {"x": 1}
    assert all(u["sessionId"] == session for u in client.updates)


def test_turns_in_order_then_repeat_last(spawn: Spawn, tmp_path: Path) -> None:
    client = spawn(Scenario("turns").turn().text("one").turn().text("two"))
    session = client.new_session(tmp_path)
    for _ in range(3):
        client.prompt(session, "x")
    assert client.texts() == ["one", "two", "two"]


def test_permission_outcome_is_observed(spawn: Spawn, tmp_path: Path) -> None:
    scenario = (
        Scenario("perm")
        .turn()
        .tool_call("t1", title="Edit", kind="edit")
        .permission("t1", echo_result=True, then=[{"type": "text", "text": "allowed!"}],
                    else_=[{"type": "text", "text": "denied!"}])
    )  # fmt: skip
    client = spawn(scenario)
    session = client.new_session(tmp_path)
    client.handlers["session/request_permission"] = allow("allow_always")
    assert client.prompt(session, "a")["result"]["stopReason"] == "end_turn"
    client.handlers["session/request_permission"] = allow("reject_once")
    assert client.prompt(session, "b")["result"]["stopReason"] == "end_turn"
    assert client.texts() == [
        "selected:allow_always",
        "allowed!",
        "selected:reject_once",
        "denied!",
    ]
    request = client.requests[0]["params"]
    assert request["toolCall"]["toolCallId"] == "t1"
    assert [o["kind"] for o in request["options"]] == ["allow_once", "allow_always", "reject_once"]


def test_permission_expectation_fails_the_turn(spawn: Spawn, tmp_path: Path) -> None:
    client = spawn(Scenario("expect").turn().permission("t1", expect="allowed").text("after"))
    session = client.new_session(tmp_path)
    client.handlers["session/request_permission"] = allow("reject_once")
    error = client.prompt(session, "x")["error"]
    assert "expected ['allowed'], got selected:reject_once" in error["message"]
    assert client.texts() == []


def test_fs_read_answered_by_the_client(spawn: Spawn, tmp_path: Path) -> None:
    scenario = Scenario("read").turn().read_file("notes.txt", echo_result=True, save_as="notes")
    client = spawn(scenario.text("saved: ${notes}"))
    session = client.new_session(tmp_path)
    client.handlers["fs/read_text_file"] = lambda p: {"content": f"content of {p['path']}"}
    client.prompt(session, "x")
    path = str(tmp_path / "notes.txt")
    assert client.texts() == [f"content of {path}", f"saved: content of {path}"]
    assert client.requests[0]["params"] == {"sessionId": session, "path": path}


def test_fs_request_skipped_without_the_capability(spawn: Spawn, tmp_path: Path) -> None:
    client = spawn(Scenario("nofs").turn().read_file("/x", echo_result=True), caps={})
    session = client.new_session(tmp_path)
    client.prompt(session, "x")
    assert client.requests == []
    assert client.texts() == ["error: client did not advertise fs.readTextFile"]


def test_terminal_lifecycle(spawn: Spawn, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    scenario = (
        Scenario("term")
        .turn()
        .tool_call("t1", title="ls", kind="execute")
        .terminal("ls -1", tool_call_id="t1", echo_result=True)
    )
    client = spawn(scenario)
    terminals = Terminals()
    terminals.install(client)
    session = client.new_session(tmp_path)
    client.prompt(session, "x")
    methods = [r["method"] for r in client.requests]
    assert methods == [
        "terminal/create",
        "terminal/wait_for_exit",
        "terminal/output",
        "terminal/release",
    ]
    create = client.requests[0]["params"]
    assert (create["command"], create["args"], create["cwd"]) == ("ls", ["-1"], str(tmp_path))
    assert "a.txt" in client.texts()[0]
    assert client.updates[1]["update"]["content"] == [{"type": "terminal", "terminalId": "term-0"}]
    assert terminals.released == ["term-0"]


# -- cancellation ----------------------------------------------------------------------------
def test_cancel_is_honoured_during_sleep(spawn: Spawn, tmp_path: Path) -> None:
    client = spawn(Scenario("cancel").turn().text("sleeping").sleep(30).text("never"))
    session = client.new_session(tmp_path)
    started = time.monotonic()
    request_id = client.start(
        "session/prompt", {"sessionId": session, "prompt": [{"type": "text", "text": "x"}]}
    )
    client.pump_until(lambda: client.texts() == ["sleeping"])
    client.notify("session/cancel", {"sessionId": session})
    assert client.wait_for(request_id)["result"]["stopReason"] == "cancelled"
    assert time.monotonic() - started < 2
    assert client.texts() == ["sleeping"]


def test_cancel_right_behind_the_prompt(spawn: Spawn, tmp_path: Path) -> None:
    client = spawn(Scenario("cancel").turn().sleep(30))
    session = client.new_session(tmp_path)
    prompt = {"jsonrpc": "2.0", "id": 7, "method": "session/prompt"}
    prompt["params"] = {"sessionId": session, "prompt": []}
    cancel = {"jsonrpc": "2.0", "method": "session/cancel", "params": {"sessionId": session}}
    assert client.proc.stdin is not None
    client.proc.stdin.write(f"{json.dumps(prompt)}\n{json.dumps(cancel)}\n".encode())
    client.proc.stdin.flush()
    assert client.wait_for(7)["result"]["stopReason"] == "cancelled"


def test_cancel_ignored_keeps_going(spawn: Spawn, tmp_path: Path) -> None:
    client = spawn(Scenario("stubborn", ignore_cancel=True).turn().text("a").sleep(0.3).text("b"))
    session = client.new_session(tmp_path)
    request_id = client.start("session/prompt", {"sessionId": session, "prompt": []})
    client.pump_until(lambda: client.texts() == ["a"])
    client.notify("session/cancel", {"sessionId": session})
    assert client.wait_for(request_id)["result"]["stopReason"] == "end_turn"
    assert client.texts() == ["a", "b"]


def test_cancelled_permission_then_stop(spawn: Spawn, tmp_path: Path) -> None:
    client = spawn(Scenario("p").turn().permission("t1", echo_result=True).text("never"))
    session = client.new_session(tmp_path)
    client.handlers["session/request_permission"] = lambda p: NO_REPLY
    request_id = client.start("session/prompt", {"sessionId": session, "prompt": []})
    client.pump_until(lambda: bool(client.requests))
    client.notify("session/cancel", {"sessionId": session})
    client.send(
        {
            "jsonrpc": "2.0",
            "id": client.requests[0]["id"],
            "result": {"outcome": {"outcome": "cancelled"}},
        }
    )
    assert client.wait_for(request_id)["result"]["stopReason"] == "cancelled"
    assert client.texts() == []


def test_agent_sends_cancel_request_for_its_own_request(spawn: Spawn, tmp_path: Path) -> None:
    scenario = Scenario("cr").turn().permission("t1", cancel_request_after=0.1, echo_result=True)
    client = spawn(scenario)
    session = client.new_session(tmp_path)
    client.handlers["session/request_permission"] = lambda p: NO_REPLY
    request_id = client.start("session/prompt", {"sessionId": session, "prompt": []})
    client.pump_until(lambda: bool(client.notifications))
    cancel = client.notifications[0]
    assert cancel["method"] == "$/cancel_request"
    assert cancel["params"]["requestId"] == client.requests[0]["id"]
    client.send(
        {
            "jsonrpc": "2.0",
            "id": client.requests[0]["id"],
            "error": {"code": -32800, "message": "cancelled"},
        }
    )
    assert client.wait_for(request_id)["result"]["stopReason"] == "end_turn"
    assert client.texts() == ["cancelled"]


def test_client_cancel_request_for_a_prompt(spawn: Spawn, tmp_path: Path) -> None:
    client = spawn(Scenario("slow").turn().sleep(30))
    session = client.new_session(tmp_path)
    request_id = client.start("session/prompt", {"sessionId": session, "prompt": []})
    time.sleep(0.1)
    client.notify("$/cancel_request", {"requestId": request_id})
    assert client.wait_for(request_id)["error"]["code"] == -32800


# -- faults ----------------------------------------------------------------------------------
def test_crash_exit_code(spawn: Spawn, tmp_path: Path) -> None:
    client = spawn(Scenario("crash").turn().text("bye").crash(exit_code=3))
    session = client.new_session(tmp_path)
    with pytest.raises(EOFError):
        client.prompt(session, "x")
    assert client.proc.wait(timeout=TIMEOUT) == 3
    assert client.texts() == ["bye"]


def test_malformed_line_then_normal_traffic(spawn: Spawn, tmp_path: Path) -> None:
    client = spawn(Scenario("bad").turn().malformed("not json").text("still here"))
    session = client.new_session(tmp_path)
    assert client.prompt(session, "x")["result"]["stopReason"] == "end_turn"
    assert client.raw_lines == [b"not json\n"]
    assert client.texts() == ["still here"]


def test_raw_update_unknown_kind_and_extension_notification(spawn: Spawn, tmp_path: Path) -> None:
    scenario = (
        Scenario("raw")
        .turn()
        .raw_update({"sessionUpdate": "future_kind", "stuff": [1, 2]})
        .notify("_vendor/ping", {"n": 1})
    )
    client = spawn(scenario)
    session = client.new_session(tmp_path)
    client.prompt(session, "x")
    assert client.updates == [
        {"sessionId": session, "update": {"sessionUpdate": "future_kind", "stuff": [1, 2]}}
    ]
    assert client.notifications == [
        {"jsonrpc": "2.0", "method": "_vendor/ping", "params": {"n": 1}}
    ]


def test_huge_line_stderr_flood_and_storm(spawn: Spawn, tmp_path: Path) -> None:
    scenario = (
        Scenario("faults")
        .turn()
        .stderr_flood(bytes=2_000_000)
        .huge_line(3_000_000)
        .storm("tool_call", 50)
        .storm("agent_message_chunk", 100)
    )
    client = spawn(scenario)
    session = client.new_session(tmp_path)
    assert client.prompt(session, "x")["result"]["stopReason"] == "end_turn"
    client.close()
    assert len(client.stderr) >= 2_000_000
    assert len(client.texts()[0]) == 3_000_000
    assert client.kinds().count("tool_call") == 50
    assert client.kinds().count("tool_call_update") == 100
    assert len(client.texts()) == 101


def test_string_ids(spawn: Spawn, tmp_path: Path) -> None:
    client = spawn(
        Scenario("ids", string_ids=True).turn().request("_x/ask", {"q": 1}, echo_result=True)
    )
    session = client.new_session(tmp_path)
    client.handlers["_x/ask"] = lambda p: {"a": p["q"] + 1}
    client.prompt(session, "x")
    assert client.requests[0]["id"] == "req-1"
    assert client.texts() == ['{"a":2}']


# -- sessions across processes, modes and config ---------------------------------------------
def test_load_replays_history_from_a_previous_process(spawn: Spawn, tmp_path: Path) -> None:
    state = tmp_path / "state"
    scenario = Scenario("hist").turn().text("answer one").turn().text("answer two")
    first = spawn(scenario, state_dir=state)
    session = first.new_session(tmp_path)
    first.prompt(session, "question one")
    assert first.close() == 0

    second = spawn(scenario, state_dir=state)
    listed = second.result("session/list", {})["sessions"]
    assert [(s["sessionId"], s["cwd"], s["title"]) for s in listed] == [
        (session, str(tmp_path), "question one")
    ]
    load = second.call(
        "session/load", {"sessionId": session, "cwd": str(tmp_path), "mcpServers": []}
    )
    assert "result" in load
    assert second.kinds() == ["user_message_chunk", "agent_message_chunk"]
    assert second.texts("user_message_chunk") == ["question one"]
    assert second.texts() == ["answer one"]
    second.prompt(session, "question two")
    assert second.texts()[-1] == "answer two"
    assert second.result("session/delete", {"sessionId": session}) == {}
    assert second.result("session/list", {})["sessions"] == []


def test_resume_close_and_list(spawn: Spawn, tmp_path: Path) -> None:
    client = spawn("echo", state_dir=tmp_path / "s")
    session = client.new_session(tmp_path)
    assert client.result("session/close", {"sessionId": session}) == {}
    assert client.prompt(session, "x")["error"]["code"] == -32002
    assert client.result("session/resume", {"sessionId": session, "cwd": str(tmp_path)}) is not None
    assert client.updates == []
    assert client.prompt(session, "again")["result"]["stopReason"] == "end_turn"
    assert "".join(client.texts()) == "again"


def test_set_mode_and_config_options(spawn: Spawn, tmp_path: Path) -> None:
    scenario = Scenario(
        "config",
        modes=session_modes(["ask", "code"]),
        config_options=[
            select_option("model", "Model", ["small", "large"], category="model"),
            boolean_option("thinking", "Thinking"),
        ],
    )
    client = spawn(scenario)
    new = client.result("session/new", {"cwd": str(tmp_path), "mcpServers": []})
    session = new["sessionId"]
    assert new["modes"]["currentModeId"] == "ask"
    assert [o["currentValue"] for o in new["configOptions"]] == ["small", False]

    assert client.result("session/set_mode", {"sessionId": session, "modeId": "code"}) == {}
    assert client.updates[-1]["update"] == {
        "sessionUpdate": "current_mode_update",
        "currentModeId": "code",
    }

    params = {"sessionId": session, "configId": "model", "value": "large"}
    options = client.result("session/set_config_option", params)["configOptions"]
    assert options[0]["currentValue"] == "large"
    params = {"sessionId": session, "configId": "thinking", "type": "boolean", "value": True}
    options = client.result("session/set_config_option", params)["configOptions"]
    assert options[1]["currentValue"] is True
    assert client.updates[-1]["update"] == {
        "sessionUpdate": "config_option_update",
        "configOptions": options,
    }
    bad = {"sessionId": session, "configId": "model", "value": "huge"}
    assert client.call("session/set_config_option", bad)["error"]["code"] == -32602


# -- demo and Python scenarios ---------------------------------------------------------------
@pytest.mark.parametrize("answer", ["allow_once", "reject_once"])
def test_demo_end_to_end(spawn: Spawn, tmp_path: Path, answer: str) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "README.md").write_text("# Project\nline two\nline three\n")
    (workspace / "data.bin").write_bytes(b"\x00\x01")
    client = spawn("demo")
    Terminals().install(client)
    install_fs(client)
    client.handlers["session/request_permission"] = allow(answer)
    session = client.new_session(workspace)
    result = client.prompt(session, "summarise this repo")["result"]
    assert result["stopReason"] == "end_turn"
    assert result["usage"]["totalTokens"] > 0

    methods = [r["method"] for r in client.requests]
    assert methods[:5] == [
        "terminal/create",
        "terminal/wait_for_exit",
        "terminal/output",
        "terminal/release",
        "fs/read_text_file",
    ]
    assert client.requests[0]["params"]["args"] == ["-la"]
    assert client.requests[4]["params"]["path"] == str(workspace / "README.md")
    assert "session/request_permission" in methods

    calls: dict[str, list[str]] = {}
    kinds: dict[str, str] = {}
    for u in client.updates:
        update = u["update"]
        if update["sessionUpdate"] == "tool_call":
            kinds[update["toolCallId"]] = update["kind"]
        if update["sessionUpdate"] in ("tool_call", "tool_call_update") and "status" in update:
            calls.setdefault(update["toolCallId"], []).append(update["status"])
    assert kinds == {"ls-0": "execute", "read-0": "read", "wc-0": "execute", "write-0": "edit"}
    final = "completed" if answer == "allow_once" else "failed"
    for call, statuses in calls.items():
        assert statuses[0] == "pending", (call, statuses)
        assert statuses[-1] == (final if call == "write-0" else "completed"), (call, statuses)
        if statuses[-1] == "completed":
            assert "in_progress" in statuses, (call, statuses)

    answer_text = "".join(client.texts())
    assert "summarise this repo" in answer_text
    assert "README.md (3 lines)" in answer_text
    assert len(client.texts()) >= 3
    assert "plan" in client.kinds()
    assert "usage_update" in client.kinds()
    notes = workspace / "NOTES.md"
    if answer == "allow_once":
        assert "summarise this repo" in notes.read_text()
        last = [u["update"] for u in client.updates if u["update"].get("toolCallId") == "write-0"][
            -1
        ]
        assert last["content"][0] == diff_content(str(notes), notes.read_text(), None)
    else:
        assert not notes.exists()
        assert "not written" in answer_text


def test_python_scenario_file(spawn: Spawn, tmp_path: Path) -> None:
    source = """
from acphost.testing import FakeAgentContext, scenario_settings

@scenario_settings(string_ids=True)
async def run(ctx: FakeAgentContext, prompt: str) -> str:
    content = await ctx.read_file("in.txt")
    outcome = await ctx.request_permission("w1", "Write out.txt")
    if outcome.allowed:
        await ctx.write_file("out.txt", content.upper())
    await ctx.text(f"turn {ctx.turn_index}: {outcome} {ctx.has_capability('terminal')}")
    return "max_tokens"
"""
    (tmp_path / "scen.py").write_text(source)
    (tmp_path / "in.txt").write_text("hello")
    client = spawn(f"{tmp_path / 'scen.py'}:run")
    install_fs(client)
    client.handlers["session/request_permission"] = allow()
    session = client.new_session(tmp_path)
    assert client.prompt(session, "x")["result"]["stopReason"] == "max_tokens"
    assert (tmp_path / "out.txt").read_text() == "HELLO"
    assert client.texts() == ["turn 0: selected:allow_once True"]
    assert client.requests[0]["id"] == "req-1"


def test_scenario_builder_round_trip(tmp_path: Path) -> None:
    scenario = (
        Scenario("rt", ignore_cancel=True)
        .turn()
        .text("a")
        .terminal("ls -la")
        .turn()
        .stop("refusal")
    )
    doc = scenario.to_dict()
    assert doc["turns"][0]["steps"][1] == {"type": "terminal", "command": "ls -la"}
    again = Scenario.load(scenario.save(tmp_path / "s.json"))
    assert again.to_dict() == doc
    assert Scenario.from_dict(json.loads(scenario.to_json())).to_dict() == doc
    with pytest.raises(ScenarioError, match="unknown step type"):
        Scenario.from_dict({"turns": [{"steps": [{"type": "dance"}]}]})
    with pytest.raises(ScenarioError, match="unknown settings"):
        Scenario("x", colour="red")


def test_bad_scenario_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"turns": [[{"type": "text"}]]}')
    proc = subprocess.run(
        [sys.executable, "-m", "acphost.testing.fake_agent", str(path)],
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert proc.returncode == 2
    assert b"missing text" in proc.stderr


def test_json_document_wrapping_a_python_scenario(spawn: Spawn, tmp_path: Path) -> None:
    (tmp_path / "scen.py").write_text(
        "async def run(ctx, prompt):\n"
        "    await ctx.mode('code')\n"
        "    await ctx.text(f'{ctx.mode_id} {prompt}')\n"
    )
    scenario = Scenario(
        "wrapped", python=f"{tmp_path / 'scen.py'}:run", modes=session_modes(["ask", "code"])
    )
    client = spawn(scenario)
    session = client.new_session(tmp_path)
    assert client.prompt(session, "hi")["result"] == {"stopReason": "end_turn"}
    assert client.kinds() == ["current_mode_update", "agent_message_chunk"]
    assert client.texts() == ["code hi"]


def test_elicitation_and_prompt_response_meta(spawn: Spawn, tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    scenario = (
        Scenario("elicit")
        .turn()
        .elicitation("Name?", schema, echo_result=True)
        .stop(meta={"trace": "t"})
    )
    client = spawn(scenario)
    client.handlers["elicitation/create"] = lambda p: {
        "action": "accept",
        "content": {"name": "Ada"},
    }
    session = client.new_session(tmp_path)
    assert client.prompt(session, "x")["result"] == {
        "stopReason": "end_turn",
        "_meta": {"trace": "t"},
    }
    params = client.requests[0]["params"]
    assert (params["mode"], params["message"], params["requestedSchema"]) == (
        "form",
        "Name?",
        schema,
    )
    assert client.texts() == ['{"action":"accept","content":{"name":"Ada"}}']


def test_stubborn_agent_has_to_be_killed(spawn: Spawn) -> None:
    client = spawn(Scenario("stubborn", linger_after_eof=30, ignore_sigterm=True))
    assert client.proc.stdin is not None
    client.proc.stdin.close()
    client.proc.terminate()
    with pytest.raises(subprocess.TimeoutExpired):
        client.proc.wait(timeout=0.3)
    client.proc.kill()
    assert client.proc.wait(timeout=TIMEOUT) == -9
