"""Real third-party ACP agents, end to end, through acphost's public ``Conversation`` API.

Each agent runs offline: fast-agent with its scripted ``passthrough`` model, or any agent
against :class:`acphost.testing.ModelServer` on 127.0.0.1, whose queued answers name the
agent's own tools (see ``tests/agents.py``). Every agent gets its own ``HOME`` and config in
``tmp_path``. What the agents did (client methods, update kinds, cancel and resume behaviour,
auth methods) is recorded in ``.cache/agent-observations.json``, from which
``scripts/agent_table.py`` renders the table in ``docs/agents.md``.

An agent that is not installed is skipped with the reason (``bash scripts/install-agents.sh``
installs them); ``ACPHOST_REQUIRE_AGENTS=1`` turns those skips into failures.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from acphost.acp.jsonrpc import IncomingRequest
from acphost.acp.messages import AgentMessage, ExtensionNotification, SessionUpdate
from acphost.agents import ACPAgent, AgentContext, SessionStart
from acphost.agents._registry import BUILTIN_AGENTS
from acphost.conversation import Conversation
from acphost.errors import AuthRequired
from acphost.events import (
    AgentMessageEvent,
    Event,
    PermissionDecidedEvent,
    PermissionModeEvent,
    PermissionRequestedEvent,
    SessionEvent,
    ToolCallEvent,
    TurnEndedEvent,
    UsageEvent,
)
from acphost.testing import ModelServer, TextReply
from agents import (
    FINAL_TEXT,
    PROFILES,
    PROJECT_ROOT,
    AgentUnavailable,
    Profile,
    Step,
    require,
)

pytestmark = pytest.mark.real_agent

TURN_TIMEOUT = 90.0  # a turn, including a real agent's start-up (~60 s allowed)
CLOSE_TIMEOUT = 30.0
SLOW = 60.0  # how long the model server stalls in the cancel test: far beyond the test
OBSERVATIONS = Path(
    os.environ.get("ACPHOST_OBSERVATIONS") or PROJECT_ROOT / ".cache" / "agent-observations.json"
)

# --- observations -----------------------------------------------------------------------

OBSERVED: dict[str, dict[str, Any]] = {}


def observe(label: str, **values: Any) -> None:
    """Record facts about an agent: sets are merged, other values replaced."""
    record = OBSERVED.setdefault(label, {})
    for key, value in values.items():
        if isinstance(value, set):
            record[key] = set(record.get(key) or ()) | value
        elif isinstance(value, dict) and isinstance(record.get(key), dict):
            record[key] = {**record[key], **value}
        else:
            record[key] = value


@pytest.fixture(scope="module", autouse=True)
def _write_observations() -> Iterator[None]:
    """Merge this run's observations into the JSON file (agents not run keep theirs)."""
    yield
    if not OBSERVED:
        return
    try:
        saved = json.loads(OBSERVATIONS.read_text())
    except (OSError, ValueError):
        saved = {}
    agents = saved.setdefault("agents", {})
    for label, record in OBSERVED.items():
        merged = agents.setdefault(label, {})
        for key, value in record.items():
            if isinstance(value, set):
                value = sorted(set(merged.get(key) or ()) | value)
            elif isinstance(value, dict) and isinstance(merged.get(key), dict):
                value = {**merged[key], **value}
            merged[key] = value
    saved["generated_by"] = "tests/test_real_agents.py"
    OBSERVATIONS.parent.mkdir(parents=True, exist_ok=True)
    OBSERVATIONS.write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n")


