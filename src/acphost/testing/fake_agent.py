"""A scriptable fake ACP agent: ``python -m acphost.testing.fake_agent SCENARIO [--state-dir DIR]``.

SCENARIO is a ``.json`` scenario document, ``package.module:function`` or
``path/to/file.py:function`` naming a Python scenario (``async def f(ctx, prompt)``), or a
built-in name (``demo``, ``echo``). It speaks ACP v1 over stdin/stdout and logs to stderr,
importing nothing but the standard library and orjson so it starts fast and stays
independent of the host under test.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib
import importlib.util
import inspect
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import orjson

from ._agent import FakeAgent
from ._fake_login import LOGIN_ARG, login
from ._fake_protocol import Peer
from ._fake_turn import ScenarioFunction
from ._settings import ScenarioError, normalize

BUILTIN_SCENARIOS: dict[str, str] = {
    "demo": "acphost.testing._demo:demo",
    "echo": "acphost.testing._demo:echo",
}


def load_function(ref: str, base: Path | None = None) -> tuple[ScenarioFunction, dict[str, Any]]:
    """Resolve ``module:function`` or ``file.py:function``; also return its attached settings.

    A Python scenario may carry scenario settings in a ``fake_agent_settings`` attribute
    (see :func:`acphost.testing.scenario_settings`).
    """
    target, sep, name = ref.rpartition(":")
    if not sep or not target or not name.isidentifier():
        raise ScenarioError(f"expected module:function or file.py:function, got {ref!r}")
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = Path(target)
        if not path.is_absolute() and base is not None and (base / path).is_file():
            path = base / path  # relative to the scenario document, else to the cwd
        if not path.is_file():
            raise ScenarioError(f"scenario file not found: {path}")
        module_name = (
            "_fake_scenario_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
        )
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ScenarioError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise ScenarioError(f"cannot import {target}: {exc}") from exc
    function = getattr(module, name, None)
    if function is None or not inspect.iscoroutinefunction(function):
        raise ScenarioError(f"{ref} must name an async function (ctx, prompt) -> str | None")
    attached = getattr(function, "fake_agent_settings", None) or {}
    if not isinstance(attached, Mapping):
        raise ScenarioError(f"{ref}.fake_agent_settings must be a mapping")
    return cast(ScenarioFunction, function), dict(attached)


def load_scenario(spec: str) -> tuple[dict[str, Any], ScenarioFunction | None]:
    """Normalized settings plus the Python scenario function, if the scenario has one."""
    spec = BUILTIN_SCENARIOS.get(spec, spec)
    path = Path(spec)
    if path.suffix.lower() == ".json" or (path.is_file() and path.suffix != ".py"):
        try:
            doc = orjson.loads(path.read_bytes())
        except OSError as exc:
            raise ScenarioError(f"cannot read scenario {spec}: {exc}") from exc
        except orjson.JSONDecodeError as exc:
            raise ScenarioError(f"scenario {spec} is not valid JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise ScenarioError(f"scenario {spec} must hold a JSON object")
        if doc.get("python"):
            function, attached = load_function(str(doc["python"]), base=path.parent)
            return normalize({**attached, **doc}), function
        return normalize(doc), None
    if ":" in spec:
        function, attached = load_function(spec)
        return normalize(attached), function
    raise ScenarioError(
        f"unknown scenario {spec!r}: give a .json file, module:function, file.py:function "
        f"or a built-in ({', '.join(BUILTIN_SCENARIOS)})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m acphost.testing.fake_agent",
        description="A scriptable fake ACP agent speaking JSON-RPC on stdin/stdout.",
    )
    parser.add_argument(
        "scenario", help="scenario .json, module:function, file.py:function, demo, echo"
    )
    parser.add_argument(
        "--state-dir", type=Path, default=None, help="keep sessions here (one JSON file each)"
    )
    parser.add_argument(
        LOGIN_ARG,
        action="store_true",
        help="run the interactive login of a scenario with terminal_login, not ACP",
    )
    args = parser.parse_args(argv)
    try:
        settings, function = load_scenario(args.scenario)
    except ScenarioError as exc:
        print(f"fake-agent: {exc}", file=sys.stderr)
        return 2
    if args.login:
        if not settings["terminal_login"]:
            print(f"fake-agent: {args.scenario} has no terminal_login", file=sys.stderr)
            return 2
        return login(settings, sys.stdin, sys.stdout)
    if settings["ignore_sigterm"]:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # stray prints in scenarios must not corrupt the protocol stream
    peer = Peer(string_ids=bool(settings["string_ids"]), out=out)
    agent = FakeAgent(settings, function, args.state_dir, peer)
    try:
        asyncio.run(agent.run())
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
