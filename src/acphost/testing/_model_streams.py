"""The three streaming wire formats of :class:`~acphost.testing.ModelServer`'s answers."""

from __future__ import annotations

import itertools
import json
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from acphost.testing._model_server import ModelRequest, ModelServer

__all__ = ["ANSWERS"]


def _usage_numbers(request: ModelRequest, output: str) -> tuple[int, int]:
    return max(1, len(request.text()) // 4), max(1, len(output) // 4)


def _sse(event: str | None, data: Any) -> bytes:
    head = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"{head}data: {payload}\n\n".encode()


def _anthropic(server: ModelServer, request: ModelRequest, reply: dict[str, Any]) -> Any:
    """Anthropic Messages: the JSON message, or the SSE events that build it."""
    message_id = server._next_id("msg")
    block: dict[str, Any]
    if reply["type"] == "tool_call":
        block = {
            "type": "tool_use",
            "id": server._next_id("toolu"),
            "name": reply["name"],
            "input": reply["arguments"],
        }
        stop = "tool_use"
        output = json.dumps(reply["arguments"])
    else:
        block = {"type": "text", "text": reply["text"]}
        stop = "end_turn"
        output = reply["text"]
    tokens_in, tokens_out = _usage_numbers(request, output)
    usage = {
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    message = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": [block],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }
    return _anthropic_events(message, block, output) if request.stream else message


def _anthropic_events(message: dict[str, Any], block: dict[str, Any], output: str) -> list[bytes]:
    """The SSE events that build ``message``, whose one content ``block`` says ``output``."""
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    if block["type"] == "tool_use":
        empty = {**block, "input": {}}
        delta = {"type": "input_json_delta", "partial_json": output}
    else:
        empty = {"type": "text", "text": ""}
        delta = {"type": "text_delta", "text": output}
    stop = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    return [
        _sse("message_start", {"type": "message_start", "message": start}),
        _sse(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": empty},
        ),
        _sse("ping", {"type": "ping"}),
        _sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
        _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": stop,
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        ),
        _sse("message_stop", {"type": "message_stop"}),
    ]


def _responses(server: ModelServer, request: ModelRequest, reply: dict[str, Any]) -> Any:
    """OpenAI Responses: the SSE events of one response with one output item."""
    response_id = server._next_id("resp")
    item, output = _responses_item(server, reply)
    tokens_in, tokens_out = _usage_numbers(request, output)
    base = {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "model": request.model,
        "status": "in_progress",
        "output": [],
    }
    usage = {
        "input_tokens": tokens_in,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": tokens_out,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": tokens_in + tokens_out,
    }
    done = {**base, "status": "completed", "output": [item], "usage": usage}
    return _responses_events(base, done, output) if request.stream else done


def _responses_item(server: ModelServer, reply: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The response's output item (a message, a function call or a free-form tool call) and
    the text it carries."""
    if reply["type"] != "tool_call":
        output = reply["text"]
        return {
            "type": "message",
            "id": server._next_id("msg"),
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": output, "annotations": []}],
        }, output
    arguments = reply["arguments"]
    call_id = server._next_id("call")
    if isinstance(arguments, str):  # a free-form ("custom") tool such as apply_patch
        return {
            "type": "custom_tool_call",
            "id": server._next_id("ctc"),
            "call_id": call_id,
            "name": reply["name"],
            "input": arguments,
            "status": "completed",
        }, arguments
    output = json.dumps(arguments)
    return {
        "type": "function_call",
        "id": server._next_id("fc"),
        "call_id": call_id,
        "name": reply["name"],
        "arguments": output,
        "status": "completed",
    }, output


def _responses_events(base: dict[str, Any], done: dict[str, Any], output: str) -> list[bytes]:
    """The SSE events from the response ``base`` (in progress) to ``done``."""
    seq = itertools.count()
    item = done["output"][0]

    def event(kind: str, **data: Any) -> bytes:
        return _sse(kind, {"type": kind, "sequence_number": next(seq), **data})

    events = [
        event("response.created", response=base),
        event("response.in_progress", response=base),
    ]
    if item["type"] == "message":
        at = {"item_id": item["id"], "output_index": 0, "content_index": 0}
        part = {"type": "output_text", "text": "", "annotations": []}
        events += [
            event("response.output_item.added", output_index=0, item={**item, "content": []}),
            event("response.content_part.added", **at, part=part),
            event("response.output_text.delta", **at, delta=output),
            event("response.output_text.done", **at, text=output),
        ]
    else:
        events.append(event("response.output_item.added", output_index=0, item=item))
    events += [
        event("response.output_item.done", output_index=0, item=item),
        event("response.completed", response=done),
    ]
    return events


def _chat(server: ModelServer, request: ModelRequest, reply: dict[str, Any]) -> Any:
    """OpenAI Chat Completions: the JSON completion, or its SSE chunks."""
    completion_id = server._next_id("chatcmpl")
    created = int(time.time())
    if reply["type"] == "tool_call":
        output = json.dumps(reply["arguments"])
        call = {
            "id": server._next_id("call"),
            "type": "function",
            "function": {"name": reply["name"], "arguments": output},
        }
        message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [call]}
        finish = "tool_calls"
    else:
        output = reply["text"]
        message = {"role": "assistant", "content": output}
        finish = "stop"
    tokens_in, tokens_out = _usage_numbers(request, output)
    usage = {
        "prompt_tokens": tokens_in,
        "completion_tokens": tokens_out,
        "total_tokens": tokens_in + tokens_out,
    }
    head = {"id": completion_id, "created": created, "model": request.model}
    if not request.stream:
        choice = {"index": 0, "message": message, "finish_reason": finish}
        return {**head, "object": "chat.completion", "choices": [choice], "usage": usage}

    def chunk(delta: dict[str, Any] | None, finish_reason: str | None, **extra: Any) -> bytes:
        choices = (
            [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
        )
        return _sse(None, {**head, "object": "chat.completion.chunk", "choices": choices, **extra})

    if finish == "tool_calls":
        delta = {"role": "assistant", "tool_calls": [{"index": 0, **call}]}
    else:
        delta = {"role": "assistant", "content": output}
    events = [chunk(delta, None), chunk({}, finish)]
    options = request.body.get("stream_options") if isinstance(request.body, dict) else None
    if isinstance(options, dict) and options.get("include_usage"):
        events.append(chunk(None, None, usage=usage))
    else:  # put usage on the last chunk, where most clients look for it
        events[-1] = chunk({}, finish, usage=usage)
    events.append(_sse(None, "[DONE]"))
    return events


ANSWERS = {"anthropic": _anthropic, "responses": _responses, "chat": _chat}
