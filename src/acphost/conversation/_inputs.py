"""What a conversation accepts as its agent, store and messages, normalised."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, TypeAlias

from acphost.acp.client import ContentBlocks
from acphost.agents import AgentBase
from acphost.store import EventStore, SQLiteStore, default_store_path

__all__ = ["AgentSpec", "StoreSpec", "blocks_of", "open_store"]

AgentSpec: TypeAlias = AgentBase | str | Sequence[str]
StoreSpec: TypeAlias = EventStore | str | os.PathLike[str] | None


def open_store(store: StoreSpec) -> EventStore:
    if store is None:
        return SQLiteStore(default_store_path())
    if isinstance(store, str | os.PathLike):
        return SQLiteStore(store)
    return store


def blocks_of(message: ContentBlocks) -> tuple[str, list[dict[str, Any]]]:
    if isinstance(message, str):
        return message, [{"type": "text", "text": message}]
    blocks = [
        b if isinstance(b, dict) else b.model_dump(by_alias=True, exclude_none=True, mode="json")
        for b in message
    ]
    text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
    return text, blocks
