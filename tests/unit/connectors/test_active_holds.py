"""The store's view of active holds: re-read on a schedule, each new hold seen once."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from connectors.cassandra.holds import ActiveHolds
from schemas.holds import Hold, HoldKind, HoldStatus
from schemas.records import utcnow

NOW = utcnow()
HOLD = Hold("h1", "MN9990100", HoldKind.INVESTIGATIVE, "26-1", "seen at the scene", "sgt",
            NOW, NOW + timedelta(days=9), "ABC123", window_from=NOW - timedelta(hours=1),
            window_to=NOW + timedelta(hours=1))  # fmt: skip


class Holds:
    def __init__(self) -> None:
        self.rows = [HOLD, replace(HOLD, hold_id="h0", status=HoldStatus.RELEASED)]
        self.reads = 0

    def holds(self) -> list[Hold]:
        self.reads += 1
        return list(self.rows)


def test_holds_are_re_read_every_interval_and_a_new_one_announced_once() -> None:
    table, seen, clock = Holds(), [], [0.0]
    active = ActiveHolds(table, seen.append, refresh_seconds=30, clock=lambda: clock[0])  # type: ignore[arg-type]
    assert [h.hold_id for h in active.covering("ABC123", NOW, "r1")] == ["h1"]
    assert active.covering("XYZ999", NOW, "r1") == [] and table.reads == 1
    clock[0] = 29.0
    active.covering("ABC123", NOW, "r1")
    assert table.reads == 1  # within the interval: not re-read
    table.rows.append(replace(HOLD, hold_id="h2"))
    clock[0] = 31.0
    assert len(active.covering("ABC123", NOW, "r1")) == 2 and table.reads == 2
    assert [h.hold_id for h in seen] == ["h1", "h2"]  # released h0 never; h1 once


def test_a_released_hold_stops_covering_at_the_next_refresh() -> None:
    table, clock = Holds(), [0.0]
    active = ActiveHolds(table, lambda _h: None, refresh_seconds=30, clock=lambda: clock[0])  # type: ignore[arg-type]
    assert active.covering("ABC123", NOW, "r1")
    table.rows = [replace(HOLD, status=HoldStatus.RELEASED)]
    clock[0] = 30.0
    got: Any = active.covering("ABC123", NOW, "r1")
    assert got == []
