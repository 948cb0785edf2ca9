"""Multi-frame fusion: several reads of one vehicle from one camera become one read.

A passing car is seen in several frames, each read a little differently ("BDJ0529",
"5DJ0529", "5DJ0529"). Reads of one camera are grouped while they follow each other
within ``window_seconds`` and are similar plates (same vehicle); each group gives one
fused read whose plate is the confidence-weighted vote over whole plates, refined by a
per-character vote among reads of the winning length. A group counts only once at least
``min_agreeing`` of its frames read the fused plate exactly.

``fuse_reads`` fuses a finished batch (evaluation, tools); ``OnlineFusion`` does the same
over a stream, one open group per camera, for the OCR worker.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from difflib import SequenceMatcher
from typing import Generic, TypeVar

P = TypeVar("P")

# Two plates this similar (difflib ratio) are taken for one vehicle's reads.
SAME_VEHICLE_SIMILARITY = 0.6


@dataclass(frozen=True)
class FrameRead:
    """One frame's read: what fusion needs of a ``PlateRead``."""

    camera_id: str
    seen_at: datetime
    plate: str
    confidence: float
    """0-1."""


@dataclass(frozen=True)
class FusedRead:
    camera_id: str
    plate: str
    confidence: float
    """Share of the group's confidence that voted for ``plate`` (0-1)."""
    first_seen: datetime
    last_seen: datetime
    frames: int
    agreeing: int
    """Frames that read ``plate`` exactly."""


@dataclass(frozen=True)
class FusionPolicy:
    window_seconds: float = 3.0
    min_agreeing: int = 2


def group_reads(reads: Iterable[FrameRead], policy: FusionPolicy) -> list[list[FrameRead]]:
    """Reads per vehicle: per camera, in time order, a read joins the open group whose
    last read is within the window and whose plates it resembles."""
    by_camera: dict[str, list[FrameRead]] = defaultdict(list)
    for read in reads:
        by_camera[read.camera_id].append(read)
    groups: list[list[FrameRead]] = []
    for camera_reads in by_camera.values():
        open_groups: list[list[FrameRead]] = []
        for read in sorted(camera_reads, key=lambda r: r.seen_at):
            group = next((g for g in open_groups if _belongs(g, read, policy)), None)
            if group is None:
                group = [read]
                open_groups.append(group)
                groups.append(group)
            else:
                group.append(read)
    return groups


def _belongs(group: list[FrameRead], read: FrameRead, policy: FusionPolicy) -> bool:
    gap = (read.seen_at - group[-1].seen_at).total_seconds()
    return 0 <= gap <= policy.window_seconds and any(
        similarity(member.plate, read.plate) >= SAME_VEHICLE_SIMILARITY for member in group
    )


def similarity(left: str, right: str) -> float:
    return SequenceMatcher(None, left, right).ratio()


def fuse_group(group: Sequence[FrameRead]) -> FusedRead:
    """The weighted best plate of one vehicle's reads (a non-empty group)."""
    if not group:
        raise ValueError("cannot fuse an empty group of reads")
    plate = vote_plate([(read.plate, read.confidence) for read in group])
    total = sum(max(0.0, read.confidence) for read in group) or 1.0
    agreeing = [read for read in group if read.plate == plate]
    return FusedRead(
        camera_id=group[0].camera_id,
        plate=plate,
        confidence=round(sum(max(0.0, r.confidence) for r in agreeing) / total, 4),
        first_seen=min(read.seen_at for read in group),
        last_seen=max(read.seen_at for read in group),
        frames=len(group),
        agreeing=len(agreeing),
    )


def vote_plate(reads: Sequence[tuple[str, float]]) -> str:
    """Weighted vote: first the length with the most confidence behind it, then each
    position's character by summed confidence among reads of that length. Ties go to the
    first read, so the result is deterministic."""
    length_weight: dict[int, float] = defaultdict(float)
    for plate, confidence in reads:
        length_weight[len(plate)] += max(0.0, confidence)
    length = max(length_weight, key=lambda n: (length_weight[n], -_first(reads, n)))
    same_length = [(plate, max(0.0, c)) for plate, c in reads if len(plate) == length]
    characters = []
    for position in range(length):
        weight: dict[str, float] = defaultdict(float)
        for plate, confidence in same_length:
            weight[plate[position]] += confidence
        characters.append(
            max(weight, key=lambda c: (weight[c], -_first_at(same_length, position, c)))
        )
    return "".join(characters)


