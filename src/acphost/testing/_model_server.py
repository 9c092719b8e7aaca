"""A scripted LLM API server on 127.0.0.1, so real agents run offline and deterministically.

Real coding agents (Claude Code, Codex, Kimi, fast-agent...) only need their model API: point
their base URL at a :class:`ModelServer` and they run their real tool loop against answers a
test chose. One server speaks the three streaming APIs agents use:

- Anthropic Messages (``POST /v1/messages``, SSE or JSON, ``?beta=true`` too, plus
  ``/v1/messages/count_tokens``),
- OpenAI Responses (``POST /v1/responses``, SSE),
- OpenAI Chat Completions (``POST /v1/chat/completions``, SSE or JSON),

and ``GET /v1/models``. A request that offers tools takes the next queued answer
(:meth:`ModelServer.script`), if any; otherwise the server decides: no tools means a side
request (a title, a summary) and gets a short text; a tool result after the last user prompt
gets the final text; else one tool call, of the tool the prompt names (else the first whose
name starts with "read", else the first), its arguments filled from the tool's JSON schema.
Every request is recorded in :attr:`ModelServer.requests` for assertions.

Only the standard library is used: the server runs inside the test process, on threads.
"""

from __future__ import annotations

import itertools
import re
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any

__all__ = ["ModelRequest", "ModelServer", "ScriptedReply", "TextReply", "ToolCallReply"]

from acphost.testing._model_requests import (
    ModelRequest,
    ScriptedReply,
    TextReply,
    ToolCallReply,
    _fill,
)

# Without a named tool, prefer a reading one (not "Agent", which would spawn a sub-agent).
_HARMLESS = re.compile(r"^read", re.IGNORECASE)


# --- the server --------------------------------------------------------------------------


class ModelServer:
    """A scripted model API on ``127.0.0.1``; use as a context manager.

    ``base_url`` is ``http://127.0.0.1:PORT`` (Anthropic clients want it so); OpenAI clients
    want :attr:`openai_base_url` (``.../v1``). ``final_text`` ends a tool loop; ``side_text``
    answers requests without tools. ``default_delay`` applies to automatic answers.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        final_text: str = "Done.",
        side_text: str = "OK",
        default_delay: float = 0.0,
    ) -> None:
        self.final_text = final_text
        self.side_text = side_text
        self.default_delay = default_delay
        self.requests: list[ModelRequest] = []
        self.queue: deque[ScriptedReply] = deque()
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        from acphost.testing._model_http import http_server  # http.server only when used

        self._httpd = http_server((host, port), self)
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on (on 127.0.0.1)."""
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """The URL to give an agent as its Anthropic API base."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """The URL to give an agent as its OpenAI API base (with ``/v1``)."""
        return f"{self.base_url}/v1"

    def start(self) -> ModelServer:
        """Serve in a background thread (once); returns the server, for chaining."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="model-server",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; answers still waiting out a delay are abandoned."""
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- scripting and inspection --------------------------------------------------------

    def script(self, *replies: ScriptedReply) -> None:
        """Queue answers for the next requests that offer tools (side requests are skipped)."""
        with self._changed:
            self.queue.extend(replies)

    def wait_for(
        self, predicate: Callable[[ModelRequest], bool], *, timeout: float = 30.0
    ) -> ModelRequest:
        """The first recorded request matching ``predicate``, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for request in self.requests:
                    if predicate(request):
                        return request
                left = deadline - time.monotonic()
                if left <= 0:
                    paths = [r.path for r in self.requests]
                    raise TimeoutError(f"no matching model request in {timeout} s: {paths}")
                self._changed.wait(left)

    def api_requests(self) -> list[ModelRequest]:
        """The model calls (not probes such as the models list)."""
        return [r for r in self.requests if r.api != "other"]

    # --- deciding ------------------------------------------------------------------------

    def _record(self, request: ModelRequest) -> None:
        with self._changed:
            self.requests.append(request)
            self._changed.notify_all()

    def _decide(self, request: ModelRequest) -> ScriptedReply:
        tools = request.tools
        with self._changed:
            if tools and self.queue:
                return self.queue.popleft()
        if not tools:
            return TextReply(text=self.side_text, delay=self.default_delay)
        if request.tool_results():
            return TextReply(text=self.final_text, delay=self.default_delay)
        prompt = request.prompt()
        mentioned = [
            (m.start(), name)
            for name in tools
            if (m := re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", prompt))
        ]
        harmless = [name for name in tools if _HARMLESS.search(name)]
        name = min(mentioned)[1] if mentioned else (harmless or list(tools))[0]
        return ToolCallReply(name=name, arguments=_fill(tools[name]), delay=self.default_delay)

    def _resolve(self, reply: ToolCallReply, request: ModelRequest) -> tuple[str, Any]:
        names = (reply.name,) if isinstance(reply.name, str) else reply.name
        offered = request.tools
        name = next((n for n in names if n in offered), names[0] if names else "")
        arguments = reply.arguments
        if callable(arguments):
            arguments = arguments(request)
        return name, arguments if isinstance(arguments, str) else dict(arguments)

    def _wait_or_hangup(
        self, seconds: float, connection: socket.socket, until: threading.Event | None = None
    ) -> bool:
        """Wait (at most until ``until`` is set), but stop early when the client hangs up or
        the server stops; True if gone."""
        deadline = time.monotonic() + seconds
        while not self._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or (until is not None and until.is_set()):
                return False
            readable, _, _ = select.select([connection], [], [], min(left, 0.1))
            if readable:
                try:
                    if not connection.recv(1, socket.MSG_PEEK):
                        return True
                except OSError:
                    return True
                time.sleep(min(left, 0.1))  # pipelined bytes: not a hang-up
        return True

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}"
