"""Match reads against the hotlists (exact on the normalised plate)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from threading import Lock

from pipelines.records import Hit, HotlistEntry, MatchKind, PlateRead, new_id

STAGE = "match"


class HotlistIndex:
    """Live hotlist entries by plate. Updated from the compacted hotlist topic while
    matching goes on; each update swaps one plate's entry list, so a lookup never sees
    a half-applied change."""

    def __init__(self, entries: Iterable[HotlistEntry] = ()) -> None:
        self._by_id: dict[str, HotlistEntry] = {}
        self._by_plate: dict[str, tuple[HotlistEntry, ...]] = defaultdict(tuple)
        self._lock = Lock()
        for entry in entries:
            self.put(entry)

    def __len__(self) -> int:
        return len(self._by_id)

    def put(self, entry: HotlistEntry) -> None:
        with self._lock:
            self._remove_locked(entry.entry_id)
            self._by_id[entry.entry_id] = entry
            self._by_plate[entry.plate] = (*self._by_plate[entry.plate], entry)

    def retract(self, entry_id: str) -> None:
        with self._lock:
            self._remove_locked(entry_id)

    def _remove_locked(self, entry_id: str) -> None:
        old = self._by_id.pop(entry_id, None)
        if old is None:
            return
        remaining = tuple(e for e in self._by_plate[old.plate] if e.entry_id != entry_id)
        if remaining:
            self._by_plate[old.plate] = remaining
        else:
            del self._by_plate[old.plate]

    def lookup(self, plate: str) -> tuple[HotlistEntry, ...]:
        return self._by_plate.get(plate, ())


def region_state(region: str | None) -> str | None:
    """'us-mn' -> 'MN'."""
    if not region:
        return None
    return region.rsplit("-", 1)[-1].upper()


def match_read(read: PlateRead, index: HotlistIndex, now: datetime) -> Hit | None:
    """The hit for the highest-priority live entry on this plate, if any.

    An entry for another state still hits, marked ``state_mismatch``: agencies review
    "wrong state" hits rather than never seeing them.
    """
    live = [e for e in index.lookup(read.plate) if e.is_live(read.collected_at)]
    if not live:
        return None
    read_state = region_state(read.region)

    def rank(entry: HotlistEntry) -> tuple[bool, int]:
        same_state = (
            entry.plate_state is None or read_state is None or entry.plate_state == read_state
        )
        return (same_state, entry.priority)

    live.sort(key=rank, reverse=True)
    best = live[0]
    return Hit(
        hit_id=new_id(),
        matched_at=now,
        read=read,
        entry=best,
        match_kind=MatchKind.EXACT,
        state_mismatch=not rank(best)[0],
        other_entry_ids=tuple(e.entry_id for e in live[1:]),
    )
