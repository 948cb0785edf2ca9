"""Multi-frame fusion of one vehicle's reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.ocr.fusion import (
    FrameRead,
    FusionPolicy,
    fuse_group,
    fuse_reads,
    group_reads,
    vote_plate,
)

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def read(plate: str, seconds: float, confidence: float = 0.9, camera: str = "cam-1") -> FrameRead:
    return FrameRead(camera, T0 + timedelta(seconds=seconds), plate, confidence)


def test_per_character_vote_fixes_one_frame_misreads() -> None:
    reads = [("BDJ0529", 0.7), ("5DJ0529", 0.9), ("5DJ0S29", 0.6), ("5DJ0529", 0.8)]
    assert vote_plate(reads) == "5DJ0529"


def test_length_with_most_confidence_wins() -> None:
    assert vote_plate([("SH0LR7X", 0.5), ("SH0R7X", 0.9), ("SH0R7X", 0.8)]) == "SH0R7X"


def test_confidence_weighs_the_vote() -> None:
    assert vote_plate([("ABC123", 0.95), ("ABC128", 0.2), ("ABC128", 0.2)]) == "ABC123"


def test_one_vehicle_within_the_window_is_one_read() -> None:
    reads = [read("KRT417", 0.0), read("KRT411", 0.5), read("KRT417", 1.0)]
    fused = fuse_reads(reads, FusionPolicy(window_seconds=2.0, min_agreeing=2))
    assert len(fused) == 1
    assert fused[0].plate == "KRT417"
    assert (fused[0].frames, fused[0].agreeing) == (3, 2)
    assert fused[0].first_seen == T0 and fused[0].last_seen == T0 + timedelta(seconds=1)
    assert 0.0 < fused[0].confidence <= 1.0


def test_too_few_agreeing_frames_do_not_count() -> None:
    reads = [read("KRT417", 0.0), read("KRT411", 0.5)]
    assert fuse_reads(reads, FusionPolicy(min_agreeing=2)) == []
    assert len(fuse_reads(reads, FusionPolicy(min_agreeing=1))) == 1


def test_gaps_cameras_and_different_plates_split_groups() -> None:
    reads = [
        read("KRT417", 0.0),
        read("KRT417", 10.0),  # past the window: the car came back
        read("KRT417", 0.2, camera="cam-2"),
        read("HDZ771", 0.3),  # another car in the same scene
    ]
    groups = group_reads(reads, FusionPolicy(window_seconds=2.0))
    assert sorted(len(group) for group in groups) == [1, 1, 1, 1]


def test_empty_group_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        fuse_group([])


plates = st.text(alphabet="ABCDEFGHJKLMNPRSTUVWXYZ0123456789", min_size=2, max_size=8)


@given(st.lists(st.tuples(plates, st.floats(min_value=0.0, max_value=1.0)), min_size=1))
def test_vote_has_a_voted_length_and_voted_characters(reads: list[tuple[str, float]]) -> None:
    plate = vote_plate(reads)
    assert any(len(p) == len(plate) for p, _ in reads)
    for position, character in enumerate(plate):
        assert any(len(p) == len(plate) and p[position] == character for p, _ in reads)


@given(plates, st.integers(min_value=1, max_value=6))
def test_identical_reads_fuse_to_themselves(plate: str, count: int) -> None:
    fused = fuse_reads([read(plate, i * 0.1) for i in range(count)], FusionPolicy(min_agreeing=1))
    assert [(f.plate, f.frames, f.agreeing, f.confidence) for f in fused] == [
        (plate, count, count, 1.0)
    ]
