"""Context compactions: ``compaction_update`` upserts and streamed summary chunks, merged into
full snapshots (one :class:`~acphost.events.CompactionEvent` per change), as tool calls are.

An update patches the compaction it names: a key left out keeps its value, ``null`` clears it,
a value replaces it (``summary: []`` clears the summary too). A run of
``compaction_summary_chunk`` updates for one compaction is joined into one snapshot.
"""

from __future__ import annotations

from typing import Any

from acphost.events import CompactionEvent

__all__ = ["SummaryChunks", "merge_update"]

_UPDATE_KEYS = frozenset(("sessionUpdate", "compactionId", "status", "summary", "error", "_meta"))
_CHUNK_KEYS = frozenset(("sessionUpdate", "compactionId", "content"))
_PATCHED = {"summary": "summary", "error": "error", "_meta": "meta"}
_TYPES: dict[str, type] = {"summary": list, "error": str, "meta": dict}


def _carried(previous: CompactionEvent | None) -> dict[str, Any]:
    if previous is None:
        return {}
    fields = {name: getattr(previous, name) for name in ("summary", "error", "meta", "extra")}
    if previous.raw_chunks:
        fields["raw_chunks"] = previous.raw_chunks
    return fields


def merge_update(previous: CompactionEvent | None, data: dict[str, Any]) -> dict[str, Any]:
    """The fields of the snapshot a ``compaction_update`` makes; raises ``TypeError`` when
    the update is malformed (it is then kept raw)."""
    compaction_id, status = data["compactionId"], data["status"]
    if not isinstance(compaction_id, str) or not isinstance(status, str):
        raise TypeError("compactionId and status must be strings")
    fields = _carried(previous)
    for key, name in _PATCHED.items():
        if key not in data:
            continue  # left out: unchanged
        value = data[key]
        if value is not None and not isinstance(value, _TYPES[name]):
            raise TypeError(f"{key} is not a {_TYPES[name].__name__}")
        if isinstance(value, list) and not all(isinstance(block, dict) for block in value):
            raise TypeError("summary holds something other than content blocks")
        fields[name] = [] if name == "summary" and value is None else value
    extra = {k: v for k, v in data.items() if k not in _UPDATE_KEYS}
    if extra:
        fields["extra"] = {**(fields.get("extra") or {}), **extra}
    fields.update(compaction_id=compaction_id, status=status)
    return fields


class SummaryChunks:
    """The summary chunks of one compaction streamed so far, joined into content blocks."""

    def __init__(self, compaction_id: Any) -> None:
        if not isinstance(compaction_id, str):
            raise TypeError("compactionId is not a string")
        self.compaction_id = compaction_id
        self.blocks: list[dict[str, Any]] = []
        self.raw: list[dict[str, Any]] = []

    def continues(self, kind: str, data: dict[str, Any]) -> bool:
        """Whether this update streams more of this summary."""
        return kind == "compaction_summary_chunk" and data.get("compactionId") == self.compaction_id

    def add(self, data: dict[str, Any]) -> None:
        """Append one chunk's content block (adjacent plain text blocks are joined)."""
        content = data["content"]
        if not isinstance(content, dict):
            raise TypeError("content is not a content block")
        if data.keys() - _CHUNK_KEYS:
            self.raw.append(data)  # more than a content block: kept as sent
        last = self.blocks[-1] if self.blocks else None
        if _plain_text(content) and last is not None and _plain_text(last):
            self.blocks[-1] = {"type": "text", "text": last["text"] + content["text"]}
        else:
            self.blocks.append(content)

    def snapshot(self, previous: CompactionEvent | None) -> dict[str, Any]:
        """The fields of the snapshot with these chunks appended to ``previous``'s summary."""
        fields = _carried(previous)
        fields["summary"] = [*fields.get("summary", ()), *self.blocks]
        if self.raw:
            fields["raw_chunks"] = [*(fields.get("raw_chunks") or ()), *self.raw]
        status = previous.status if previous is not None else "in_progress"
        fields.update(compaction_id=self.compaction_id, status=status)
        return fields


def _plain_text(block: dict[str, Any]) -> bool:
    return len(block) == 2 and block.get("type") == "text" and isinstance(block.get("text"), str)
