"""A scriptable fake ACP agent for tests: real subprocess, real stdio, no LLM.

Build a :class:`Scenario` (or write a Python scenario taking a :class:`FakeAgentContext`),
turn it into an argv with :func:`fake_agent_command`, and start it like any agent::

    scenario = Scenario("hello").turn().text("hi").tool_call("t1", title="Read").stop()
    argv = fake_agent_command(scenario, directory=tmp_path)

The agent itself (``python -m acphost.testing.fake_agent``) imports only the standard
library and orjson, so it starts fast and never shares code paths with the host it tests.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from ._context import FakeAgentContext
from ._model_server import ModelRequest, ModelServer, ScriptedReply, TextReply, ToolCallReply
from ._payloads import (
    boolean_option,
    diff_content,
    select_option,
    session_modes,
    terminal_content,
    text_content,
)
from ._results import (
    DEFAULT_PERMISSION_OPTIONS,
    CapabilityMissing,
    ClientRequestError,
    PermissionOutcome,
    TerminalResult,
    TurnCancelled,
)
from ._scenario import Scenario, scenario_settings
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
    (default: the system temp dir), named by its content: calling again with the same
    scenario reuses the file instead of leaving one more behind. Strings are passed through:
    a ``.json`` path, ``module:function``, ``file.py:function``, ``demo`` or ``echo``.
    """
    if isinstance(scenario, Scenario | Mapping):
        doc = scenario.to_dict() if isinstance(scenario, Scenario) else dict(scenario)
        data = orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        folder = Path(directory) if directory is not None else Path(tempfile.gettempdir())
        target = str(folder / f"fake-agent-{hashlib.sha256(data).hexdigest()[:16]}.json")
        if not os.path.exists(target):
            fd, partial = tempfile.mkstemp(prefix=".fake-agent-", dir=folder)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(partial, target)  # atomic: a concurrent caller sees all or nothing
    else:
        target = os.fspath(scenario)
    argv = [python, "-m", FAKE_AGENT_MODULE, target]
    if state_dir is not None:
        argv += ["--state-dir", str(Path(state_dir))]
    return argv