class RecordingAgent(ACPAgent):
    """An :class:`ACPAgent` that notes what the agent asked of us and what kinds it sent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client_methods: set[str] = set()
        self.update_kinds: set[str] = set()
        self.notifications: set[str] = set()

    def _message(self, message: AgentMessage) -> None:
        if isinstance(message, SessionUpdate):
            self.update_kinds.add(message.kind)
        elif isinstance(message, ExtensionNotification):
            self.notifications.add(message.method)
        super()._message(message)

    async def astart(
        self, ctx: AgentContext, *, resume_session_id: str | None = None
    ) -> SessionStart:
        start = await super().astart(ctx, resume_session_id=resume_session_id)
        assert self.connection is not None
        handlers = self.connection.handlers
        if not getattr(handlers, "recorded", False):
            handle = handlers.handle

            def recording(request: IncomingRequest) -> None:
                self.client_methods.add(request.method)
                handle(request)

            handlers.handle = recording  # type: ignore[method-assign]
            handlers.recorded = True  # type: ignore[attr-defined]
        return start

    def facts(self) -> dict[str, Any]:
        facts: dict[str, Any] = {
            "client_methods": set(self.client_methods),
            "update_kinds": set(self.update_kinds),
            "notifications": set(self.notifications),
        }
        connection = self.connection
        if connection is not None and connection.init is not None:
            init = connection.init
            caps = connection.capabilities
            session_caps = caps.session_capabilities
            facts |= {
                "agent_info": init.agent_info.model_dump(exclude_none=True)
                if init.agent_info
                else None,
                "protocol_version": init.protocol_version,
                "auth_methods": {
                    f"{m.get('id')} ({m.get('type', 'agent')})" for m in connection.auth_methods
                },
                "load_session": bool(caps.load_session),
                "session_resume": bool(session_caps and session_caps.resume),
                "session_list": bool(session_caps and session_caps.list),
                "capabilities": _advertised((connection.init_json or {}).get("agentCapabilities")),
                "steering": self.supports_steering,
            }
        return facts


def _advertised(capabilities: Any, prefix: str = "") -> set[str]:
    """The capabilities an agent turned on, as dotted paths (``sessionCapabilities.fork``)."""
    if isinstance(capabilities, dict) and capabilities:
        found: set[str] = set()
        for key, value in capabilities.items():
            if key != "_meta":
                found |= _advertised(value, f"{prefix}.{key}" if prefix else key)
        return found
    on = capabilities not in (None, False)  # `{}` turns a feature on
    return {prefix} if prefix and on else set()


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(params=PROFILES, ids=lambda p: p.label)
def profile(request: pytest.FixtureRequest) -> Profile:
    chosen: Profile = request.param
    try:
        chosen.locate()
    except AgentUnavailable as exc:
        require(chosen.label, exc)
    observe(chosen.label, entry=chosen.entry, version=chosen.version())
    return chosen


@pytest.fixture
def server() -> Iterator[ModelServer]:
    with ModelServer(final_text=FINAL_TEXT) as running:
        yield running


class Host:
    """Conversations with one agent, run with bounded waits, closed at the end."""

    def __init__(
        self,
        profile: Profile,
        tmp_path: Path,
        workspace: Path,
        server: ModelServer,
        bounded: Callable[..., Any],
    ) -> None:
        self.profile = profile
        self.tmp_path = tmp_path
        self.workspace = workspace
        self.server = server
        self.bounded = bounded
        self.store = tmp_path / "acphost.db"
        self.agents: list[RecordingAgent] = []
        self.conversations: list[Conversation] = []

    def agent(self, **options: Any) -> RecordingAgent:
        agent = self.profile.agent(
            self.tmp_path,
            self.server.base_url if self.profile.uses_server else None,
            cls=RecordingAgent,
            **options,
        )
        assert isinstance(agent, RecordingAgent)
        self.agents.append(agent)
        return agent

    def open(self, permission: Any = "allow", **options: Any) -> Conversation:
        conversation = Conversation(
            self.agent(**options),
            self.workspace,
            store=self.store,
            permission=permission,
            idle_timeout=TURN_TIMEOUT,
            cancel_grace=10.0,
        )
        self.conversations.append(conversation)
        return conversation

    def turn(self, conversation: Conversation, step: Step) -> tuple[TurnEndedEvent, list[Event]]:
        """Run one turn; its end and the events it produced."""
        if self.profile.uses_server:
            self.server.script(*step.replies)
        start = len(conversation.state.events)
        ended = self.bounded(conversation.run, step.prompt, timeout=TURN_TIMEOUT)
        assert isinstance(ended, TurnEndedEvent)
        with conversation.state:
            return ended, list(conversation.state.events[start:])

    def close(self, conversation: Conversation) -> None:
        self.bounded(conversation.close, timeout=CLOSE_TIMEOUT)

    def finish(self) -> None:
        for conversation in self.conversations:
            self.close(conversation)
        for agent in self.agents:
            observe(self.profile.label, **agent.facts())


@pytest.fixture
def host(
    profile: Profile,
    tmp_path: Path,
    workspace: Path,
    server: ModelServer,
    bounded: Callable[..., Any],
) -> Iterator[Host]:
    made = Host(profile, tmp_path, workspace, server, bounded)
    yield made
    made.finish()


# --- helpers ----------------------------------------------------------------------------


def tool_calls(events: list[Event]) -> dict[str, ToolCallEvent]:
    """The last snapshot of each tool call among ``events``."""
    calls: dict[str, ToolCallEvent] = {}
    for event in events:
        if isinstance(event, ToolCallEvent):
            calls[event.tool_call_id] = event
    return calls


def agent_text(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, AgentMessageEvent))


def tool_text(call: ToolCallEvent) -> str:
    return json.dumps([call.content, call.raw_output], ensure_ascii=False)


def the_tool_call(events: list[Event]) -> ToolCallEvent:
    calls = [c for c in tool_calls(events).values() if not c.synthetic]
    assert len(calls) == 1, calls
    return calls[0]


def seen_by_model(server: ModelServer, marker: str) -> bool:
    """Did a tool result holding ``marker`` go back to the model?"""
    return any(marker in "\n".join(r.tool_results()) for r in server.api_requests())


def settled(conversation: Conversation) -> None:
    """Nothing is left running: no pending/in-progress tool call, no pending permission."""
    with conversation.state:
        running = {
            c.tool_call_id: c.status
            for c in conversation.state.tool_calls.values()
            if c.status in ("pending", "in_progress")
        }
        assert not running, running
        assert not conversation.state.pending_permissions


# --- the tests --------------------------------------------------------------------------


def test_read_then_shell_in_one_session(
    host: Host, workspace: Path, check_log: Callable[[Conversation], list[Event]]
) -> None:
    """Two turns in one session: one reads a file, one runs a shell command."""
    marker = f"marker-{uuid.uuid4().hex[:12]}"
    notes = workspace / "notes.txt"
    notes.write_text(f"The secret is {marker}.\n")
    conversation = host.open(permission="allow")

    ended, events = host.turn(conversation, host.profile.read(notes, workspace))
    assert ended.stop_reason == "end_turn"
    call = the_tool_call(events)
    assert call.status == "completed", call
    if host.profile.uses_server:
        assert seen_by_model(host.server, marker)
        assert FINAL_TEXT in agent_text(events)
    else:
        assert marker in tool_text(call)
    session_id = conversation.state.session_id

    token = uuid.uuid4().hex[:8]
    ended, events = host.turn(conversation, host.profile.shell(f"echo shell-$((6*7))-{token}"))
    assert ended.stop_reason == "end_turn"
    call = the_tool_call(events)
    assert call.status == "completed", call
    output = f"shell-42-{token}"
    if host.profile.uses_server:
        assert seen_by_model(host.server, output)
        # Same session: the second request carries the first turn (its secret) as history.
        last = host.server.api_requests()[-1]
        assert marker in last.text()
    else:
        assert output in tool_text(call)
    assert conversation.state.session_id == session_id
    assert conversation.state.turns == 2
    settled(conversation)
    log = check_log(conversation)

    turn_usage = [e.usage for e in log if isinstance(e, TurnEndedEvent) and e.usage]
    usage_events = [e for e in log if isinstance(e, UsageEvent)]
    costs = [e.cost for e in usage_events if e.cost is not None]
    observe(
        host.profile.label,
        usage={
            "prompt_response_usage": bool(turn_usage),
            "usage_update": bool(usage_events),
            "cost": bool(costs),
        },
        tool_kinds={c.tool_kind or "-" for c in tool_calls(log).values()},
        modes={
            "current": conversation.state.mode_id,
            "available": [m.get("id") for m in conversation.state.modes],
        },
        checks={"read": "passed", "shell": "passed", "two_turns": "passed"},
    )
    if host.profile.family == "claude":
        assert turn_usage
        assert costs
        assert conversation.state.cost is not None
        assert conversation.state.cost > 0
    if host.profile.family == "codex":
        assert turn_usage
        assert turn_usage[0].input_tokens > 0


def test_write_allowed(
    host: Host, workspace: Path, check_log: Callable[[Conversation], list[Event]]
) -> None:
    target = workspace / "allowed.txt"
    content = f"written {uuid.uuid4().hex}\n"
    conversation = host.open(permission="allow")
    ended, events = host.turn(conversation, host.profile.write(target, workspace, content))
    assert ended.stop_reason == "end_turn"
    asked = [e for e in events if isinstance(e, PermissionRequestedEvent)]
    decided = [e for e in events if isinstance(e, PermissionDecidedEvent)]
    # Allowing everything selects no mode: an agent that starts in `auto` writes unasked.
    assert bool(asked) == host.profile.asks_when_allowed, asked
    assert len(decided) == len(asked)
    assert all(d.decision.startswith("allow") for d in decided), decided
    assert target.read_text() == content
    call = the_tool_call(events)
    assert call.status == "completed", call
    settled(conversation)
    check_log(conversation)
    observe(
        host.profile.label,
        permission_option_kinds={o.get("kind") for e in asked for o in e.options},
        tool_kinds={c.tool_kind or "-" for c in tool_calls(events).values()},
        checks={"write_allowed": "passed"},
    )


def test_write_denied(
    host: Host, workspace: Path, check_log: Callable[[Conversation], list[Event]]
) -> None:
    target = workspace / "denied.txt"
    conversation = host.open(permission="deny")
    ended, events = host.turn(conversation, host.profile.write(target, workspace, "must not be"))
    # Codex's only "no" is "No, and tell Codex what to do differently": it ends the turn.
    assert ended.stop_reason == ("cancelled" if host.profile.family == "codex" else "end_turn")
    asked = [e for e in events if isinstance(e, PermissionRequestedEvent)]
    decided = [e for e in events if isinstance(e, PermissionDecidedEvent)]
    assert asked
    assert decided
    assert all(d.decision.startswith("reject") for d in decided), decided
    assert not target.exists()
    for call in tool_calls(events).values():
        assert call.status != "completed" or call.synthetic, call
    settled(conversation)
    log = check_log(conversation)
    entry = BUILTIN_AGENTS[host.profile.entry]
    chosen = [e for e in log if isinstance(e, PermissionModeEvent)]
    started_in = next(
        (e.modes or {}).get("currentModeId") for e in log if isinstance(e, SessionEvent)
    )
    assert bool(chosen) or host.profile.asks_when_allowed  # an `auto` agent was made to ask
    if entry.ask_mode and started_in != entry.ask_mode:
        # The policy decides, so acphost selected the mode in which the agent asks, and said so.
        assert [(e.mode_id, e.can_ask) for e in chosen] == [(entry.ask_mode, True)], chosen
        assert conversation.state.mode_id == entry.ask_mode
    observe(
        host.profile.label,
        asking_mode={"started_in": started_in, "selected": chosen[0].mode_id if chosen else None},
        denied_stop_reason=ended.stop_reason,
        permission_option_kinds={o.get("kind") for e in asked for o in e.options},
        checks={"write_denied": "passed"},
    )


def test_cancel_during_a_slow_turn(
    host: Host, check_log: Callable[[Conversation], list[Event]]
) -> None:
    """Cancel while the model is thinking: the turn ends ``cancelled``, the conversation is
    paused with nothing left running, and the next turn works."""
    conversation = host.open(permission="allow", slow=True)
    stall = TextReply(text="too late", delay=SLOW)
    if host.profile.uses_server:
        host.server.script(stall)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        running = pool.submit(conversation.run, "Take your time and think hard.")
        # Wait for the prompt to be in flight: an interrupt while the agent is still
        # starting is not what this test is about.
        deadline = time.monotonic() + TURN_TIMEOUT
        while not any(isinstance(e, SessionEvent) for e in list(conversation.state.events)):
            assert time.monotonic() < deadline, "the agent never started its session"
            assert not running.done(), running.result()
            time.sleep(0.05)
        if host.profile.uses_server:
            assert stall.served.wait(TURN_TIMEOUT), "the model was never asked"
        time.sleep(0.5)  # fast-agent's "slow" model waits 3 s before answering
        assert not running.done()
        cancelled_at = time.monotonic()
        conversation.interrupt()
        ended = running.result(timeout=TURN_TIMEOUT)
        took = time.monotonic() - cancelled_at
    assert isinstance(ended, TurnEndedEvent)
    assert ended.stop_reason == "cancelled"
    assert conversation.state.status == "paused"
    settled(conversation)
    aborted = None
    if host.profile.uses_server:
        stalled = host.server.wait_for(lambda r: r.reply.get("text") == "too late", timeout=1)
        deadline = time.monotonic() + 5
        while not stalled.client_gone and time.monotonic() < deadline:
            time.sleep(0.05)
        aborted = stalled.client_gone
    # Was it the agent that answered the cancel, or did acphost have to stop it?
    restarted = host.agents[-1].connection is None or not host.agents[-1].alive

    ended, events = host.turn(conversation, host.profile.say("still here"))
    assert ended.stop_reason == "end_turn"
    assert "still here" in agent_text(events)
    check_log(conversation)
    observe(
        host.profile.label,
        cancel={
            "stop_reason": "cancelled",
            "seconds": round(took, 1),
            "model_request_aborted": aborted,
            "agent_stopped_by_host": restarted,
        },
        checks={"cancel": "passed"},
    )


@pytest.mark.parametrize(
    "profile", [p for p in PROFILES if p.steers], indirect=True, ids=lambda p: p.label
)
def test_steer_a_running_turn(host: Host, check_log: Callable[[Conversation], list[Event]]) -> None:
    """A message steered in while the model thinks joins the running turn: the model gets it
    in that turn, and the log has it as the turn's user message, marked steered."""
    conversation = host.open(permission="allow")
    token = f"steer-{uuid.uuid4().hex[:10]}"
    hold = threading.Event()
    first = TextReply(text="first answer", hold=hold)
    host.server.script(first, TextReply(text="steered answer"))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        running = pool.submit(conversation.run, "Just reply: first answer")
        try:
            assert first.served.wait(TURN_TIMEOUT), "the model was never asked"
            steered = host.bounded(conversation.steer, f"Also mention {token}")
        finally:
            hold.set()
        ended = running.result(timeout=TURN_TIMEOUT)
    assert isinstance(ended, TurnEndedEvent)
    assert ended.stop_reason == "end_turn"
    assert steered.steered
    assert steered.turn == ended.turn == 1
    assert conversation.state.turns == 1  # it joined the turn: nothing queued for a next one
    assert any(token in r.text() for r in host.server.api_requests()), "the model never saw it"
    log = check_log(conversation)
    assert "steered answer" in agent_text([e for e in log if e.turn == 1])
    observe(host.profile.label, checks={"steer": "passed"})


