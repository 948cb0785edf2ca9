"""Drop repeated reads of one vehicle pass: one camera, one plate, within a window.

The state is per camera: the plates it saw recently (confusable-folded) and when. A
read is a repeat when its plate equals one of them, or is one edit away (for plates of
five or more characters), seen within the window. A pass lasts while reads keep coming
within the window of each other, so a car sitting in view yields one read. The worker
keeps this state in a Faust table (RocksDB, with a changelog topic), so a restarted
worker does not emit the repeats again, and each camera's state is bounded by the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pipelines.matching.index import FUZZY_MIN_LENGTH
from pipelines.matching.plates import confusable_key, within_one_edit
from pipelines.records import PlateRead

STAGE = "dedup"

CameraState = dict[str, float]
"""Confusable-folded plate -> when last seen (epoch seconds), for one camera."""


@dataclass(frozen=True)
class PassCheck:
    duplicate: bool
    state: CameraState
    matched: str | None  # the remembered plate the read was folded into


def _same_vehicle(remembered: str, key: str) -> bool:
    if remembered == key:
        return True
    fuzzy = min(len(remembered), len(key)) >= FUZZY_MIN_LENGTH
    return fuzzy and within_one_edit(remembered, key)


def check_pass(state: CameraState, read: PlateRead, window: timedelta) -> PassCheck:
    """Whether ``read`` repeats a pass in its camera's ``state``, and the new state."""
    seconds = window.total_seconds()
    at = read.collected_at.timestamp()
    newest = max([at, *state.values()])
    kept = {plate: seen for plate, seen in state.items() if seen >= newest - seconds}
    key = confusable_key(read.plate)
    matched = next(
        (p for p in kept if _same_vehicle(p, key) and abs(at - kept[p]) <= seconds), None
    )
    remembered = matched or key
    kept[remembered] = max(kept.get(remembered, at), at)
    return PassCheck(matched is not None, kept, matched)


class Deduplicator:
    """``check_pass`` over an in-memory map of cameras (for tests and tools; the worker
    uses a Faust table instead)."""

    def __init__(self, window: timedelta) -> None:
        self.window = window
        self.cameras: dict[str, CameraState] = {}

    def __len__(self) -> int:
        return sum(len(state) for state in self.cameras.values())

    def is_duplicate(self, read: PlateRead) -> bool:
        result = check_pass(self.cameras.get(read.camera_id, {}), read, self.window)
        self.cameras[read.camera_id] = result.state
        return result.duplicate