def _first(reads: Sequence[tuple[str, float]], length: int) -> int:
    return next(i for i, (plate, _) in enumerate(reads) if len(plate) == length)


def _first_at(reads: Sequence[tuple[str, float]], position: int, character: str) -> int:
    return next(i for i, (plate, _) in enumerate(reads) if plate[position] == character)


def fuse_reads(reads: Iterable[FrameRead], policy: FusionPolicy | None = None) -> list[FusedRead]:
    """One fused read per vehicle that enough frames agree on, in time order."""
    chosen = policy or FusionPolicy()
    fused = [fuse_group(group) for group in group_reads(reads, chosen)]
    counted = [read for read in fused if read.agreeing >= chosen.min_agreeing]
    return sorted(counted, key=lambda read: (read.first_seen, read.camera_id))


# A car parked in view would keep its group open for ever; past this many frames the
# group is closed and the next frame starts a new one (dedup folds the repeat read).
MAX_GROUP_FRAMES = 50


@dataclass(frozen=True)
class ClosedGroup(Generic[P]):
    """One vehicle's frames, fused; ``payloads`` are what came with each read."""

    fused: FusedRead
    reads: tuple[FrameRead, ...]
    payloads: tuple[P, ...]
    counted: bool
    """At least ``min_agreeing`` frames read the fused plate exactly."""


@dataclass
class _OpenGroup(Generic[P]):
    reads: list[FrameRead]
    payloads: list[P]
    last_arrival: float


class OnlineFusion(Generic[P]):
    """``fuse_reads`` for a stream: at most one open group per camera.

    A camera's group closes when a read of a different vehicle arrives (a plate not
    similar to the group's, or seen more than ``window_seconds`` apart in camera time),
    when no read has arrived for ``window_seconds`` (``expire``, on the caller's clock),
    or when it holds ``max_frames`` reads. Plain and synchronous: the caller owns time.
    """

    def __init__(self, policy: FusionPolicy, max_frames: int = MAX_GROUP_FRAMES) -> None:
        if policy.min_agreeing < 1 or policy.window_seconds <= 0:
            raise ValueError(f"fusion needs min_agreeing >= 1 and a positive window: {policy}")
        self.policy = policy
        self.max_frames = max_frames
        self._open: dict[str, _OpenGroup[P]] = {}

    def __len__(self) -> int:
        """Open groups."""
        return len(self._open)

    def frames_held(self) -> int:
        return sum(len(group.reads) for group in self._open.values())

    def add(self, read: FrameRead, payload: P, arrival: float) -> list[ClosedGroup[P]]:
        """Adds one frame's read; returns the group it closed, if any."""
        closed: list[ClosedGroup[P]] = []
        group = self._open.get(read.camera_id)
        if group is not None and not self._same_vehicle(group, read):
            closed.append(self._close(read.camera_id))
            group = None
        if group is None:
            self._open[read.camera_id] = _OpenGroup([read], [payload], arrival)
        else:
            group.reads.append(read)
            group.payloads.append(payload)
            group.last_arrival = arrival
            if len(group.reads) >= self.max_frames:
                closed.append(self._close(read.camera_id))
        return closed

    def expire(self, now: float, *, keep: str | None = None) -> list[ClosedGroup[P]]:
        """Closes the groups that got no read for ``window_seconds`` before ``now``,
        except camera ``keep`` (one whose next frame is being read)."""
        quiet = [
            camera
            for camera, group in self._open.items()
            if camera != keep and now - group.last_arrival > self.policy.window_seconds
        ]
        return [self._close(camera) for camera in quiet]

    def drain(self) -> list[ClosedGroup[P]]:
        """Closes every open group (shutdown, partitions revoked)."""
        return [self._close(camera) for camera in list(self._open)]

    def _same_vehicle(self, group: _OpenGroup[P], read: FrameRead) -> bool:
        gap = abs((read.seen_at - group.reads[-1].seen_at).total_seconds())
        return gap <= self.policy.window_seconds and any(
            similarity(member.plate, read.plate) >= SAME_VEHICLE_SIMILARITY
            for member in group.reads
        )

    def _close(self, camera_id: str) -> ClosedGroup[P]:
        group = self._open.pop(camera_id)
        fused = fuse_group(group.reads)
        return ClosedGroup(
            fused=fused,
            reads=tuple(group.reads),
            payloads=tuple(group.payloads),
            counted=fused.agreeing >= self.policy.min_agreeing,
        )