# A host process: start (or resume) a conversation, run one turn, report it as JSON. With
# --crash it is SIGKILLed right after, as a host that dies would be (its watchdog then stops
# the agent); otherwise it closes the conversation.
HOST = r"""
import json, os, signal, sys
from pathlib import Path
tests, label, tmp, workspace, base_url, store, prompt, resume_id, crash = sys.argv[1:]
sys.path.insert(0, tests)
from agents import PROFILES
from acphost.conversation import Conversation
profile = next(p for p in PROFILES if p.label == label)
agent = profile.agent(Path(tmp), base_url or None)
options = dict(store=store, agent=agent, permission="allow", idle_timeout=90)
if resume_id:
    conversation = Conversation.resume(resume_id, **options)
else:
    conversation = Conversation(options.pop("agent"), workspace, **options)
turns_before = conversation.state.turns
start = len(conversation.state.events)
ended = conversation.run(prompt)
caps = agent.connection.capabilities
report = {
    "id": conversation.id,
    "turns_before": turns_before,
    "session_id": conversation.state.session_id,
    "stop_reason": ended.stop_reason,
    "events": [e.model_dump(mode="json") for e in conversation.state.events[start:]],
    "load": bool(caps.load_session),
    "resume": bool(caps.session_capabilities and caps.session_capabilities.resume),
}
print(json.dumps(report), flush=True)
if crash == "1":
    os.kill(os.getpid(), signal.SIGKILL)
conversation.close()
"""


