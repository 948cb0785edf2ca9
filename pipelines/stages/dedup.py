"""Drop repeated reads of one vehicle pass: same plate, same camera, within a window."""

from __future__ import annotations

from collections import OrderedDict
from datetime import timedelta

from pipelines.records import PlateRead

STAGE = "dedup"


def dedup_key(read: PlateRead) -> str:
    return f"{read.camera_id}|{read.plate}"


class Deduplicator:
    """Remembers the last time each (camera, plate) was seen, for one window.

    A vehicle pass lasts while reads keep coming within the window of each other, so
    a car sitting in view yields one read, not one per window. Memory stays bounded by
    the window: entries older than it are evicted oldest-first.
    """

    def __init__(self, window: timedelta) -> None:
        self.window = window
        self._last_seen: OrderedDict[str, float] = OrderedDict()
        self._newest = float("-inf")

    def __len__(self) -> int:
        return len(self._last_seen)

    def is_duplicate(self, read: PlateRead) -> bool:
        key = dedup_key(read)
        seen_at = read.collected_at.timestamp()
        previous = self._last_seen.get(key)
        duplicate = previous is not None and abs(seen_at - previous) <= self.window.total_seconds()
        if previous is None or seen_at > previous:
            self._last_seen[key] = seen_at
            self._last_seen.move_to_end(key)
        self._newest = max(self._newest, seen_at)
        self._evict()
        return duplicate

    def _evict(self) -> None:
        horizon = self._newest - self.window.total_seconds()
        while self._last_seen:
            key, seen_at = next(iter(self._last_seen.items()))
            if seen_at >= horizon:
                break
            del self._last_seen[key]
