"""What the agent asks the person at the terminal (an elicitation), and their answer.

A form is asked field by field (its type, choices and default shown; Enter keeps the default),
then reviewed before it is sent: send, edit again, decline or cancel. A URL is shown in full,
its host highlighted (and a warning for a look-alike host), and sent only with the person's
consent; acphost never opens or fetches it. Without a terminal (or with ``--deny``) the
conversation declines, and the log says why.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.text import Text

from acphost.cli._live import Interrupter
from acphost.cli._render import Renderer
from acphost.cli._wording import INDENT
from acphost.conversation import ElicitationPolicy, ElicitationRequest
from acphost.conversation._forms import choices
from acphost.errors import InvalidElicitationAnswer

__all__ = ["choose_elicitation"]

Read = Callable[[Text], str]
"""Shows a question and returns the line typed as its answer."""

_TRUE, _FALSE = ("y", "yes", "true", "1"), ("n", "no", "false", "0")


def choose_elicitation(
    args: argparse.Namespace,
    console: Console,
    interrupter: Interrupter,
    renderer: Renderer | None,
    read: Read | None = None,
) -> ElicitationPolicy:
    """``--deny`` or no terminal: decline (recorded with the reason); else ask here."""
    if args.deny or not sys.stdin.isatty():
        return "decline"
    return _Asker(console, interrupter, renderer, read or console.input)


class _Asker:
    """The ``elicitation=`` callback: runs on the driver's thread, so it may read stdin."""

    def __init__(
        self, console: Console, interrupter: Interrupter, renderer: Renderer | None, read: Read
    ) -> None:
        self.console = console
        self.interrupter = interrupter
        self.renderer = renderer
        self.read = read

    def __call__(self, request: ElicitationRequest) -> str | dict[str, Any]:
        if self.renderer is not None:
            self.renderer.stop_spinner()
        self.interrupter.prompting = True
        try:
            if request.mode == "url":
                return self._consent(request)
            return self._fill(request)
        except EOFError:
            return "decline"
        except KeyboardInterrupt:
            if self.interrupter.count > 1:
                raise
            self.console.print()
            return "cancel"
        finally:
            self.interrupter.prompting = False

    def _say(self, *parts: str | tuple[str, str] | Text) -> None:
        self.console.print(Text.assemble(INDENT, *parts))

    # --- a URL ---------------------------------------------------------------------------

    def _consent(self, request: ElicitationRequest) -> str:
        url = request.url or ""
        if self.renderer is None:  # else its line for the request said it
            self._say(("The agent asks you to open a URL: ", "bold"), request.message)
        self._say(highlight_host(url))
        for warning in url_warnings(url):
            self._say(("⚠ ", "bold yellow"), (warning, "yellow"))
        self._say(("acphost will not open it: if you agree, open it in your browser.", "dim"))
        answer = self.read(Text("Consent to open it? [y/N] ", style="bold")).strip().lower()
        return "accept" if answer in _TRUE else "decline"

    # --- a form --------------------------------------------------------------------------

    def _fill(self, request: ElicitationRequest) -> str | dict[str, Any]:
        schema = request.requested_schema or {}
        properties = schema.get("properties")
        fields: Mapping[str, Any] = properties if isinstance(properties, Mapping) else {}
        required = schema.get("required")
        needed = set(required) if isinstance(required, list) else set()
        if self.renderer is None:  # else its line for the request said it
            self._say(("The agent asks you: ", "bold"), request.message)
        content: dict[str, Any] = {
            name: prop["default"]
            for name, prop in fields.items()
            if isinstance(prop, Mapping) and "default" in prop
        }
        while True:
            for name, prop in fields.items():
                prop = prop if isinstance(prop, Mapping) else {}
                value = self._field(name, prop, name in needed, content.get(name))
                if value is None:
                    content.pop(name, None)
                else:
                    content[name] = value
            for name in fields:
                if name in content:
                    self._say(("  ", ""), (f"{name}", "bold"), " = ", _shown(content[name]))
            choice = (
                self.read(Text("Send this? [Y(es)/e(dit)/d(ecline)/c(ancel)] ", style="bold"))
                .strip()
                .lower()
            )
            if choice in ("d", "decline"):
                return "decline"
            if choice in ("c", "cancel"):
                return "cancel"
            if choice in ("e", "edit"):
                continue
            try:
                request.respond("accept", content)
            except InvalidElicitationAnswer as exc:
                for problem in exc.problems:
                    self._say(("✗ ", "red"), problem)
                continue
            return {"action": "accept", "content": content}

    def _field(self, name: str, prop: Mapping[str, Any], required: bool, current: Any) -> Any:
        """Ask one field until its answer reads as its type; Enter keeps ``current``."""
        label = str(prop.get("title") or name)
        hint = describe_field(prop, required)
        if prop.get("description"):
            self._say((str(prop["description"]), "dim"))
        while True:
            shown = f" [{_shown(current)}]" if current is not None else ""
            line = self.read(Text.assemble((f"  {label}", "bold"), (f" ({hint}){shown}: ", "dim")))
            if not line.strip():
                if current is not None or not required:
                    return current
                self._say(("✗ ", "red"), f"{label} is required")
                continue
            try:
                return parse_value(prop, line.strip())
            except ValueError as exc:
                self._say(("✗ ", "red"), str(exc))


def describe_field(prop: Mapping[str, Any], required: bool) -> str:
    """A field's type and choices, in words: ``one of a, b; required``."""
    kind = str(prop.get("type") or "text")
    options = choices(prop)
    if options is not None:
        what = ("any of " if kind == "array" else "one of ") + ", ".join(options)
    elif kind == "boolean":
        what = "y/n"
    else:
        what = kind
    return f"{what}; required" if required else what


def parse_value(prop: Mapping[str, Any], text: str) -> Any:
    """What a typed line means for this field (``ValueError`` saying what to type)."""
    kind = prop.get("type")
    options = choices(prop)
    if kind == "boolean":
        if text.lower() in _TRUE or text.lower() in _FALSE:
            return text.lower() in _TRUE
        raise ValueError("type y or n")
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            raise ValueError("type a whole number") from None
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            raise ValueError("type a number") from None
    if kind == "array":
        return [_choose(options, part.strip()) for part in text.split(",") if part.strip()]
    return _choose(options, text) if options is not None else text


def _choose(options: list[str] | None, text: str) -> str:
    """A choice by its value or its number (1, 2...) in the list shown."""
    if options is None or text in options:
        return text
    if text.isdigit() and 1 <= int(text) <= len(options):
        return options[int(text) - 1]
    raise ValueError(f"choose one of {', '.join(options)}")


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


# --- URLs --------------------------------------------------------------------------------


def highlight_host(url: str) -> Text:
    """The full URL, its host in bold (where the person is sent is what matters)."""
    host = urlsplit(url).hostname or ""
    at = url.find(host) if host else -1
    if at < 0:
        return Text(url, style="underline")
    return Text.assemble(
        url[:at], (url[at : at + len(host)], "bold reverse"), url[at + len(host) :]
    )


def url_warnings(url: str) -> list[str]:
    """What is suspicious about a URL: not HTTPS, a look-alike (Punycode or non-ASCII) host,
    credentials before the host."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    warnings = []
    if parts.scheme != "https":
        warnings.append(f"not HTTPS ({parts.scheme or 'no scheme'})")
    if not host:
        warnings.append("no host")
    elif "xn--" in host or not host.isascii():
        warnings.append(f"the host {host} may imitate another (Punycode or non-ASCII letters)")
    if "@" in parts.netloc:
        warnings.append("it has a user name before the host: the host is what follows '@'")
    return warnings
