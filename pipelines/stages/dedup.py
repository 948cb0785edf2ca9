"""Fold repeated reads of one vehicle pass into one read: one camera, one plate, a window.

A pass is the reads of one camera whose plates are equal, or one edit apart for plates
of five or more characters, after folding confusables (``0``/``O``, ``8``/``B``...), each
within ``window`` (camera time) of the pass's newest read. A pass lasts while reads keep
coming within the window of each other, so a car sitting in view yields one read.

Which read is sent: a new pass is held for ``settle`` seconds (worker time) after its
first read arrived; when that time is up, the read of the pass with the highest weighted
score (confidence, a plate that fits its state's format, a recognised state, frames fused)
is sent, carrying in ``duplicates`` the number of other reads folded into it. Reads of the
pass after that are counted and dropped. ``settle`` 0 sends the first read at once.

The worker keeps each camera's passes in a Faust table (RocksDB, with a changelog
topic): a restarted worker neither re-sends a pass it sent nor loses one it held, and
each camera's state is bounded by the window. ``to_json``/``from_json`` are the table's
value format.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pipelines.matching.index import FUZZY_MIN_LENGTH
from pipelines.matching.plates import confusable_key, within_one_edit
from pipelines.records import PlateRead
from pipelines.settings import Settings
from schemas import Codec

STAGE = "dedup"
RECENT_READ_IDS = 64  # per camera: more than a worker re-reads after a crash
MAX_SCORED_FRAMES = 5  # beyond this, more fused frames say little more about a read


@dataclass(frozen=True)
class ScoreWeights:
    """How much each sign of a good read counts; each sign is scaled to 0-1."""

    confidence: float = 1.0
    fits_format: float = 0.5
    region: float = 0.25
    frames: float = 0.25


@dataclass(frozen=True)
class DedupPolicy:
    window: timedelta
    settle_seconds: float = 0.0
    weights: ScoreWeights = ScoreWeights()

    @classmethod
    def from_settings(cls, settings: Settings) -> DedupPolicy:
        return cls(
            window=timedelta(seconds=settings.dedup_window_seconds),
            settle_seconds=settings.dedup_settle_seconds,
            weights=ScoreWeights(
                confidence=settings.dedup_weight_confidence,
                fits_format=settings.dedup_weight_fits_format,
                region=settings.dedup_weight_region,
                frames=settings.dedup_weight_frames,
            ),
        )


def read_score(read: PlateRead, weights: ScoreWeights) -> float:
    """The weighted score that picks the read a pass sends."""
    fits_format = any(c.plate == read.plate and c.matches_template for c in read.candidates)
    frames = min(read.frame_count, MAX_SCORED_FRAMES) / MAX_SCORED_FRAMES
    return (
        weights.confidence * read.confidence / 100.0
        + weights.fits_format * fits_format
        + weights.region * (read.region_confidence / 100.0 if read.region else 0.0)
        + weights.frames * frames
    )


@dataclass
class VehiclePass:
    last_seen: float
    """Camera time of the pass's newest read (epoch seconds)."""
    opened: float
    """Worker time its first read arrived (epoch seconds): the settle clock."""
    reads: int = 1
    held: PlateRead | None = None
    """The best read so far, until the pass is sent."""
    held_score: float = 0.0


@dataclass
class CameraPasses:
    """One camera's recent passes by confusable-folded plate, and the partition of the
    camera's reads (where its table changelog goes)."""

    partition: int = 0
    passes: dict[str, VehiclePass] = field(default_factory=dict)
    recent_ids: list[str] = field(default_factory=list)
    """Ids of the camera's latest reads: a read delivered again (a worker restarted
    before committing its offset, a camera retried) is not counted twice."""

    def __len__(self) -> int:
        return len(self.passes)

    def next_due(self, settle_seconds: float) -> float | None:
        """Worker time the earliest held pass is due to be sent, if any is held."""
        due = [p.opened + settle_seconds for p in self.passes.values() if p.held is not None]
        return min(due, default=None)


@dataclass(frozen=True)
class Folded:
    duplicate: bool
    """The read joined a pass already open (whether or not it was sent yet)."""
    sent: list[PlateRead]
    """Passes due now: their best reads, to send on."""
    redelivered: bool = False
    """The read was seen before (same id) and changed nothing."""


def _same_vehicle(remembered: str, key: str) -> bool:
    if remembered == key:
        return True
    fuzzy = min(len(remembered), len(key)) >= FUZZY_MIN_LENGTH
    return fuzzy and within_one_edit(remembered, key)


def _sent(vehicle: VehiclePass) -> PlateRead:
    assert vehicle.held is not None
    read = dataclasses.replace(vehicle.held, duplicates=vehicle.reads - 1)
    vehicle.held = None
    return read


