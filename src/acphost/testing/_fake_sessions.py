"""Session records of the fake agent, optionally persisted one JSON file per session.

Persistence lets a *new* fake-agent process load a session created by an earlier one, which
is exactly what a host's resume/replay logic must be tested against.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def select_values(option: Mapping[str, Any]) -> set[str]:
    """The values a select config option offers, its groups flattened."""
    values: set[str] = set()
    for item in option.get("options") or []:
        if isinstance(item, dict) and "group" in item:
            values.update(str(o.get("value")) for o in item.get("options") or [])
        elif isinstance(item, dict):
            values.add(str(item.get("value")))
    return values


@dataclass
class TurnState:
    """One running prompt: its cancel signal and the answer text to keep for replay."""

    ignore_cancel: bool
    cancel_event: asyncio.Event = field(default_factory=asyncio.Event)
    # set by every cancel request, also an ignored one (see FakeAgentContext.cancel_request)
    cancel_seen: asyncio.Event = field(default_factory=asyncio.Event)
    cancel_requested: bool = False
    cancelled_by_request: bool = False
    agent_text: list[str] = field(default_factory=list)
    # texts the client steered into this turn (_session/steering), not yet taken
    steered: list[str] = field(default_factory=list)
    steer_event: asyncio.Event = field(default_factory=asyncio.Event)

    def request_cancel(self, *, by_request: bool = False) -> None:
        self.cancel_requested = True
        self.cancel_seen.set()
        if not self.ignore_cancel:
            self.cancelled_by_request = self.cancelled_by_request or by_request
            self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()


@dataclass
class SessionState:
    session_id: str
    cwd: str
    additional_directories: list[str] = field(default_factory=list)
    mcp_servers: list[Any] = field(default_factory=list)
    title: str | None = None
    updated_at: str = field(default_factory=now_iso)
    history: list[dict[str, Any]] = field(default_factory=list)
    turn_index: int = 0
    mode_id: str | None = None
    config_options: list[dict[str, Any]] | None = None
    system_prompt: list[Any] | None = None  # the client's, as given on new/load/resume
    system_prompt_mode: str | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    active_turn: TurnState | None = None

    def take_system_prompt(self, params: Mapping[str, Any]) -> None:
        """Keep a client system prompt sent on new/load/resume (shown by the ``report`` step)."""
        if params.get("systemPrompt") is not None:
            self.system_prompt = list(params["systemPrompt"])
            self.system_prompt_mode = str(params.get("systemPromptMode") or "append")

    def to_json(self) -> dict[str, Any]:
        return {
            "sessionId": self.session_id,
            "cwd": self.cwd,
            "additionalDirectories": self.additional_directories,
            "mcpServers": self.mcp_servers,
            "title": self.title,
            "updatedAt": self.updated_at,
            "history": self.history,
            "turnIndex": self.turn_index,
            "modeId": self.mode_id,
            "configOptions": self.config_options,
            "systemPrompt": self.system_prompt,
            "systemPromptMode": self.system_prompt_mode,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionState:
        return cls(
            session_id=str(data["sessionId"]),
            cwd=str(data.get("cwd", "")),
            additional_directories=list(data.get("additionalDirectories") or []),
            mcp_servers=list(data.get("mcpServers") or []),
            title=data.get("title"),
            updated_at=str(data.get("updatedAt") or now_iso()),
            history=list(data.get("history") or []),
            turn_index=int(data.get("turnIndex", 0)),
            mode_id=data.get("modeId"),
            config_options=data.get("configOptions"),
            system_prompt=data.get("systemPrompt"),
            system_prompt_mode=data.get("systemPromptMode"),
        )

    def info(self) -> dict[str, Any]:
        """The ``SessionInfo`` wire object used by ``session/list``."""
        info: dict[str, Any] = {"sessionId": self.session_id, "cwd": self.cwd}
        if self.additional_directories:
            info["additionalDirectories"] = self.additional_directories
        if self.title is not None:
            info["title"] = self.title
        info["updatedAt"] = self.updated_at
        return info


class SessionStore:
    """Live sessions in memory; with a state dir, every session also lives on disk."""

    def __init__(self, state_dir: Path | None, preset_ids: list[str] | None = None) -> None:
        self.state_dir = state_dir
        self.live: dict[str, SessionState] = {}
        self._preset_ids = list(preset_ids or [])
        if state_dir is not None:
            state_dir.mkdir(parents=True, exist_ok=True)

    def new_id(self) -> str:
        while self._preset_ids:
            candidate = self._preset_ids.pop(0)
            if candidate not in self.live and self._path(candidate) is not None:
                return candidate
        return f"fake-{uuid.uuid4().hex[:16]}"

    def _path(self, session_id: str) -> Path | None:
        if not _SAFE_ID.match(session_id):
            return None
        return (self.state_dir or Path(".")) / f"{session_id}.json"

    def save(self, session: SessionState) -> None:
        session.updated_at = now_iso()
        if self.state_dir is None:
            return
        path = self._path(session.session_id)
        if path is None:
            return
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(orjson.dumps(session.to_json(), option=orjson.OPT_INDENT_2))
        os.replace(tmp, path)

    def find(self, session_id: str) -> SessionState | None:
        """A live session, else one stored on disk by this or an earlier process."""
        if session_id in self.live:
            return self.live[session_id]
        if self.state_dir is None:
            return None
        path = self._path(session_id)
        if path is None or not path.is_file():
            return None
        try:
            return SessionState.from_json(orjson.loads(path.read_bytes()))
        except (OSError, ValueError, KeyError):
            return None

    def delete(self, session_id: str) -> bool:
        found = self.live.pop(session_id, None) is not None
        if self.state_dir is not None:
            path = self._path(session_id)
            if path is not None and path.is_file():
                with contextlib.suppress(OSError):
                    path.unlink()
                found = True
        return found

    def all(self) -> list[SessionState]:
        sessions = dict(self.live)
        if self.state_dir is not None:
            for path in self.state_dir.glob("*.json"):
                if path.stem not in sessions:
                    stored = self.find(path.stem)
                    if stored is not None:
                        sessions[stored.session_id] = stored
        return sorted(sessions.values(), key=lambda s: s.updated_at, reverse=True)
