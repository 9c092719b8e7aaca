"""Permission decisions: policies decide by option *kind*, never by option id.

Agents name their options freely (``allow``, ``once``, ``proceed_once``, ``approve``...), but
every option carries one of four standard kinds. A policy answers with a kind (or ``True`` /
``False``), and acphost picks the agent's option of that kind.

A request keeps the agent's JSON and reads what deciding needs from it; its ``tool_call`` and
``options`` become the official SDK's models only when someone reads them.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from pydantic import BaseModel

from acphost.acp import shapes

if TYPE_CHECKING:
    from acp import schema

__all__ = [
    "CANCELLED",
    "Decision",
    "PermissionHandler",
    "PermissionPolicy",
    "PermissionRequest",
    "as_permission_handler",
    "choose_option",
]

Decision: TypeAlias = Literal[
    "allow_once", "allow_always", "reject_once", "reject_always", "cancelled"
]
"""An answer to a permission request, by ACP option kind (``cancelled``: the turn was cancelled)."""
CANCELLED: Decision = "cancelled"
"""The decision given to every pending request when the turn is cancelled."""

_FALLBACK: dict[str, tuple[str, ...]] = {
    "allow_once": ("allow_once", "allow_always"),
    "allow_always": ("allow_always", "allow_once"),
    "reject_once": ("reject_once", "reject_always"),
    "reject_always": ("reject_always", "reject_once"),
}


class PermissionRequest:
    """A ``session/request_permission`` from the agent, with what a decider needs.

    ``tool_call`` and ``options`` are the SDK's models, validated on first use;
    ``tool_call_id``, ``title`` and ``option_data`` (the options as JSON) are read without it.
    ``raw`` is the request's params as sent (``{}`` when made in Python).
    """

    __slots__ = (
        "_options",
        "_tool_call",
        "option_data",
        "raw",
        "request_id",
        "session_id",
        "title",
        "tool_call_data",
        "tool_call_id",
    )
    session_id: str
    request_id: Any
    raw: dict[str, Any]
    tool_call_data: dict[str, Any]
    tool_call_id: str
    title: str
    option_data: list[dict[str, Any]]
    _tool_call: schema.ToolCallUpdate | None
    _options: list[schema.PermissionOption] | None

    def __init__(
        self,
        session_id: str,
        tool_call: schema.ToolCallUpdate | Mapping[str, Any],
        options: Sequence[schema.PermissionOption | Mapping[str, Any]],
        request_id: Any = None,
        raw: dict[str, Any] | None = None,
    ) -> None:
        """Models or their JSON; malformed JSON raises :class:`~acphost.errors.ProtocolError`."""
        params = {
            "sessionId": session_id,
            "toolCall": _json(tool_call),
            "options": [_json(option) for option in options] if options is not None else None,
        }
        self._read(params, request_id, raw if raw is not None else {})
        if isinstance(tool_call, BaseModel):
            self._tool_call = tool_call
        typed = [option for option in options if isinstance(option, BaseModel)]
        if typed and len(typed) == len(options):
            self._options = typed

    @classmethod
    def from_params(cls, params: Any, request_id: Any = None) -> PermissionRequest:
        """The request an agent sent; malformed params raise ``ProtocolError``."""
        self = cls.__new__(cls)
        self._read(params, request_id, params)
        return self

    def _read(self, params: Any, request_id: Any, raw: dict[str, Any]) -> None:
        checked = shapes.read_json("permission request", shapes.PERMISSION_REQUEST, params)
        self.session_id = checked["sessionId"]
        self.request_id = request_id
        self.raw = raw
        self.tool_call_data = params.get("toolCall", params.get("tool_call"))
        self.tool_call_id = checked["toolCall"]["toolCallId"]
        self.title = checked["toolCall"].get("title") or self.tool_call_id
        self.option_data = checked["options"]
        self._tool_call = None
        self._options = None

    @property
    def tool_call(self) -> schema.ToolCallUpdate:
        """The tool call asking for permission, as the ACP SDK's model (parsed on first use)."""
        if self._tool_call is None:
            from acp import schema

            self._tool_call = schema.ToolCallUpdate.model_validate(self.tool_call_data)
        return self._tool_call

    @property
    def options(self) -> list[schema.PermissionOption]:
        """The options the agent offered, as the ACP SDK's typed models (parsed on first use)."""
        if self._options is None:
            from acp import schema

            self._options = [schema.PermissionOption.model_validate(o) for o in self.option_data]
        return self._options

    def option_for(self, decision: Decision) -> schema.PermissionOption | None:
        """The offered option that carries out ``decision`` (by kind, with fallbacks), if any."""
        index = _choose([o["kind"] for o in self.option_data], decision)
        return self.options[index] if index is not None else None

    def option_id_for(self, decision: Decision) -> str | None:
        """The ``optionId`` :meth:`option_for` would pick, without the SDK."""
        index = _choose([o["kind"] for o in self.option_data], decision)
        return self.option_data[index]["optionId"] if index is not None else None

    def __repr__(self) -> str:
        return (
            f"PermissionRequest({self.session_id!r}, tool_call_id={self.tool_call_id!r}, "
            f"options={[o['optionId'] for o in self.option_data]!r})"
        )