def fold_read(camera: CameraPasses, read: PlateRead, now: float, policy: DedupPolicy) -> Folded:
    """Adds ``read`` to its camera's passes (in place) at worker time ``now``; returns
    whether it repeats an open pass, and the reads of passes now due."""
    if read.read_id in camera.recent_ids:
        return Folded(True, settle(camera, now, policy), redelivered=True)
    camera.recent_ids = [*camera.recent_ids[1 - RECENT_READ_IDS :], read.read_id]
    window = policy.window.total_seconds()
    at = read.collected_at.timestamp()
    newest = max([at, *(p.last_seen for p in camera.passes.values())])
    sent = []
    # Passes the window has left behind are forgotten; one still held is sent first.
    for key, vehicle in list(camera.passes.items()):
        if vehicle.last_seen < newest - window:
            if vehicle.held is not None:
                sent.append(_sent(vehicle))
            del camera.passes[key]
    if at < newest - window:
        # Later than the window allows: every pass it could join is forgotten, so it
        # is a pass of its own, sent as it is.
        return Folded(False, [*sent, read, *settle(camera, now, policy)])
    key = confusable_key(read.plate)
    matched = next(
        (
            vehicle
            for remembered, vehicle in camera.passes.items()
            if _same_vehicle(remembered, key) and abs(at - vehicle.last_seen) <= window
        ),
        None,
    )
    score = read_score(read, policy.weights)
    if matched is None:
        vehicle = VehiclePass(last_seen=at, opened=now, held=read, held_score=score)
        camera.passes[key] = vehicle
    else:
        matched.reads += 1
        matched.last_seen = max(matched.last_seen, at)
        if matched.held is not None and score > matched.held_score:
            matched.held, matched.held_score = read, score
    return Folded(matched is not None, sent + settle(camera, now, policy))


def settle(camera: CameraPasses, now: float, policy: DedupPolicy) -> list[PlateRead]:
    """Sends (in place) every held pass whose settle time is up at worker time ``now``."""
    due = [
        vehicle
        for vehicle in camera.passes.values()
        if vehicle.held is not None and now - vehicle.opened >= policy.settle_seconds
    ]
    return [_sent(vehicle) for vehicle in due]


# --- the Faust table's value format ---------------------------------------------------


def to_json(camera: CameraPasses, codec: Codec) -> dict[str, Any]:
    def one(vehicle: VehiclePass) -> dict[str, Any]:
        held = vehicle.held
        return {
            "last_seen": vehicle.last_seen,
            "opened": vehicle.opened,
            "reads": vehicle.reads,
            "held": base64.b64encode(held.encode(codec)).decode() if held else None,
            "held_score": vehicle.held_score,
        }

    return {
        "partition": camera.partition,
        "passes": {key: one(v) for key, v in camera.passes.items()},
        "recent_ids": camera.recent_ids,
    }


def holds_a_pass(data: Mapping[str, Any]) -> bool:
    """Whether a camera's table value holds a pass not yet sent (without decoding it)."""
    passes = data.get("passes")
    return isinstance(passes, Mapping) and any(
        isinstance(p, Mapping) and p.get("held") for p in passes.values()
    )


def from_json(data: Mapping[str, Any], codec: Codec) -> CameraPasses:
    if "passes" not in data:
        # The first layout: folded plate -> last seen, every pass already sent.
        return CameraPasses(passes={str(k): VehiclePass(float(v), 0.0) for k, v in data.items()})

    def one(value: Mapping[str, Any]) -> VehiclePass:
        held = value.get("held")
        return VehiclePass(
            last_seen=float(value["last_seen"]),
            opened=float(value["opened"]),
            reads=int(value["reads"]),
            held=PlateRead.decode(codec, base64.b64decode(held)) if held else None,
            held_score=float(value.get("held_score", 0.0)),
        )

    return CameraPasses(
        partition=int(data["partition"]),
        passes={str(k): one(v) for k, v in data["passes"].items()},
        recent_ids=[str(i) for i in data.get("recent_ids", [])],
    )


class Deduplicator:
    """``fold_read`` over an in-memory map of cameras (for tests and tools; the worker
    keeps the cameras in a Faust table instead)."""

    def __init__(self, policy: DedupPolicy) -> None:
        self.policy = policy
        self.cameras: dict[str, CameraPasses] = {}

    def __len__(self) -> int:
        return sum(len(camera) for camera in self.cameras.values())

    def add(self, read: PlateRead, now: float) -> Folded:
        camera = self.cameras.setdefault(read.camera_id, CameraPasses())
        return fold_read(camera, read, now, self.policy)

    def settle(self, now: float) -> list[PlateRead]:
        return [r for c in self.cameras.values() for r in settle(c, now, self.policy)]

    def is_duplicate(self, read: PlateRead, now: float = 0.0) -> bool:
        return self.add(read, now).duplicate
