"""What a :class:`~acphost.testing.ModelServer` reads from requests, and the answers a test
queues for them."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

__all__ = ["ModelRequest", "ScriptedReply", "TextReply", "ToolCallReply"]

Api: TypeAlias = Literal["anthropic", "responses", "chat", "other"]
Arguments: TypeAlias = "Mapping[str, Any] | str | Callable[[ModelRequest], Mapping[str, Any] | str]"


@dataclass
class ScriptedReply:
    """One queued answer. ``delay`` seconds pass before the first byte (for cancel tests);
    with ``hold``, the answer waits until the test sets it (for what a test does while the
    model is thinking). :attr:`served` is set when a request takes this reply, before both."""

    delay: float = 0.0
    served: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)
    hold: threading.Event | None = field(default=None, repr=False, compare=False, kw_only=True)


@dataclass
class TextReply(ScriptedReply):
    """Answer with this text and end the model's turn."""

    text: str = "Done."


@dataclass
class ToolCallReply(ScriptedReply):
    """Answer with one call of a tool.

    ``name`` may be a tuple of candidates: the first the request offers is used (tool names
    differ between agents and versions). ``arguments`` is a mapping, a string (the raw input
    of a free-form tool such as Codex's ``apply_patch``), or a function of the request.
    """

    name: str | tuple[str, ...] = ""
    arguments: Arguments = field(default_factory=dict)


@dataclass
class ModelRequest:
    """One request the server received, parsed; ``reply`` says what it was answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    api: Api = "other"
    reply: dict[str, Any] = field(default_factory=dict)
    client_gone: bool = False  # the agent dropped the connection before the answer was sent
    received_at: float = field(default_factory=time.time)

    @property
    def tools(self) -> dict[str, dict[str, Any]]:
        """The tools offered, by name: each a JSON schema (``{}`` for a free-form tool)."""
        return _tools(self.api, self.body)

    @property
    def stream(self) -> bool:
        """Whether the client asked for a streamed answer."""
        return isinstance(self.body, dict) and bool(self.body.get("stream"))

    @property
    def model(self) -> str:
        """The model the client asked for (``fake-model`` if it named none)."""
        model = self.body.get("model") if isinstance(self.body, dict) else None
        return model if isinstance(model, str) else "fake-model"

    def prompt(self) -> str:
        """The text of the last user prompt (not a tool result)."""
        return _conversation(self.api, self.body)[0]

    def tool_results(self) -> list[str]:
        """The tool results after the last user prompt, as text."""
        return _conversation(self.api, self.body)[1]

    def text(self) -> str:
        """The whole request body as JSON text, to search for a marker."""
        return json.dumps(self.body, ensure_ascii=False)


# --- reading requests --------------------------------------------------------------------


def _tools(api: Api, body: Any) -> dict[str, dict[str, Any]]:
    tools: dict[str, dict[str, Any]] = {}
    if not isinstance(body, dict):
        return tools
    for tool in body.get("tools") or ():
        if not isinstance(tool, dict):
            continue
        if api == "chat" and isinstance(tool.get("function"), dict):
            fn = tool["function"]
            tools[str(fn.get("name"))] = fn.get("parameters") or {}
        elif api == "anthropic" and "name" in tool:
            tools[str(tool["name"])] = tool.get("input_schema") or {}
        elif api == "responses" and "name" in tool:
            schema = tool.get("parameters") if tool.get("type") == "function" else None
            tools[str(tool["name"])] = schema or {}
    return tools


def _texts(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_texts(part) for part in content)
    if isinstance(content, dict):
        if isinstance(content.get("text"), str):
            return str(content["text"])
        for key in ("content", "output"):
            if key in content:
                return _texts(content[key])
    return ""


def _conversation(api: Api, body: Any) -> tuple[str, list[str]]:
    """(last user prompt, tool results after it) of a request."""
    if not isinstance(body, dict):
        return "", []
    prompt, results = "", []
    if api in ("anthropic", "chat"):
        for message in body.get("messages") or ():
            if not isinstance(message, dict):
                continue
            content = message.get("content")
            role = message.get("role")
            if role == "tool":
                results.append(_texts(content))
            elif role == "user":
                parts = content if isinstance(content, list) else [content]
                tool_parts = [
                    p for p in parts if isinstance(p, dict) and p.get("type") == "tool_result"
                ]
                if tool_parts:
                    results.extend(_texts(p.get("content")) for p in tool_parts)
                else:
                    prompt, results = _texts(content), []
    elif api == "responses":
        items = body.get("input")
        if isinstance(items, str):
            return items, []
        for item in items or ():
            if not isinstance(item, dict):
                continue
            kind = item.get("type", "message")
            if kind.endswith("_call_output"):
                results.append(_texts(item.get("output")))
            elif kind == "message" and item.get("role") == "user":
                text = _texts(item.get("content"))
                # Codex sends its environment and instructions as user messages too.
                if not text.lstrip().startswith(("<environment_context>", "<user_instructions>")):
                    prompt, results = text, []
    return prompt, results


def _fill(schema: Any, name: str = "") -> Any:
    """A value matching a JSON schema: defaults, enums and required fields filled."""
    if not isinstance(schema, dict):
        return ""
    if "default" in schema:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return _fill(schema[key][0], name)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        required = schema.get("required") or list(props)
        return {key: _fill(props.get(key), key) for key in required if key in props}
    if kind == "array":
        return [_fill(schema.get("items"), name)] if schema.get("minItems") else []
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return False
    if re.search(r"path|file", name, re.IGNORECASE):
        return "README.md"
    if re.search(r"command|cmd", name, re.IGNORECASE):
        return "ls"
    return "x"