def run_host(
    host: Host, prompt: str, *, resume_id: str = "", crash: bool = False
) -> dict[str, Any]:
    """Run one turn in a separate host process; its report."""
    import subprocess
    import sys

    argv = [
        sys.executable,
        "-c",
        HOST,
        str(Path(__file__).parent),
        host.profile.label,
        str(host.tmp_path),
        str(host.workspace),
        host.server.base_url if host.profile.uses_server else "",
        str(host.store),
        prompt,
        resume_id,
        "1" if crash else "0",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=TURN_TIMEOUT + 30)
    assert done.stdout.strip(), f"the host printed nothing (exit {done.returncode}): {done.stderr}"
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def test_resume_after_host_restart(host: Host) -> None:
    """The host dies (SIGKILL) after a turn; a new host process rebuilds the conversation
    from the store and picks the agent's session up again (session/resume or session/load)
    with its context."""
    token = f"token-{uuid.uuid4().hex[:10]}"
    step = host.profile.say(f"noted {token}")
    host.server.script(*step.replies)
    first = run_host(host, f"Remember {token}. {step.prompt}", crash=True)
    assert first["stop_reason"] == "end_turn"

    step = host.profile.say("back again")
    host.server.script(*step.replies)
    second = run_host(host, step.prompt, resume_id=first["id"])
    assert second["turns_before"] == 1  # the state was rebuilt from the store
    assert second["stop_reason"] == "end_turn"
    starts = ("session_started", "session_loaded", "session_resumed", "session_restarted")
    (session,) = [e for e in second["events"] if e["kind"] in starts]
    how = session["kind"].removeprefix("session_")
    if first["load"] or first["resume"]:
        assert how == ("resumed" if first["resume"] else "loaded"), session
        assert session["session_id"] == first["session_id"]
        assert session["context_restored"]
        if host.profile.uses_server:
            # the resumed turn's model call carries the first turn; the agent's side calls
            # (Claude Code names the session in one) may come after it
            told = [r.text() for r in host.server.api_requests() if "back again" in r.text()]
            assert any(token in text for text in told), "the context was lost"
    else:
        assert how == "restarted"
        assert not session["context_restored"]
    assert "back again" in "".join(
        e["text"] for e in second["events"] if e["kind"] == "agent_message"
    )
    observe(host.profile.label, resume=how, checks={"resume": "passed"})


@pytest.mark.parametrize("label", ["claude", "claude-node22", "codex", "kimi"])
def test_missing_credentials_raise_auth_required(
    label: str, tmp_path: Path, workspace: Path, bounded: Callable[..., Any]
) -> None:
    """Without credentials the agent's own auth error arrives as a typed AuthRequired."""
    chosen = next(p for p in PROFILES if p.label == label)
    try:
        chosen.locate()
    except AgentUnavailable as exc:
        require(label, exc)
    with ModelServer() as server:
        agent = chosen.agent(tmp_path, server.base_url, credentials=False, cls=RecordingAgent)
        conversation = Conversation(agent, workspace, store=tmp_path / "db.sqlite")
        try:
            with pytest.raises(AuthRequired) as caught:
                bounded(conversation.run, "hello", timeout=TURN_TIMEOUT)
        finally:
            bounded(conversation.close, timeout=CLOSE_TIMEOUT)
    error = caught.value
    observe(
        label,
        auth_error={"message": error.message[:200], "hint": error.hint[:200]},
        checks={"auth_required": "passed"},
    )
    assert isinstance(agent, RecordingAgent)
    observe(label, **agent.facts())
