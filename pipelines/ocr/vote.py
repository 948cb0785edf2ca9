"""Several readings of one plate line, merged character by character where they overlap.

A line is read from a few crops (as detected, wider, tighter) and by more than one
recogniser. Each reading is a sequence of CTC segments (``ctc.Segment``) whose positions
along the line are known: a segment's time steps map linearly onto its crop, and each
crop's extent along the line is known. Segments of different readings at one position
are one character: their alternatives are averaged, weighted by each reading's weight,
over the readings whose crop covers that position. A reading whose crop does not reach
a position says nothing about it, so a character that only the wider crops see (the
detector's box cut it) keeps the probability those crops give it instead of being
outvoted by crops that could not see it.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from pipelines.ocr.ctc import ALTERNATIVES_PER_SEGMENT, MIN_ALTERNATIVE, Segment

# Segments of two readings closer than this share of the character pitch are one
# character: CTC peaks of one character land within about a fifth of a pitch of each
# other across crops and models, neighbours a whole pitch apart.
SAME_CHARACTER = 0.5
# A crop speaks for positions at least this share of a pitch inside its ends: a
# character its edge cuts through is read badly or not at all.
EDGE_MARGIN = 0.3
# Pitch (in line widths) assumed when no reading has two characters.
_DEFAULT_PITCH = 1.0 / 7.0


@dataclass(frozen=True)
class LineReading:
    """One recogniser's reading of one crop of a line.

    Positions are in line widths along the line as first detected: 0 is its left end,
    1 its right end; a crop grown by 10% on each side spans (-0.1, 1.1).
    """

    segments: tuple[Segment, ...]
    centers: tuple[float, ...]
    """Where along the line each segment is."""
    span: tuple[float, float]
    """The part of the line the crop covered."""
    weight: float = 1.0


def placed(
    segments: Sequence[Segment], steps: int, span: tuple[float, float], weight: float = 1.0
) -> LineReading:
    """A reading of a crop spanning ``span`` of its line, read over ``steps`` time steps."""
    low, high = span
    scale = (high - low) / max(1, steps)
    centers = tuple(low + (segment.start + segment.stop) / 2 * scale for segment in segments)
    return LineReading(tuple(segments), centers, span, weight)


def merge(readings: Sequence[LineReading]) -> list[Segment]:
    """One sequence of segments from several readings of a line, left to right."""
    readings = [reading for reading in readings if reading.weight > 0]
    if not readings:
        return []
    if len(readings) == 1:
        return list(readings[0].segments)
    pitch = _pitch(readings)
    pooled = sorted(
        (center, index, segment)
        for index, reading in enumerate(readings)
        for center, segment in zip(reading.centers, reading.segments, strict=True)
    )
    clusters: list[list[tuple[float, int, Segment]]] = []
    for item in pooled:
        current = clusters[-1] if clusters else None
        if (
            current is not None
            and item[0] - _center(current) <= SAME_CHARACTER * pitch
            and all(index != item[1] for _, index, _ in current)
        ):
            current.append(item)
        else:
            clusters.append([item])
    merged = [_merged(cluster, readings, pitch) for cluster in clusters]
    return [segment for segment in merged if segment is not None]


def _pitch(readings: Sequence[LineReading]) -> float:
    gaps = [
        right - left
        for reading in readings
        for left, right in zip(reading.centers, reading.centers[1:], strict=False)
        if right > left
    ]
    return statistics.median(gaps) if gaps else _DEFAULT_PITCH


def _center(cluster: list[tuple[float, int, Segment]]) -> float:
    return sum(center for center, _, _ in cluster) / len(cluster)


def _merged(
    cluster: list[tuple[float, int, Segment]], readings: Sequence[LineReading], pitch: float
) -> Segment | None:
    center = _center(cluster)
    margin = EDGE_MARGIN * pitch
    voting = {index for _, index, _ in cluster} | {
        index
        for index, reading in enumerate(readings)
        if reading.span[0] + margin <= center <= reading.span[1] - margin
    }
    total = sum(readings[index].weight for index in voting)
    if total <= 0:
        return None
    characters: dict[str, float] = {}
    present = 0.0
    for _, index, segment in cluster:
        share = readings[index].weight / total
        present += segment.present * share
        for character, probability in segment.alternatives:
            characters[character] = characters.get(character, 0.0) + probability * share
    ranked = sorted(characters.items(), key=lambda item: -item[1])[:ALTERNATIVES_PER_SEGMENT]
    alternatives = tuple(item for item in ranked if item[1] >= MIN_ALTERNATIVE)
    first = min(segment.start for _, _, segment in cluster)
    last = max(segment.stop for _, _, segment in cluster)
    return Segment(alternatives, min(1.0, present), first, last)
