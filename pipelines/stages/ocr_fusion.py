"""OCR stage, second half: several frame reads of one vehicle become one ``PlateRead``.

Each frame a legacy camera sends is read on its own (``stages.ocr.frame_to_read``); the
reads of one camera are then grouped per vehicle and fused (``pipelines.ocr.fusion``):
the plate is the confidence-weighted vote, the candidates are merged, and the read keeps
the box, crop, time and place of the best frame that read the voted plate, with
``frame_count`` = frames fused. A group gives a read only when at least
``ocr_fusion_min_agreeing`` frames read the voted plate exactly (default 1, so a single
frame of a slow camera still counts).

A group lives in the OCR worker's memory only. It is emitted when a frame of another
vehicle arrives from its camera, when its camera stays quiet for
``ocr_fusion_window_seconds`` (a Faust timer), when the worker's partitions are revoked
or the worker stops cleanly. A worker that *crashes* loses its open groups: Faust has
already acknowledged their frames, so the frames whose offsets were committed are not
read again. That is at most the last vehicle per camera of the last few seconds; the
camera's next frames start a new group. Frames are otherwise delivered at least once, so
a restart can also read a vehicle twice; the dedup stage folds the repeat.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from pipelines.ocr.fusion import ClosedGroup, FrameRead, FusionPolicy, OnlineFusion
from pipelines.settings import Settings
from schemas.records import PlateCandidate, PlateCrop, PlateRead

STAGE = "ocr"  # the second half of the OCR stage: same name in metrics and logs


@dataclass(frozen=True)
class OcrRead:
    """One frame's read and the JPEG of its plate region (``image_ref`` names the crop)."""

    read: PlateRead
    crop_jpeg: bytes

    def crop(self) -> PlateCrop:
        read = self.read
        return PlateCrop(
            read.read_id,
            read.agency_ori,
            read.camera_id,
            read.collected_at,
            read.expires_at,
            self.crop_jpeg,
        )


@dataclass(frozen=True)
class FusionOutcome:
    """A closed group: its fused read, or None when too few frames agreed."""

    read: OcrRead | None
    frames: int
    agreeing: int


def fusion_policy(settings: Settings) -> FusionPolicy:
    return FusionPolicy(
        window_seconds=settings.ocr_fusion_window_seconds,
        min_agreeing=settings.ocr_fusion_min_agreeing,
    )


def frame_read(read: PlateRead) -> FrameRead:
    # PlateRead confidence is 0-100 (OpenALPR style); fusion weighs 0-1.
    return FrameRead(read.camera_id, read.collected_at, read.plate, read.confidence / 100.0)


def fused_outcome(group: ClosedGroup[OcrRead]) -> FusionOutcome:
    fused = group.fused
    if not group.counted:
        return FusionOutcome(None, fused.frames, fused.agreeing)
    agreeing = [r for r in group.payloads if r.read.plate == fused.plate]
    best = max(agreeing, key=lambda r: r.read.confidence)  # first of equals wins
    # The best frame's confidence, lowered by the share of the vote that went elsewhere.
    confidence = round(best.read.confidence * fused.confidence, 2)
    read = dataclasses.replace(
        best.read,
        confidence=confidence,
        candidates=merged_candidates(group.payloads, fused.plate, confidence),
        frame_count=fused.frames,
    )
    return FusionOutcome(OcrRead(read, best.crop_jpeg), fused.frames, fused.agreeing)


def merged_candidates(
    reads: Sequence[OcrRead], plate: str, confidence: float
) -> tuple[PlateCandidate, ...]:
    """The fused plate first, then the other plates the frames offered, ranked by their
    mean confidence over all frames (a frame that did not offer a plate gives it 0);
    as many as the frame that offered the most."""
    total: dict[str, float] = defaultdict(float)
    template: dict[str, bool] = defaultdict(bool)
    for ocr_read in reads:
        for candidate in ocr_read.read.candidates:
            total[candidate.plate] += candidate.confidence
            template[candidate.plate] |= candidate.matches_template
    top_n = max(1, *(len(r.read.candidates) for r in reads))
    others = sorted((p for p in total if p != plate), key=lambda p: (-total[p], p))[: top_n - 1]
    return (
        PlateCandidate(plate, confidence, template[plate]),
        *(PlateCandidate(p, round(total[p] / len(reads), 2), template[p]) for p in others),
    )


class VehicleFusion:
    """Open groups of frame reads per camera; every method returns the groups it closed.

    ``now`` is a monotonic clock in seconds (the caller's): the window for a quiet
    camera is measured in processing time, the same-vehicle gap in camera time.
    """

    def __init__(self, settings: Settings) -> None:
        self._groups: OnlineFusion[OcrRead] = OnlineFusion(fusion_policy(settings))
        self.reading: str | None = None
        """The camera whose frame is being read now: not closed for quietness."""

    def __len__(self) -> int:
        return len(self._groups)

    def add(self, read: OcrRead, now: float) -> list[FusionOutcome]:
        closed = self._groups.add(frame_read(read.read), read, now)
        return [fused_outcome(group) for group in closed]

    def expire(self, now: float) -> list[FusionOutcome]:
        return [fused_outcome(g) for g in self._groups.expire(now, keep=self.reading)]

    def drain(self) -> list[FusionOutcome]:
        return [fused_outcome(group) for group in self._groups.drain()]
