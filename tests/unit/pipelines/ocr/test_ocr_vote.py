"""Readings of one line from several crops and recognisers, merged per character."""

from __future__ import annotations

import pytest

from pipelines.ocr.ctc import Segment, best_strings
from pipelines.ocr.vote import LineReading, merge, placed


def test_placed_maps_time_steps_onto_the_line() -> None:
    segments = [Segment((("A", 0.9),), 0.9, 0, 2), Segment((("B", 0.9),), 0.9, 8, 10)]
    line = placed(segments, steps=10, span=(-0.1, 1.1))
    assert line.centers == pytest.approx((-0.1 + 0.12, -0.1 + 1.08))


def test_a_character_only_a_wider_crop_sees_keeps_its_probability() -> None:
    # The detector's box cut the first "P" (its middle lies just outside the box); the
    # crop grown by 10% on each side sees it, the two crops as detected cannot.
    centers = tuple(-0.02 + i * 0.15 for i in range(7))
    cut = LineReading(tuple(Segment(((c, 0.95),), 0.95) for c in "JT2905"), centers[1:], (0.0, 1.0))
    wide = LineReading(tuple(Segment(((c, 0.95),), 0.95) for c in "PJT2905"), centers, (-0.1, 1.1))
    strings = dict(best_strings(merge([cut, cut, wide]), 3))
    assert max(strings, key=lambda text: strings[text]) == "PJT2905"


def test_readings_vote_per_character_by_weight() -> None:
    first = LineReading(
        tuple(Segment(((c, 0.9),), 0.9) for c in "8DJ"), (0.2, 0.5, 0.8), (0.0, 1.0), 0.7
    )
    second = LineReading(
        tuple(Segment(((c, 0.9),), 0.9) for c in "BDJ"), (0.21, 0.5, 0.79), (0.0, 1.0), 0.3
    )
    merged = merge([first, second])
    assert len(merged) == 3
    assert dict(merged[0].alternatives) == {"8": 0.9 * 0.7, "B": 0.9 * 0.3}
    assert best_strings(merged, 1)[0][0] == "8DJ"


def test_a_character_one_reading_adds_inside_the_others_view_is_made_unlikely() -> None:
    plain = LineReading(tuple(Segment(((c, 0.9),), 0.9) for c in "AB"), (0.3, 0.7), (0.0, 1.0), 0.5)
    extra = LineReading(
        tuple(Segment(((c, 0.9),), 0.9) for c in "AXB"), (0.3, 0.5, 0.7), (0.0, 1.0), 0.5
    )
    merged = merge([plain, extra])
    assert [segment.present for segment in merged] == [0.9, 0.45, 0.9]


def test_one_reading_is_returned_as_it_is() -> None:
    only = LineReading((Segment((("A", 0.9),), 0.9),), (0.5,), (0.0, 1.0))
    assert merge([only]) == list(only.segments)
    assert merge([]) == []
