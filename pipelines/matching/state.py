"""What the index's readers read, replaced as a whole by a compaction."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.matching.neighbourhood import PackedKeys, pack_keys
from pipelines.matching.table import NeighbourhoodTable
from schemas.records import HotlistEntry


@dataclass
class State:
    """Everything a lookup reads, replaced as a whole by a compaction."""

    slots: list[HotlistEntry | None]  # slot -> entry; None once retracted
    keys: list[str]  # slot -> confusable key, so lookups never fold twice
    by_key: dict[str, tuple[int, ...]]  # confusable key -> slots
    wildcards: dict[int, HotlistEntry]
    base: NeighbourhoodTable
    # The tagged neighbourhood of entries put since the last compaction: string ->
    # payloads (``slot << TAG_BITS | tag``, as in the table).
    delta: dict[str, tuple[int, ...]]
    # The keys of the slots in ``base``, packed: a batch lookup checks its hash matches
    # with vectorised integer operations, not a string built per match.
    packed_keys: PackedKeys

    @classmethod
    def empty(cls) -> State:
        return cls([], [], {}, {}, NeighbourhoodTable.empty(), {}, pack_keys([]))
