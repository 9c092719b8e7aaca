"""A scriptable fake ACP agent for tests: real subprocess, real stdio, no LLM.

Build a :class:`Scenario` (or write a Python scenario taking a :class:`FakeAgentContext`),
turn it into an argv with :func:`fake_agent_command`, and start it like any agent::

    scenario = Scenario("hello").turn().text("hi").tool_call("t1", title="Read").stop()
    argv = fake_agent_command(scenario, directory=tmp_path)

The agent itself (``python -m acphost.testing.fake_agent``) imports only the standard
library and orjson, so it starts fast and never shares code paths with the host it tests.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from ._context import FakeAgentContext
from ._model_server import ModelRequest, ModelServer, ScriptedReply, TextReply, ToolCallReply
from ._results import (
    DEFAULT_PERMISSION_OPTIONS,
    CapabilityMissing,
    ClientRequestError,
    PermissionOutcome,
    TerminalResult,
    TurnCancelled,
)
from ._scenario import (
    Scenario,
    boolean_option,
    diff_content,
    scenario_settings,
    select_option,
    session_modes,
    terminal_content,
    text_content,
)
from ._settings import DEFAULT_SETTINGS, ScenarioError

__all__ = (
    "BUILTIN_SCENARIOS",
    "DEFAULT_PERMISSION_OPTIONS",
    "DEFAULT_SETTINGS",
    "CapabilityMissing",
    "ClientRequestError",
    "FakeAgentContext",
    "ModelRequest",
    "ModelServer",
    "PermissionOutcome",
    "Scenario",
    "ScenarioError",
    "ScriptedReply",
    "TerminalResult",
    "TextReply",
    "ToolCallReply",
    "TurnCancelled",
    "boolean_option",
    "diff_content",
    "fake_agent_command",
    "scenario_settings",
    "select_option",
    "session_modes",
    "terminal_content",
    "text_content",
)

BUILTIN_SCENARIOS = ("demo", "echo")
"""Scenarios the fake agent runs by name (``fake_agent_command("demo")``)."""

FAKE_AGENT_MODULE = "acphost.testing.fake_agent"


def fake_agent_command(
    scenario: Scenario | Mapping[str, Any] | str | os.PathLike[str],
    *,
    state_dir: str | os.PathLike[str] | None = None,
    python: str = sys.executable,
    directory: str | os.PathLike[str] | None = None,
) -> list[str]:
    """The argv that starts the fake agent on ``scenario``.

    A :class:`Scenario` or a document mapping is written to a JSON file in ``directory``
    (default: the system temp dir; pass a test's tmp dir to avoid leftovers). Strings are
    passed through: a ``.json`` path, ``module:function``, ``file.py:function``, ``demo``
    or ``echo``.
    """
    if isinstance(scenario, Scenario | Mapping):
        doc = scenario.to_dict() if isinstance(scenario, Scenario) else dict(scenario)
        fd, name = tempfile.mkstemp(prefix="fake-agent-", suffix=".json", dir=directory)
        with os.fdopen(fd, "wb") as handle:
            handle.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        target = name
    else:
        target = os.fspath(scenario)
    argv = [python, "-m", FAKE_AGENT_MODULE, target]
    if state_dir is not None:
        argv += ["--state-dir", str(Path(state_dir))]
    return argv
