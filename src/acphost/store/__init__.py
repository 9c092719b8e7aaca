"""Durable conversations: append-only event logs behind the :class:`EventStore` protocol."""

from __future__ import annotations

import os
from pathlib import Path

from acphost.store._base import (
    ConversationExists,
    ConversationNotFound,
    ConversationRecord,
    EventRecord,
    EventStore,
    Owner,
    SeqConflict,
    StoreBusy,
    StoreError,
)
from acphost.store._sqlite import SQLiteStore

__all__ = (
    "ConversationExists",
    "ConversationNotFound",
    "ConversationRecord",
    "EventRecord",
    "EventStore",
    "Owner",
    "SQLiteStore",
    "SeqConflict",
    "StoreBusy",
    "StoreError",
    "default_store_path",
)


def default_store_path() -> Path:
    """Where conversations live unless told otherwise, creating its directory.

    ``$ACPHOST_HOME/acphost.db`` when set (one variable to relocate everything, handy for
    tests), else ``$XDG_DATA_HOME/acphost/acphost.db`` per the XDG spec (a relative
    ``XDG_DATA_HOME`` is ignored, as the spec requires), else ``~/.local/share/acphost/``.
    """
    home = os.environ.get("ACPHOST_HOME")
    if home:
        directory = Path(home).expanduser()
    else:
        xdg = os.environ.get("XDG_DATA_HOME", "")
        base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "share"
        directory = base / "acphost"
    directory.mkdir(parents=True, exist_ok=True)
    return directory / "acphost.db"