def _json(value: BaseModel | Mapping[str, Any]) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True, exclude_none=True, mode="json")
    return dict(value) if isinstance(value, Mapping) else value  # the check says what is wrong


def _choose(kinds: Sequence[str], decision: Decision) -> int | None:
    for kind in _FALLBACK.get(decision, ()):
        if kind in kinds:
            return kinds.index(kind)
    return None


def choose_option(
    options: list[schema.PermissionOption], decision: Decision
) -> schema.PermissionOption | None:
    """The agent's option matching ``decision`` by kind (with the once/always fallback)."""
    index = _choose([option.kind for option in options], decision)
    return options[index] if index is not None else None


PermissionHandler: TypeAlias = Callable[[PermissionRequest], Awaitable[Decision]]
"""Called synchronously, in arrival order, on the I/O loop; the awaitable gives the decision."""

PermissionPolicy: TypeAlias = (
    Literal["allow", "allow_always", "deny"]
    | Callable[[PermissionRequest], "Decision | bool | Awaitable[Decision | bool]"]
)
"""``"allow"`` (allow once), ``"allow_always"``, ``"deny"`` (reject once), or a callable
returning a decision kind or a bool (sync or async)."""


def _normalise(answer: Decision | bool) -> Decision:
    if answer is True:
        return "allow_once"
    if answer is False:
        return "reject_once"
    if answer in ("allow_once", "allow_always", "reject_once", "reject_always", "cancelled"):
        return answer
    raise ValueError(
        f"a permission policy returned {answer!r}; return True/False or one of "
        "'allow_once', 'allow_always', 'reject_once', 'reject_always', 'cancelled'"
    )


def as_permission_handler(policy: PermissionPolicy) -> PermissionHandler:
    """Turn a policy into a handler. Callables run on the I/O loop: keep them quick."""
    if isinstance(policy, str):
        fixed: Decision = {
            "allow": "allow_once",
            "allow_once": "allow_once",
            "allow_always": "allow_always",
            "deny": "reject_once",
            "reject": "reject_once",
        }.get(policy, "")  # type: ignore[assignment]
        if not fixed:
            raise ValueError(f"unknown permission policy {policy!r}; use 'allow' or 'deny'")

        def constant(request: PermissionRequest) -> Awaitable[Decision]:
            return _done(fixed)

        return constant

    decide = policy

    def call(request: PermissionRequest) -> Awaitable[Decision]:
        # The policy is called now, in arrival order; only its awaitable finishes later.
        answer = decide(request)
        if isinstance(answer, asyncio.Future):
            if answer.done() and not answer.cancelled() and answer.exception() is None:
                return _done(_normalise(answer.result()))
            return _Normalised(answer)  # no task: a task may be cancelled after the decision
        if not inspect.isawaitable(answer):
            return _done(_normalise(answer))
        return _finish(answer)

    return call


def _done(decision: Decision) -> asyncio.Future[Decision]:
    # An answer known now is answered now: no task, no extra loop iteration.
    future: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
    future.set_result(decision)
    return future


class _Normalised(asyncio.Future[Decision]):
    """A policy's future, normalised, that is cancelled only if the policy's future is.

    Wrapping the future in a task would not do: ``Task.cancel()`` cancels the task even when
    the future it awaits refuses (a decision already made and recorded), and the agent would
    be told ``cancelled`` while the log says otherwise.
    """

    def __init__(self, source: asyncio.Future[Decision | bool]) -> None:
        super().__init__(loop=source.get_loop())
        self._source = source
        source.add_done_callback(self._copy)

    def cancel(self, msg: object = None) -> bool:
        if not self._source.cancel(msg):
            return False
        return super().cancel(msg)

    def _copy(self, source: asyncio.Future[Decision | bool]) -> None:
        if self.done():
            return
        if source.cancelled():
            super().cancel()
        elif (error := source.exception()) is not None:
            self.set_exception(error)
        else:
            try:
                self.set_result(_normalise(source.result()))
            except ValueError as exc:
                self.set_exception(exc)


async def _finish(answer: Decision | bool | Awaitable[Decision | bool]) -> Decision:
    if inspect.isawaitable(answer):
        answer = await answer
    return _normalise(answer)
