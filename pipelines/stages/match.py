"""Match reads against the hotlists: exact, confusable-aware, one edit, wildcards."""

from __future__ import annotations

from datetime import datetime

from pipelines.matching.index import HotlistIndex, Match
from pipelines.records import Hit, PlateRead, new_id

__all__ = ["HotlistIndex", "match_read", "region_state"]

STAGE = "match"


def region_state(region: str | None) -> str | None:
    """'us-mn' -> 'MN'."""
    if not region:
        return None
    return region.rsplit("-", 1)[-1].upper()


def match_read(read: PlateRead, index: HotlistIndex, now: datetime) -> Hit | None:
    """The hit for the best live entry the read matches, if any.

    The highest priority wins; among equals, an entry of the read's own state, then the
    closest match. An entry for another state still hits, marked ``state_mismatch``:
    agencies review "wrong state" hits rather than never seeing them.
    """
    live = [m for m in index.lookup(read.plate) if m.entry.is_live(read.collected_at)]
    if not live:
        return None
    read_state = region_state(read.region)

    def same_state(match: Match) -> bool:
        state = match.entry.plate_state
        return state is None or read_state is None or state == read_state

    # lookup() returns the closest kinds first, and sort() is stable.
    live.sort(key=lambda m: (m.entry.priority, same_state(m)), reverse=True)
    best = live[0]
    return Hit(
        hit_id=new_id(),
        matched_at=now,
        read=read,
        entry=best.entry,
        match_kind=best.kind,
        state_mismatch=not same_state(best),
        other_entry_ids=tuple(m.entry.entry_id for m in live[1:]),
    )
