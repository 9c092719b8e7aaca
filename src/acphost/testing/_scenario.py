"""The :class:`Scenario` builder: a fluent way to write fake-agent scenario documents.

The builder only produces JSON (validated by the same rules the agent applies), so a
scenario written in a test is exactly the file the fake-agent process will run.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson

from ._settings import FORMAT_VERSION, normalize, validate_document

__all__ = ("Scenario", "scenario_settings")

F = TypeVar("F", bound=Callable[..., Any])


def scenario_settings(**settings: Any) -> Callable[[F], F]:
    """Attach scenario settings (``load_session=...``, ``modes=...``) to a Python scenario."""

    def attach(function: F) -> F:
        function.fake_agent_settings = dict(settings)  # type: ignore[attr-defined]
        return function

    return attach


class Scenario:
    """Fluent scenario builder: settings in the constructor, then ``turn()`` and steps.

    Each step method appends to the current turn (``turn()`` starts the script for the
    next prompt; steps before any ``turn()`` go to the first one) and returns ``self``.
    Every update step accepts ``meta`` (sent as ``_meta`` on the update).
    """

    def __init__(
        self,
        name: str = "scenario",
        *,
        load_session: bool = True,
        auth_required: bool = False,
        auth_methods: Sequence[Mapping[str, Any]] | None = None,
        modes: Mapping[str, Any] | None = None,
        config_options: Sequence[Mapping[str, Any]] | None = None,
        ignore_cancel: bool = False,
        string_ids: bool = False,
        after_last_turn: Literal["repeat", "echo", "end_turn"] = "repeat",
        agent_info: Mapping[str, Any] | None = None,
        prompt_capabilities: Mapping[str, Any] | None = None,
        mcp_capabilities: Mapping[str, Any] | None = None,
        session_capabilities: Mapping[str, Any] | None = None,
        python: str | None = None,
        **settings: Any,
    ) -> None:
        given: dict[str, Any] = {
            "name": name,
            "load_session": load_session,
            "auth_required": auth_required,
            "auth_methods": auth_methods,
            "modes": modes,
            "config_options": config_options,
            "ignore_cancel": ignore_cancel,
            "string_ids": string_ids,
            "after_last_turn": after_last_turn,
            "agent_info": agent_info,
            "prompt_capabilities": prompt_capabilities,
            "mcp_capabilities": mcp_capabilities,
            "session_capabilities": session_capabilities,
            "python": python,
            **settings,
        }
        self.settings: dict[str, Any] = {
            k: copy.deepcopy(v) for k, v in given.items() if v is not None
        }
        self.turns: list[list[dict[str, Any]]] = []
        validate_document(self.to_dict())

    # -- structure -----------------------------------------------------------------------
    def turn(self) -> Scenario:
        """Start the steps for the next ``session/prompt``."""
        self.turns.append([])
        return self

    def step(self, type: str, **fields: Any) -> Scenario:
        """Append any step; ``None`` fields are dropped. The named methods are shortcuts."""
        if not self.turns:
            self.turns.append([])
        step = {"type": type, **{k: v for k, v in fields.items() if v is not None}}
        validate_document({"turns": [[step]]})
        self.turns[-1].append(step)
        return self

    # -- updates -------------------------------------------------------------------------
    def text(self, text: str, *, chunks: int | None = None, meta: Any = None) -> Scenario:
        """Answer text (``agent_message_chunk``); ``$prompt``/``${saved}`` are substituted."""
        return self.step("text", text=text, chunks=chunks, meta=meta)

    def thought(self, text: str, *, chunks: int | None = None, meta: Any = None) -> Scenario:
        """Stream a thought (``agent_thought_chunk``), optionally in ``chunks`` pieces."""
        return self.step("thought", text=text, chunks=chunks, meta=meta)

    def user_text(self, text: str, *, meta: Any = None) -> Scenario:
        """Send a ``user_message_chunk`` (as an agent replaying history does)."""
        return self.step("user_text", text=text, meta=meta)

    def echo_prompt(self, *, chunks: int | None = None) -> Scenario:
        """Answer with the prompt's text, streamed in ``chunks`` pieces."""
        return self.step("echo_prompt", chunks=chunks)

    def report(self) -> Scenario:
        """Answer with a JSON report of cwd, mcpServers, client capabilities, failures..."""
        return self.step("report")

    def tool_call(
        self,
        tool_call_id: str,
        *,
        title: str,
        kind: str | None = None,
        status: str | None = None,
        content: Sequence[Any] | None = None,
        locations: Sequence[Any] | None = None,
        raw_input: Any = None,
        name: str | None = None,
        meta: Any = None,
    ) -> Scenario:
        """Start a tool call (``tool_call``) with this id, title, kind, status and content;
        ``name`` is the tool's programmatic name (``read_file``)."""
        return self.step(
            "tool_call",
            tool_call_id=tool_call_id,
            name=name,
            title=title,
            kind=kind,
            status=status,
            content=content,
            locations=locations,
            raw_input=raw_input,
            meta=meta,
        )

    def tool_update(
        self,
        tool_call_id: str,
        *,
        status: str | None = None,
        title: str | None = None,
        kind: str | None = None,
        content: Sequence[Any] | None = None,
        locations: Sequence[Any] | None = None,
        raw_output: Any = None,
        meta: Any = None,
    ) -> Scenario:
        """Update a tool call (``tool_call_update``): only the fields given change."""
        return self.step(
            "tool_update",
            tool_call_id=tool_call_id,
            status=status,
            title=title,
            kind=kind,
            content=content,
            locations=locations,
            raw_output=raw_output,
            meta=meta,
        )

    def plan(self, entries: Sequence[Mapping[str, Any] | str], *, meta: Any = None) -> Scenario:
        """Send a plan; a string entry becomes a pending entry of medium priority."""
        return self.step("plan", entries=list(entries), meta=meta)

    def mode(self, mode_id: str, *, meta: Any = None) -> Scenario:
        """Switch the session's mode (``current_mode_update``)."""
        return self.step("mode", mode_id=mode_id, meta=meta)

    def config_update(
        self, config_options: Sequence[Mapping[str, Any]] | None = None, *, meta: Any = None
    ) -> Scenario:
        """Send ``config_option_update``: these options, or the session's current ones again."""
        return self.step("config_update", config_options=config_options, meta=meta)

    def session_info(
        self, *, title: str | None = None, updated_at: str | None = None, meta: Any = None
    ) -> Scenario:
        """Send ``session_info_update`` (a title, an update time)."""
        return self.step("session_info", title=title, updated_at=updated_at, meta=meta)

    def usage(
        self,
        *,
        used: int,
        size: int,
        cost: float | Mapping[str, Any] | None = None,
        meta: Any = None,
    ) -> Scenario:
        """A ``usage_update``; a float cost means USD."""
        return self.step("usage", used=used, size=size, cost=cost, meta=meta)

    def commands(self, commands: Sequence[Mapping[str, Any]], *, meta: Any = None) -> Scenario:
        """Offer slash commands (``available_commands_update``)."""
        return self.step("commands", commands=list(commands), meta=meta)

    def notice(
        self,
        title: str,
        *,
        severity: str = "info",
        description: str | None = None,
        meta: Any = None,
    ) -> Scenario:
        """Tell the user something beside the conversation (a ``notice`` update)."""
        return self.step(
            "notice", title=title, severity=severity, description=description, meta=meta
        )

    def compaction(
        self,
        compaction_id: str,
        status: str,
        *,
        summary: str | Sequence[Mapping[str, Any]] | None = None,
        error: str | None = None,
        meta: Any = None,
    ) -> Scenario:
        """A ``compaction_update`` (needs the client's ``session.compaction``); a string
        ``summary`` is one text block."""
        summary_json = summary if summary is None or isinstance(summary, str) else list(summary)
        return self.step(
            "compaction",
            compaction_id=compaction_id,
            status=status,
            summary=summary_json,
            error=error,
            meta=meta,
        )

    def compaction_summary(
        self, compaction_id: str, text: str, *, chunks: int | None = None, meta: Any = None
    ) -> Scenario:
        """Stream a compaction's summary as ``compaction_summary_chunk`` updates."""
        return self.step(
            "compaction_summary", compaction_id=compaction_id, text=text, chunks=chunks, meta=meta
        )

    def raw_update(
        self, update: Mapping[str, Any], *, meta: Any = None, session_id: str | None = None
    ) -> Scenario:
        """Any ``session/update`` body, e.g. an unknown ``sessionUpdate`` kind; ``session_id``
        sends it as another session (a subagent's)."""
        return self.step("raw_update", update=dict(update), meta=meta, session_id=session_id)

    def subagent(
        self,
        subagent_session_id: str,
        *,
        name: str | None = None,
        task: str | None = None,
        capabilities: Mapping[str, Any] | None = None,
        meta: Any = None,
    ) -> Scenario:
        """Announce a subagent (``subagent_spawned``, unstable)."""
        return self.step(
            "subagent",
            subagent_session_id=subagent_session_id,
            name=name,
            task=task,
            capabilities=dict(capabilities) if capabilities is not None else None,
            meta=meta,
        )

    def subagent_state(self, subagent_session_id: str, state: str, *, meta: Any = None) -> Scenario:
        """A subagent ended (``subagent_state_update``: completed, failed or cancelled)."""
        return self.step(
            "subagent_state", subagent_session_id=subagent_session_id, state=state, meta=meta
        )

    # -- client requests -----------------------------------------------------------------
    def permission(
        self,
        tool_call_id: str,
        *,
        title: str | None = None,
        options: Sequence[Mapping[str, Any]] | None = None,
        expect: str | Sequence[str] | None = None,
        otherwise: str | None = None,
        then: Scenario | Sequence[Mapping[str, Any]] | None = None,
        else_: Scenario | Sequence[Mapping[str, Any]] | None = None,
        cancel_request_after: float | None = None,
        echo_result: bool | None = None,
        save_as: str | None = None,
        session_id: str | None = None,
    ) -> Scenario:
        """``session/request_permission`` (as ``session_id``: a subagent's). ``expect``
        (option id, kind, ``selected:<id>``, ``allowed``, ``rejected`` or ``cancelled``)
        unmet → ``otherwise``: ``error`` (default: the prompt fails), ``continue`` (only
        recorded) or a stop reason.
        ``then``/``else_`` steps run when allowed / not allowed."""
        return self.step(
            "permission",
            tool_call_id=tool_call_id,
            title=title,
            options=list(options) if options is not None else None,
            expect=expect if expect is None or isinstance(expect, str) else list(expect),
            otherwise=otherwise,
            then=_steps_of(then),
            cancel_request_after=cancel_request_after,
            echo_result=echo_result,
            save_as=save_as,
            session_id=session_id,
            **{"else": _steps_of(else_)},
        )

    def read_file(
        self,
        path: str,
        *,
        line: int | None = None,
        limit: int | None = None,
        echo_result: bool | None = None,
        save_as: str | None = None,
    ) -> Scenario:
        """Call ``fs/read_text_file``; ``echo_result`` says it, ``save_as`` keeps it"""
        return self.step(
            "read_file", path=path, line=line, limit=limit, echo_result=echo_result, save_as=save_as
        )

    def write_file(self, path: str, content: str, *, echo_result: bool | None = None) -> Scenario:
        """Call the client's ``fs/write_text_file``."""
        return self.step("write_file", path=path, content=content, echo_result=echo_result)

    def terminal(
        self,
        command: str,
        args: Sequence[str] | None = None,
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        output_byte_limit: int | None = None,
        tool_call_id: str | None = None,
        echo_result: bool | None = None,
        save_as: str | None = None,
    ) -> Scenario:
        """create → wait_for_exit → output → release; ``"ls -la"`` without args is split."""
        return self.step(
            "terminal",
            command=command,
            args=list(args) if args is not None else None,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            output_byte_limit=output_byte_limit,
            tool_call_id=tool_call_id,
            echo_result=echo_result,
            save_as=save_as,
        )

    def elicitation(
        self,
        message: str,
        schema: Mapping[str, Any] | None = None,
        *,
        url: str | None = None,
        elicitation_id: str | None = None,
        tool_call_id: str | None = None,
        complete: bool = False,
        echo_result: bool | None = None,
        save_as: str | None = None,
    ) -> Scenario:
        """Ask the user for input and wait for the answer: a form with this flat JSON
        ``schema``, or (with ``url``) consent to open a URL; ``complete`` then sends
        ``elicitation/complete`` for an accepted URL, as if its interaction finished."""
        return self.step(
            "elicitation",
            message=message,
            schema=schema,
            url=url,
            elicitation_id=elicitation_id,
            tool_call_id=tool_call_id,
            complete=complete or None,
            echo_result=echo_result,
            save_as=save_as,
        )

    def request(
        self,
        method: str,
        params: Any = None,
        *,
        cancel_request_after: float | None = None,
        echo_result: bool | None = None,
        save_as: str | None = None,
    ) -> Scenario:
        """Any request to the client (result or error saved / echoed)."""
        return self.step(
            "request",
            method=method,
            params=params,
            cancel_request_after=cancel_request_after,
            echo_result=echo_result,
            save_as=save_as,
        )

    def notify(self, method: str, params: Any = None) -> Scenario:
        """Any notification (extension methods start with ``_``)."""
        return self.step("notify", method=method, params=params)

    # -- time, faults, ending ------------------------------------------------------------
    def sleep(self, seconds: float) -> Scenario:
        """Pause; a honoured ``session/cancel`` cuts it short."""
        return self.step("sleep", seconds=seconds)

    def stderr(self, text: str) -> Scenario:
        """Write ``text`` to the agent's stderr."""
        return self.step("stderr", text=text)

    def stderr_flood(self, bytes: int) -> Scenario:
        """Write this many bytes to stderr at once: a client that does not drain it blocks."""
        return self.step("stderr_flood", bytes=bytes)

    def crash(self, exit_code: int = 1) -> Scenario:
        """Exit the agent process now with ``exit_code``, mid-turn."""
        return self.step("crash", exit_code=exit_code)

    def malformed(self, text: str = "this is not json") -> Scenario:
        """Write a line that is not JSON-RPC on stdout."""
        return self.step("malformed", text=text)

    def huge_line(self, bytes: int) -> Scenario:
        """Send one ``agent_message_chunk`` whose text is ``bytes`` long (a line of any size)."""
        return self.step("huge_line", bytes=bytes)

    def storm(self, kind: Literal["agent_message_chunk", "tool_call"], count: int) -> Scenario:
        """Send ``count`` updates of ``kind`` as fast as possible (for load tests, benchmarks)."""
        return self.step("storm", kind=kind, count=count)

    def stop(
        self, reason: str = "end_turn", *, usage: Mapping[str, Any] | None = None, meta: Any = None
    ) -> Scenario:
        """End the turn with this stop reason (and the prompt response's ``usage``/``_meta``)."""
        usage_dict = dict(usage) if usage is not None else None
        return self.step("stop", reason=reason, usage=usage_dict, meta=meta)

    def fail(self, message: str, *, code: int = -32603, data: Any = None) -> Scenario:
        """Answer the prompt with a JSON-RPC error."""
        return self.step("fail", message=message, code=code, data=data)

    # -- serialization -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The scenario as a JSON-ready document (see docs/fake-agent.md for its format)."""
        return {
            "format": FORMAT_VERSION,
            **copy.deepcopy(self.settings),
            "turns": [{"steps": copy.deepcopy(t)} for t in self.turns],
        }

    def to_json(self, *, indent: bool = True) -> str:
        """The scenario as JSON text."""
        option = orjson.OPT_INDENT_2 if indent else 0
        return orjson.dumps(self.to_dict(), option=option).decode()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the scenario as JSON to ``path``; returns the path."""
        target = Path(path)
        target.write_text(self.to_json() + "\n", encoding="utf-8")
        return target

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Scenario:
        """A scenario from its document (validated: a bad one raises ``ScenarioError``)."""
        normalize(doc)  # validates
        scenario = cls.__new__(cls)
        scenario.settings = {
            k: copy.deepcopy(v) for k, v in doc.items() if k not in ("turns", "format")
        }
        scenario.turns = [
            [dict(s) for s in (t.get("steps", []) if isinstance(t, Mapping) else t)]
            for t in doc.get("turns", [])
        ]
        return scenario

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Scenario:
        """A scenario from a JSON file."""
        return cls.from_dict(orjson.loads(Path(path).read_bytes()))

    def __repr__(self) -> str:
        return f"Scenario({self.settings.get('name', 'scenario')!r}, turns={len(self.turns)})"


def _steps_of(value: Scenario | Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Branch steps may be given as a throw-away Scenario's single turn or a step list."""
    if value is None:
        return None
    if isinstance(value, Scenario):
        return [s for turn in value.turns for s in turn]
    return [dict(s) for s in value]
